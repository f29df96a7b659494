import Glibc
import PMemStream
import PMemStreamTestKit
import Testing

/// Streams in real files mapped through libpmem2.
@Suite("PMemStream on real files")
struct StreamFileTests {
    /// Creates a file of `size` bytes, all of them a hole, and returns it open for reading and writing.
    private func sparseFile(_ path: String, size: Int) throws -> Int32 {
        let fd = open(path, O_CREAT | O_RDWR, 0o644)
        try #require(fd >= 0 && ftruncate(fd, off_t(size)) == 0)
        return fd
    }

    private func contents(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    @Test("a stream created in a file keeps its regions across close and reopen")
    func createAllocateReopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            do {
                let stream = try await PMemStream.open(path: path, size: 1 << 20, configuration: .init(blockSize: 4096))
                #expect(stream.granularity == .page || getenv("PMEM2_FORCE_GRANULARITY") != nil)
                let first = try await stream.allocateRegion(size: 10_000)
                _ = try await stream.allocateRegion(size: 100)
                try await stream.free(first)
                _ = try await stream.allocateRegion(size: 3000)
                try await stream.close()
            }
            let stream = try await PMemStream.open(path: path)
            var offsets: [Int] = []
            for try await region in stream.regions {
                offsets.append(region.offset)
            }
            #expect(offsets == [16384, 4096])
        }
    }

    /// Entries around the sizes from which a writer checksums data as it copies it (one pass over the bytes,
    /// on CPUs that fold checksums with 256-bit registers: large entries' streamed lines, and the bodies of
    /// entries of 512 B – 4 KiB written whole), and far above them, at many offsets a header can leave the data
    /// at: written synchronously, asynchronously and in batches, read back byte for byte, with their
    /// checksums verified, before and after the stream is reopened.
    @Test(
        "with cache-line granularity, large entries appended each way read back byte for byte after a reopen",
        .enabled(if: getenv("PMEM2_FORCE_GRANULARITY") != nil, "run in a child process with the granularity forced")
    )
    func largeEntriesOnCacheLineMapping() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let sizes = [6000, 6143, 6144, 6152, 6200, 8192, 9001, 20_000, 65_536, 65_549, 131_072 + 40]
            var expected: [[UInt8]] = []
            do {
                let stream = try await PMemStream.open(path: path, size: 8 << 20)
                try #require(stream.granularity == .cacheLine, "PMEM2_FORCE_GRANULARITY=CACHE_LINE is expected")
                let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4 << 20))
                for (index, size) in sizes.enumerated() {
                    // Each entry moves the next one's data to another offset within its cache line.
                    let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ index &* 7 &+ 1) }
                    switch index % 3 {
                    case 0: _ = try await writer.append(bytes)
                    case 1: try await writer.appendAsync(bytes).persisted()
                    default: _ = try await writer.append(contentsOf: [bytes, Array(bytes.reversed())])
                    }
                    expected += index % 3 == 2 ? [bytes, Array(bytes.reversed())] : [bytes]
                }
                // A batch of entries that are all written whole with non-temporal stores.
                let batchSizes = [1000, 1024, 1090, 2048, 3001, 4096, 4090, 1064, 4000, 700, 520]
                let batch = batchSizes.enumerated().map { index, size in
                    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ index &* 5 &+ 3) }
                }
                _ = try await writer.append(contentsOf: batch)
                expected += batch
                // Lone synchronous appends of up to 4 KiB, also written whole with non-temporal stores.
                for entry in batch.reversed() {
                    _ = try await writer.append(entry)
                }
                expected += batch.reversed()
                try await Self.expectEntries(of: stream, expected)
                try await stream.close()
            }
            try await Self.expectEntries(of: try await PMemStream.open(path: path), expected)
        }
    }

    /// Expects the stream's entries to be `expected`, and reports only which differ: a child process
    /// reports a few lines without filling its pipe.
    private static func expectEntries(of stream: PMemStream, _ expected: [[UInt8]]) async throws {
        var read: [[UInt8]] = []
        for try await entry in stream.entries() {
            read.append(try entry.bytes)
        }
        #expect(read.count == expected.count)
        let wrong = zip(read, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(wrong.isEmpty, "entries \(wrong) read back other bytes")
    }

    @Test("large entries on a cache-line-granular mapping, in a child process with PMEM2_FORCE_GRANULARITY=CACHE_LINE")
    func largeEntriesInAChildProcess() async throws {
        await Spawned.expectTestPassesInChild(
            "largeEntriesOnCacheLineMapping",
            environment: ["PMEM2_FORCE_GRANULARITY=CACHE_LINE"]
        )
    }

    @Test("reopening with another block size or size, or opening a foreign file, fails and leaves the file as it was")
    func refusals() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let stream = try await PMemStream.open(path: path, size: 1 << 20, configuration: .init(blockSize: 4096))
            _ = try await stream.allocateRegion(size: 100)
            // Closed, not just dropped: its writer's lock must be gone before the reopenings below, whatever
            // the moment its last reference goes.
            try await stream.close()
            let before = self.contents(path)
            #expect(
                await thrownErrorCode { try await PMemStream.open(path: path, configuration: .init(blockSize: 8192)) }
                    == .blockSizeMismatch
            )
            #expect(await thrownErrorCode { try await PMemStream.open(path: path, size: 2 << 20) } == .sizeMismatch)
            #expect(self.contents(path) == before)

            let foreign = directory.path("foreign")
            let text = Array("not a stream, just some text that happens to be here\n".utf8)
            let fd = open(foreign, O_CREAT | O_WRONLY, 0o644)
            for _ in 0..<200 {
                _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            close(fd)
            let foreignBefore = self.contents(foreign)
            #expect(await thrownErrorCode { try await PMemStream.open(path: foreign) } == .notAStream)
            #expect(self.contents(foreign) == foreignBefore)
        }
    }

    @Test(
        "an invalid size or block size creates no file",
        arguments: [(100, 4096), (8191, 4096), (1 << 20, 1000), (1 << 20, 0), (0, 4096), (-1, 4096)]
    )
    func invalidCreation(size: Int, blockSize: Int) async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let code = await thrownErrorCode {
                try await PMemStream.open(path: path, size: size, configuration: .init(blockSize: blockSize))
            }
            let validBlockSize = blockSize % 64 == 0 && blockSize > 0
            let expected: PMemStreamError.Code =
                size <= 0 ? .invalidMediumSize : validBlockSize ? .mediumTooSmall : .invalidBlockSize
            #expect(code == expected)
            #expect(self.contents(path) == nil)
        }
    }

    @Test("a hole that blocks allocated beyond the file's end make up for in its block count gets its blocks too")
    func holeHiddenByBlocksBeyondTheEnd() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let size = 64 << 10
            let fd = try self.sparseFile(path, size: size)
            defer { close(fd) }
            let data = [UInt8](repeating: 0x5A, count: size / 2)
            try #require(data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(size / 2)) } == size / 2)
            // `fallocate` with FALLOC_FL_KEEP_SIZE (1): blocks past the end, counted in st_blocks, no data.
            let fallocate = unsafeBitCast(
                try #require(dlsym(nil, "fallocate")),
                to: (@convention(c) (Int32, Int32, off_t, off_t) -> Int32).self
            )
            try #require(fallocate(fd, 1, off_t(size), off_t(size / 2)) == 0)
            var status = stat()
            try #require(fstat(fd, &status) == 0)
            try #require(Int(status.st_blocks) * 512 >= size, "the block count hides the hole")
            let medium = try Pmem2Mapping(path: path)
            try #require(fstat(fd, &status) == 0)
            #expect(Int(status.st_blocks) * 512 >= size + size / 2, "the hole at the start was not allocated")
            #expect(Int(status.st_size) == size)
            withExtendedLifetime(medium) {}
        }
    }

    @Test("an existing file with holes gets its blocks when it is opened for writing, and keeps its size")
    func sparseFileIsAllocated() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let size = 16 << 20
            close(try self.sparseFile(path, size: size))
            let stream = try await PMemStream.open(path: path, size: size)
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(Int(status.st_size) == size)
            #expect(Int(status.st_blocks) * 512 >= size, "a store into a hole could meet a full file system")
            try await stream.close()

            // Asked for another size, the open fails before it allocates anything.
            let other = directory.path("other")
            close(try self.sparseFile(other, size: size))
            let code = await thrownErrorCode { try await PMemStream.open(path: other, size: size / 2) }
            #expect(code == .sizeMismatch)
            #expect(stat(other, &status) == 0)
            #expect(status.st_blocks == 0, "the file was changed although the open was refused")

            // Holes larger than the file system's free space: refused before anything is allocated.
            var fileSystem = statvfs()
            #expect(statvfs(directory.path, &fileSystem) == 0)
            let free = Int(fileSystem.f_bavail) * Int(fileSystem.f_frsize)
            let huge = directory.path("huge")
            let hugeSize = (free + (1 << 30)) & ~4095
            let hugeDescriptor = open(huge, O_CREAT | O_RDWR, 0o644)
            #expect(ftruncate(hugeDescriptor, off_t(hugeSize)) == 0)
            close(hugeDescriptor)
            #expect(await thrownErrorCode { try await PMemStream.open(path: huge) } == .outOfSpace)
            #expect(stat(huge, &status) == 0)
            #expect(Int(status.st_size) == hugeSize && status.st_blocks == 0, "the refused open allocated blocks")
        }
    }

    @Test("a configuration out of range creates no file", arguments: [-3, 100_000])
    func invalidConfiguration(persistWorkers: Int) async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let code = await thrownErrorCode {
                try await PMemStream.open(
                    path: path,
                    size: 1 << 20,
                    configuration: .init(persistWorkers: persistWorkers)
                )
            }
            #expect(code == .invalidArgument)
            #expect(self.contents(path) == nil)
        }
    }
}

/// One writer at a time, any number of readers: the writer's lock and read-only streams on real files.
@Suite("Writers and readers of one file")
struct StreamSharingTests {
    @Test("a second writer gets streamInUse while the first has the file; a read-only stream reads meanwhile")
    func oneWriterManyReaders() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let writer = try await PMemStream.open(path: path, size: 1 << 20)
            let region = try await writer.allocateRegion(size: 8192)
            _ = try await writer.writer(for: region).append(Array("first".utf8))
            #expect(await thrownErrorCode { try await PMemStream.open(path: path) } == .streamInUse)

            let reader = try await PMemStream.open(path: path, configuration: .init(access: .readOnly))
            #expect(try await reader.entries().collect().map { try $0.bytes } == [Array("first".utf8)])
            _ = try await writer.writer(for: region).append(Array("second".utf8))
            try await reader.waitCommitted(2)
            #expect(
                try await reader.entries().collect().map { try $0.bytes } == [
                    Array("first".utf8), Array("second".utf8),
                ]
            )
            #expect(await thrownErrorCode { try await reader.allocateRegion(size: 100) } == .readOnlyStream)
            try await reader.close()

            try await writer.close()
            let next = try await PMemStream.open(path: path)
            #expect(try await next.entries().collect().count == 2)
            try await next.close()
        }
    }

    @Test("the writer's lock goes with the stream: once it is released, the file opens for writing again")
    func lockReleased() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            do {
                let stream = try await PMemStream.open(path: path, size: 1 << 20)
                _ = try await stream.allocateRegion(size: 100)
                try await stream.close()
            }
            let reopened = try await PMemStream.open(path: path)
            #expect(try await reopened.regions.collect().count == 1)
            try await reopened.close()
        }
    }

    @Test(
        "withPMemStream closes the stream however its body ends: returning, throwing or cancelled",
        .timeLimit(.minutes(5))
    )
    func scopedLifetime() async throws {
        struct BodyFailure: Error {}
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            // Each body keeps its stream past its end (which a caller must not do) to show that it is closed,
            // and leaves an entry committed but not waited for.
            var returned: PMemStream?
            let offset = try await withPMemStream(path: path, size: 1 << 20) { stream in
                returned = stream
                let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4096))
                _ = try await writer.appendAsync([1])
                return writer.region.offset
            }
            var threw: PMemStream?
            await #expect(throws: BodyFailure.self) {
                try await withPMemStream(path: path) { stream in
                    threw = stream
                    _ = try await stream.writer(for: try await stream.region(atOffset: offset)).appendAsync([2])
                    throw BodyFailure()
                }
            }
            let (opened, openedContinuation) = AsyncStream<PMemStream>.makeStream()
            let cancelled = Task {
                defer { openedContinuation.finish() }  // even if the open fails: the loop below must end
                try await withPMemStream(path: path) { stream in
                    _ = try await stream.writer(for: try await stream.region(atOffset: offset)).appendAsync([3])
                    openedContinuation.yield(stream)
                    try await Task.sleep(for: .seconds(600))
                }
            }
            var wasCancelled: PMemStream?
            for await stream in opened {
                wasCancelled = stream
                break
            }
            cancelled.cancel()
            await #expect(throws: CancellationError.self) { try await cancelled.value }

            for stream in [returned, threw, wasCancelled] {
                let stream = try #require(stream)
                #expect(await thrownErrorCode { try await stream.allocateRegion(size: 100) } == .streamClosed)
            }
            let entries = try await withPMemStream(path: path) { stream in
                try await stream.entries(in: try await stream.region(atOffset: offset)).collect().map { try $0.bytes }
            }
            #expect(entries == [[1], [2], [3]])
        }
    }

    @Test("a stream dropped without close lets the lock go with its last reference")
    func lockReleasedOnDrop() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            _ = try await PMemStream.open(path: path, size: 1 << 20).allocateRegion(size: 100)
            // The last reference may go a moment after the call returns (the actor's executor lets it go):
            // give it up to two seconds.
            var reopened: PMemStream?
            for _ in 0..<200 where reopened == nil {
                do {
                    reopened = try await PMemStream.open(path: path)
                } catch .streamInUse {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let stream = try #require(reopened, "the dropped stream kept the writer's lock")
            #expect(try await stream.regions.collect().count == 1)
            try await stream.close()
        }
    }

    @Test("one writing stream per mapping: a second is refused, and a read-write stream on a read-only mapping too")
    func oneWriterPerMapping() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let mapping = try Pmem2Mapping(path: path, size: 1 << 20)
            let first = try PMemStream(medium: mapping, configuration: .init(blockSize: 4096))
            #expect(await thrownErrorCode { _ = try PMemStream(medium: mapping) } == .streamInUse)
            let region = try await first.allocateRegion(size: 4032)
            _ = try await first.writer(for: region).append([1])
            try await first.close()
            // The claim went with the first stream: the mapping takes a new writer, which holds the file again.
            let second = try PMemStream(medium: mapping)
            #expect(await thrownErrorCode { _ = try Pmem2Mapping(path: path) } == .streamInUse)
            try await second.close()

            let readOnly = try Pmem2Mapping(path: path, options: .init(readOnly: true))
            #expect(await thrownErrorCode { _ = try PMemStream(medium: readOnly) } == .readOnlyStream)
            let reader = try PMemStream(medium: readOnly, configuration: .init(access: .readOnly))
            #expect(try await reader.entries().collect().map { try $0.bytes } == [[1]])
        }
    }

    @Test("a read-only open never creates or formats a file")
    func readOnlyCreatesNothing() async {
        await withTemporaryDirectory { directory in
            let path = directory.path("absent")
            let code = await thrownErrorCode {
                try await PMemStream.open(path: path, size: 1 << 20, configuration: .init(access: .readOnly))
            }
            #expect(code == .fileNotFound)
            #expect(access(path, F_OK) != 0)
        }
    }
}
