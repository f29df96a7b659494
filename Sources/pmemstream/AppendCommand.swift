import ArgumentParser
import PMemStream

/// `pmemstream append`: appends entries from arguments, files or standard input.
struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append entries to a region.",
        discussion:
            "Each TEXT argument is one entry; with --file, each file is one entry, and all are read before the first is appended; with neither, each line of standard input is one entry (its bytes, without the newline), appended as it is read."
    )

    @OptionGroup var stream: StreamOptions

    @Option(parsing: .unconditional, help: "The region's offset (default: the first region).")
    var region: Int?

    @Flag(help: "Append asynchronously (group commit), then wait once for all to be persisted.")
    var async = false

    @Option(name: .customLong("file"), help: "A file whose contents become one entry; repeatable.")
    var files: [String] = []

    @Argument(help: "Entries to append, one per argument.")
    var texts: [String] = []

    @Flag(help: "Show the count of entries appended on standard error as it grows (the default on a terminal).")
    var progress = false

    func run() async throws {
        try await reportingErrors {
            try await self.stream.withStream(.readWrite) { stream in
                let region = try await self.targetRegion(of: stream)
                let writer = try await stream.writer(for: region)
                var progress = ProgressReport(verb: "appended", forced: self.progress)
                var first: UInt64?
                var last: UInt64?
                var count = 0
                try await self.forEachEntry(limit: await writer.availableSize) { entry in
                    let timestamp =
                        self.async
                        ? try await writer.appendAsync(entry).timestamp : try await writer.append(entry).timestamp
                    first = first ?? timestamp
                    last = timestamp
                    count += 1
                    progress.advance()
                }
                progress.finish()
                if let first, let last {
                    try await stream.waitPersisted(last)
                    let what = count == 1 ? "1 entry" : "\(count) entries"
                    let timestamps = count == 1 ? "timestamp \(last)" : "timestamps \(first)…\(last)"
                    print(
                        "appended \(what) to region \(region.offset), \(timestamps); persisted up to \(stream.persistedTimestamp)"
                    )
                } else {
                    print("nothing to append")
                }
            }
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

    /// Calls `body` with each entry in turn: the files, all read before the first is appended, or the
    /// arguments, or each line of standard input as soon as it is read. A file or line of more than `limit`
    /// bytes fails with ``PMemStreamError/Code/entryTooLarge`` once that much is read.
    private func forEachEntry(limit: Int, _ body: ([UInt8]) async throws -> Void) async throws {
        if !self.files.isEmpty {
            let contents = try self.files.map { path throws(PMemStreamError) in
                try EntryInput.contents(of: path, limit: limit)
            }
            for entry in contents {
                try await body(entry)
            }
        } else if !self.texts.isEmpty {
            for text in self.texts {
                try await body(Array(text.utf8))
            }
        } else {
            try await EntryInput(descriptor: 0, name: "standard input", limit: limit).forEachLine(body)
        }
    }
}
