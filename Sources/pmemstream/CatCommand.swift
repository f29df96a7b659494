import ArgumentParser
import PMemStream

/// `pmemstream cat` (also `dump`): prints entries, of one region or of all in timestamp order.
struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Print entries: one region's, or all regions' merged in timestamp order.",
        aliases: ["dump"]
    )

    /// How entries are printed.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, hex, json
    }

    @OptionGroup var stream: StreamOptions

    @Option(parsing: .unconditional, help: "Only this region's entries (its offset).")
    var region: Int?

    @Option(help: "Only entries with a greater timestamp.")
    var since: UInt64 = 0

    @Option(help: "text, hex, or json (one object per line).")
    var format: Format = .text

    @Flag(
        help: """
            Then wait for new entries and print them as they come, like tail -f, until interrupted or, with \
            --region, until the region is freed. Works while another process appends.
            """
    )
    var follow = false

    func run() async throws {
        try await reportingErrors {
            try await self.stream.withStream(.readOnly) { stream in
                if let offset = self.region {
                    let region = try await stream.region(atOffset: offset)
                    for try await entry in stream.entries(in: region, follow: self.follow)
                    where entry.timestamp > self.since {
                        try self.print(try self.render(entry))
                    }
                } else {
                    for try await entry in stream.entries(since: self.since, follow: self.follow) {
                        try self.print(try self.render(entry))
                    }
                }
            }
        }
    }

    /// Prints a line and writes it out at once, so that a follower's reader sees each entry as it comes.
    private func print(_ line: String) throws(PMemStreamError) {
        Swift.print(line)
        try flushStandardOutput()
    }

    private func render(_ entry: Entry) throws(PMemStreamError) -> String {
        let bytes = try entry.bytes
        switch self.format {
        case .text:
            return
                "#\(entry.timestamp) region \(entry.region.offset) +\(entry.offset - entry.region.offset) (\(entry.size) B): "
                + String(decoding: bytes, as: UTF8.self)
        case .hex:
            return "#\(entry.timestamp) region \(entry.region.offset) (\(entry.size) B): " + Self.hex(bytes)
        case .json:
            return "{\"timestamp\":\(entry.timestamp),\"region\":\(entry.region.offset),\"offset\":\(entry.offset),"
                + "\"size\":\(entry.size),\"hex\":\"\(Self.hex(bytes))\"}"
        }
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
