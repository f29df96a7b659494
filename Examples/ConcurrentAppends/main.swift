// Appends from several tasks into several regions at once, "restarts" by reopening the file, and reads
// every entry back with `for try await`, merged in global timestamp order.
//
// Usage: pmemstream-example-appends [FILE]   (default: a new file under /tmp, removed afterwards)

import PMemStream

#if os(Linux)
    import Glibc
#endif

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "/tmp/pmemstream-example-\(getpid()).pmem"
let removeAfterwards = CommandLine.arguments.count == 1
let tasks = 8
let appendsPerTask = 25

do {
    // Create a 16 MiB stream with four regions of different sizes.
    let stream = try await PMemStream.open(path: path, size: 16 << 20, configuration: .init(blockSize: 4096))
    print("stream: \(path), \(stream.size >> 20) MiB, store granularity: \(stream.granularity)")
    var regions: [Region] = []
    for size in [64 << 10, 128 << 10, 256 << 10, 512 << 10].map({ $0 - 64 }) {
        regions.append(try await stream.allocateRegion(size: size))
    }
    print("regions: " + regions.map { "\($0.size >> 10) KiB at \($0.offset)" }.joined(separator: ", "))

    // Eight tasks append at once; two tasks share each region, and the region's writer orders them.
    let allRegions = regions
    try await withThrowingTaskGroup { group in
        for task in 0..<tasks {
            group.addTask {
                let writer = try await stream.writer(for: allRegions[task % allRegions.count])
                for index in 0..<appendsPerTask {
                    _ = try await writer.append(Array("task \(task) says \(index)".utf8))
                }
            }
        }
        try await group.waitForAll()
    }
    print("appended \(tasks * appendsPerTask) entries; persisted up to timestamp \(stream.persistedTimestamp)")
    try await stream.close()

    // Reopen, as a new process would after a restart, and read everything back in timestamp order.
    let reopened = try await PMemStream.open(path: path, configuration: .init(blockSize: 4096))
    var count = 0
    var previous: UInt64 = 0
    for try await entry in reopened.entries(since: 0) {
        precondition(entry.timestamp == previous + 1, "timestamps are gap-free and in order")
        previous = entry.timestamp
        count += 1
        if count <= 3 || count > tasks * appendsPerTask - 2 {
            let text = String(decoding: try entry.bytes, as: UTF8.self)
            print("  #\(entry.timestamp) in region at \(entry.region.offset): \(text)")
        } else if count == 4 {
            print("  …")
        }
    }
    print("read back \(count) entries after reopening, in global timestamp order")
    try await reopened.close()
    if removeAfterwards {
        unlink(path)
    }
} catch {
    print("error: \(error)")
    if removeAfterwards {
        unlink(path)
    }
    exit(1)
}
