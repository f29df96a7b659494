import Testing

extension Spawned {
    /// Runs the one test `filter` names in a child process of the test executable, with `environment`
    /// (`NAME=value` entries) added, and expects it to run and pass.
    static func expectTestPassesInChild(
        _ filter: String,
        environment: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let child = Spawned(
            Spawned.testExecutable,
            ["--testing-library", "swift-testing", "--filter", filter],
            environment: environment
        )
        await child.write("")
        let run = await child.finish()
        let report = run.output + run.errors
        #expect(run.status == 0, "\(report.suffix(2000))", sourceLocation: sourceLocation)
        #expect(
            report.contains("Test run with 1 test"),
            "the child ran no test: \(report.suffix(2000))",
            sourceLocation: sourceLocation
        )
    }
}
