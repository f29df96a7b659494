#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The session as JSON, for scripts: the machine, the plan, every result with its medians and ratios, and
/// the goal verdicts.
struct JSONReport: Encodable {
    /// One engine in one cell: the measurement and what follows from it.
    struct Row: Encodable {
        let measurement: CellResult
        let nanosecondsPerOperation: Double
        let operationsPerSecond: Double
        let megabytesPerSecond: Double
        /// Time ratios to the peers, by the peer's engine name.
        let timeRatios: [String: Double]
    }

    /// The plan's parameters.
    struct Parameters: Encodable {
        let iterations: Int
        let count: Int
        let maxFileSize: Int
        let batchSize: Int
        let recoveredRegions: Bool
        let path: String
    }

    let machine: MachineDescription
    let parameters: Parameters
    let results: [Row]
    let goals: [GoalVerdict]

    /// The report of a session.
    init(machine: MachineDescription, plan: Plan, index: ResultIndex) {
        self.machine = machine
        self.parameters = Parameters(
            iterations: plan.iterations,
            count: plan.count,
            maxFileSize: plan.maxFileSize,
            batchSize: plan.batchSize,
            recoveredRegions: plan.recoveredRegions,
            path: plan.path
        )
        self.results = index.results.map { result in
            Row(
                measurement: result,
                nanosecondsPerOperation: result.nanosecondsPerOperation,
                operationsPerSecond: result.operationsPerSecond,
                megabytesPerSecond: result.megabytesPerSecond,
                timeRatios: index.ratios(of: result)
            )
        }
        self.goals = GoalCheck.evaluate(index)
    }

    /// The report as pretty-printed JSON text.
    func render() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}
