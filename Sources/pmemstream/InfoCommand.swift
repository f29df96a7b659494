import ArgumentParser
import PMemStream

/// `pmemstream info`: the header, the medium, the watermarks and the regions of a stream.
struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a stream's format, medium, watermarks and regions."
    )

    @OptionGroup var stream: StreamOptions

    func run() async throws {
        try await reportingErrors {
            let stream = try await self.stream.openForReading()
            print(try await StreamReport.info(of: stream, path: self.stream.path))
            try await stream.close()
        }
    }
}

/// Text reports shared by `info`, `check` and `demo`.
enum StreamReport {
    /// What `pmemstream info` prints.
    static func info(of stream: PMemStream, path: String) async throws(PMemStreamError) -> String {
        var lines = [
            "stream      \(path)",
            "format      version \(PMemStream.formatVersion), block size \(stream.blockSize), size \(stream.size) bytes",
            "access      \(stream.configuration.access)",
            "medium      store granularity: \(stream.granularity), NUMA node: \(stream.numaNode.map(String.init) ?? "unknown")",
            "persisting  \(stream.persistPlacement)",
            "watermarks  committed \(stream.committedTimestamp), persisted \(stream.persistedTimestamp)",
        ]
        var rows: [String] = []
        var count = 0
        for try await region in stream.regions {
            count += 1
            var entries = 0
            var used = 0
            var first: UInt64?
            var last: UInt64 = 0
            for try await entry in stream.entries(in: region) {
                entries += 1
                used += (24 + entry.size + 7) & ~7
                first = first ?? entry.timestamp
                last = entry.timestamp
            }
            let range = first.map { "\($0)…\(last)" } ?? "-"
            rows.append(
                "  " + pad(region.offset, 12) + pad(region.size, 12) + pad(used, 12) + pad(entries, 9) + "  \(range)"
            )
        }
        lines.append("regions     \(count), \(await stream.freeSize) bytes free")
        if !rows.isEmpty {
            lines.append(
                "  " + pad("offset", 12) + pad("size", 12) + pad("used", 12) + pad("entries", 9) + "  timestamps"
            )
            lines += rows
        }
        return lines.joined(separator: "\n")
    }

    private static func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
        let text = value.description
        return text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
