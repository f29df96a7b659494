import ArgumentParser
import PMemStream

#if os(Linux)
    import Glibc
#endif

/// `pmemstream append`: appends entries from arguments, files or standard input.
struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append entries to a region.",
        discussion:
            "Each TEXT argument is one entry; with --file, each file is one entry; with neither, each line of standard input is one entry."
    )

    @OptionGroup var stream: StreamOptions

    @Option(help: "The region's offset (default: the first region).")
    var region: Int?

    @Flag(help: "Append asynchronously (group commit), then wait once for all to be persisted.")
    var async = false

    @Option(name: .customLong("file"), help: "A file whose contents become one entry; repeatable.")
    var files: [String] = []

    @Argument(help: "Entries to append, one per argument.")
    var texts: [String] = []

    func run() async throws {
        try await reportingErrors {
            let stream = try await self.stream.open()
            let region = try await self.targetRegion(of: stream)
            let writer = try await stream.writer(for: region)
            var timestamps: [UInt64] = []
            for entry in try self.entries() {
                if self.async {
                    timestamps.append(try await writer.appendAsync(entry).timestamp)
                } else {
                    timestamps.append(try await writer.append(entry).timestamp)
                }
            }
            if let last = timestamps.last {
                try await stream.waitPersisted(last)
                print(
                    "appended \(timestamps.count) entries to region \(region.offset), timestamps \(timestamps.first!)…\(last); persisted up to \(stream.persistedTimestamp)"
                )
            } else {
                print("nothing to append")
            }
            try await stream.close()
        }
    }

    private func targetRegion(of stream: PMemStream) async throws(PMemStreamError) -> Region {
        if let offset = self.region {
            return try await stream.region(atOffset: offset)
        }
        for try await region in stream.regions {
            return region
        }
        throw PMemStreamError(
            code: .notARegion,
            message: "the stream has no region; allocate one with `pmemstream region allocate`"
        )
    }

    private func entries() throws -> [[UInt8]] {
        if !self.files.isEmpty {
            return try self.files.map(Self.contents(of:))
        }
        if !self.texts.isEmpty {
            return self.texts.map { Array($0.utf8) }
        }
        var lines: [[UInt8]] = []
        while let line = readLine(strippingNewline: true) {
            lines.append(Array(line.utf8))
        }
        return lines
    }

    private static func contents(of path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw PMemStreamError(errno: errno, path: path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }
}

extension PMemStreamError {
    /// The error for a file the CLI could not read.
    init(errno: Int32, path: String) {
        self.init(
            code: .cannotOpenFile,
            message: "cannot read \(path): \(String(cString: strerror(errno)))",
            errno: errno
        )
    }
}
