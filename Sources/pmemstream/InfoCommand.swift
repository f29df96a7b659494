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
            try await self.stream.withStream(.readOnly) { stream in
                print(try await StreamReport.info(of: stream, path: self.stream.path))
            }
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
            "persisting  a writer's workers (automatic placement): \(Self.writerPlacement(of: stream))",
            "watermarks  committed \(stream.committedTimestamp), persisted \(stream.persistedTimestamp)",
        ]
        let rows = try await Self.eachRegion(of: stream) { region throws(PMemStreamError) in
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
            return "  " + pad(region.offset, 12) + pad(region.size, 12) + pad(used, 12) + pad(entries, 9) + "  \(range)"
        }
        lines.append("regions     \(rows.count), \(await stream.freeSize) bytes free")
        if !rows.isEmpty {
            lines.append(
                "  " + pad("offset", 12) + pad("size", 12) + pad("used", 12) + pad("entries", 9) + "  timestamps"
            )
            lines += rows
        }
        return lines.joined(separator: "\n")
    }

    /// Where the persist workers of a stream opened for writing with the default configuration would run,
    /// and why: `info` opens streams read-only, which run none.
    static func writerPlacement(of stream: PMemStream) -> ResolvedPlacement {
        PersistPlacement.automatic.resolve(mediumNode: stream.numaNode, topology: .system)
    }

    /// What `read` makes of each region of `stream`, in allocation order. A region that the process
    /// writing the stream frees while it is read (``PMemStreamError/Code/regionFreed``) is left out, as if it
    /// had been freed before: its entries are no longer part of the stream.
    static func eachRegion<Result>(
        of stream: PMemStream,
        _ read: (Region) async throws(PMemStreamError) -> Result
    ) async throws(PMemStreamError) -> [Result] {
        var results: [Result] = []
        for try await region in stream.regions {
            do throws(PMemStreamError) {
                results.append(try await read(region))
            } catch let error where error.code == .regionFreed {
                continue
            }
        }
        return results
    }

    private static func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
        let text = value.description
        return text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
