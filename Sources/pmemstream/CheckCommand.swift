import ArgumentParser
import PMemStream

/// `pmemstream check`: verifies the structure and every entry's checksum.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify the header, the region structure and every entry's checksum.",
        discussion:
            "Exits with status 0 when the stream is sound, 1 when it is damaged, cannot be opened, or fails otherwise."
    )

    @OptionGroup var stream: StreamOptions

    @Flag(help: "Show the count of entries checked on standard error as it grows (the default on a terminal).")
    var progress = false

    func run() async throws {
        try await reportingErrors {
            var opened = false
            let report: StreamReport.Check
            do {
                report = try await self.stream.withStream(.readOnly) { stream in
                    opened = true
                    var progress = ProgressReport(verb: "checked", forced: self.progress)
                    let report = try await StreamReport.check(stream) { progress.advance() }
                    progress.finish()
                    return report
                }
            } catch let error as PMemStreamError where !opened {
                printError("pmemstream: \(self.stream.path) cannot be opened: \(error.code): \(error.message)")
                throw ExitCode.failure
            }
            print(report.description)
            if !report.damage.isEmpty {
                throw ExitCode.failure
            }
        }
    }
}

extension StreamReport {
    /// The outcome of a check.
    struct Check: CustomStringConvertible {
        var regions = 0
        var entries = 0
        var damage: [String] = []

        var description: String {
            let summary = "\(self.regions) regions, \(self.entries) entries with valid checksums"
            guard !self.damage.isEmpty else { return "ok: \(summary)" }
            return (["DAMAGED: \(summary); \(self.damage.count) problem(s):"] + self.damage.map { "  \($0)" })
                .joined(separator: "\n")
        }
    }

    /// Reads every entry of every region, verifying each checksum; damage is collected, not thrown.
    /// `checked` is called after each entry.
    static func check(_ stream: PMemStream, checked: () -> Void = {}) async throws(PMemStreamError) -> Check {
        var report = Check()
        let regions = try await Self.eachRegion(of: stream) { region throws(PMemStreamError) in
            var entries = 0
            do throws(PMemStreamError) {
                for try await _ in stream.entries(in: region) {
                    entries += 1
                    checked()
                }
                return (entries, nil as String?)
            } catch {
                guard error.code == .corruptedEntry else { throw error }
                return (entries, "region \(region.offset): \(error.message)")
            }
        }
        report.regions = regions.count
        report.entries = regions.reduce(0) { $0 + $1.0 }
        report.damage = regions.compactMap(\.1)
        return report
    }
}
