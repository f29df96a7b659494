import ArgumentParser
import PMemStream

#if os(Linux)
    import Glibc
#endif

/// `pmemstream demo`: a short tour on a temporary stream.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A short tour: create, allocate, append from several tasks, restart, read back, info, check."
    )

    @Option(help: "Where to put the temporary stream (default: /dev/shm when it is writable, else /tmp).")
    var directory: String?

    func run() async throws {
        let directory = self.directory ?? (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")
        let path = "\(directory)/pmemstream-demo-\(getpid()).pmem"
        defer { unlink(path) }
        try await reportingErrors { try await Self.tour(path: path) }
    }

    /// The tour, step by step, on the stream at `path`. Each stream is closed however its step ends.
    @concurrent
    static func tour(path: String) async throws {
        print("1. create a 16 MiB stream at \(path)")
        try await withPMemStream(path: path, size: 16 << 20) { stream in
            print("   granularity: \(stream.granularity); persist workers: \(stream.persistPlacement)")
            try await Self.appendFromSixTasks(to: stream)
        }

        print("4. restart: reopen the file, as a new process would, and read back in timestamp order")
        try await withPMemStream(path: path) { reopened in
            var count = 0
            var previous: UInt64 = 0
            for try await entry in reopened.entries(since: 0) {
                precondition(entry.timestamp == previous + 1)
                previous = entry.timestamp
                count += 1
                if count <= 3 {
                    print(
                        "   #\(entry.timestamp) region \(entry.region.offset): \(String(decoding: try entry.bytes, as: UTF8.self))"
                    )
                }
            }
            print("   … \(count) entries, timestamps 1…\(previous), none missing, all checksums valid")

            print("5. pmemstream info")
            print(
                try await StreamReport.info(of: reopened, path: path).split(separator: "\n").map { "   " + $0 }
                    .joined(separator: "\n")
            )
            print("6. pmemstream check")
            print("   " + (try await StreamReport.check(reopened)).description)
        }
    }

    /// Steps 2 and 3: three regions, and six tasks appending to them at once.
    private static func appendFromSixTasks(to stream: PMemStream) async throws {
        print("2. allocate three regions of different sizes")
        var regions: [Region] = []
        for size in [64 << 10, 128 << 10, 256 << 10] {
            regions.append(try await stream.allocateRegion(size: size - 64))
        }
        print("   " + regions.map { "\($0.size) bytes at offset \($0.offset)" }.joined(separator: ", "))

        print("3. six tasks append at once: sync appends, and async appends with group commit")
        let allRegions = regions
        let last = try await withThrowingTaskGroup(of: UInt64.self, returning: UInt64.self) { group in
            for task in 0..<6 {
                group.addTask {
                    let writer = try await stream.writer(for: allRegions[task % allRegions.count])
                    var last: UInt64 = 0
                    for index in 0..<20 {
                        let bytes = Array("task \(task) entry \(index)".utf8)
                        last =
                            task % 2 == 0
                            ? try await writer.append(bytes).timestamp
                            : try await writer.appendAsync(bytes).timestamp
                    }
                    return last
                }
            }
            return try await group.reduce(0) { max($0, $1) }
        }
        try await stream.waitPersisted(last)
        print("   120 entries; committed \(stream.committedTimestamp), persisted \(stream.persistedTimestamp)")
    }
}
