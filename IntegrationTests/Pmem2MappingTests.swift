import CMappingProbe
import Dispatch
import Glibc
import PMemStream
import PMemStreamTestKit
import Synchronization
import Testing

/// The real libpmem2 mapping on files in a temporary directory.
@Suite("Pmem2Mapping on real files")
struct Pmem2MappingTests {
    private func fileSize(_ path: String) -> Int {
        var status = stat()
        return stat(path, &status) == 0 ? Int(status.st_size) : -1
    }

    private func contents(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: self.fileSize(path))
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return Array(bytes[0..<max(count, 0)])
    }

    @Test("a new file is created with the size asked, mapped with page granularity on an ordinary file")
    func createReportsSizeAndGranularity() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let medium = try Pmem2Mapping(path: path, size: 3 << 20)
            #expect(medium.size == 3 << 20)
            #expect(self.fileSize(path) == 3 << 20)
            #expect(medium.path == path)
            if getenv("PMEM2_FORCE_GRANULARITY") == nil {
                // A file in the temporary directory is not on persistent memory: every persist is an msync.
                #expect(medium.granularity == .page)
            }
            #expect(medium.numaNode == nil)
        }
    }

    @Test("bytes written with each copy flag are in the file after unmapping and in a new mapping")
    func writeUnmapRemap() async throws {
        let flagSets: [MemoryCopyFlags] = [.persist, .noDrain, .noFlush, .nonTemporal, .temporal]
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            do {
                let medium = try Pmem2Mapping(path: path, size: 1 << 20)
                for (index, flags) in flagSets.enumerated() {
                    let payload = [UInt8](repeating: UInt8(index + 1), count: 5000)
                    payload.withUnsafeBytes { medium.copy(toOffset: index * 8192, from: $0, flags: flags) }
                }
                medium.persist(0..<medium.size)
            }
            let onDisk = self.contents(path)
            let remapped = try Pmem2Mapping(path: path)
            #expect(remapped.size == 1 << 20)
            let mapped = UnsafeRawBufferPointer(start: remapped.baseAddress, count: remapped.size)
            for index in flagSets.indices {
                let range = index * 8192..<index * 8192 + 5000
                #expect(onDisk[range].allSatisfy { $0 == UInt8(index + 1) }, "flags \(flagSets[index])")
                #expect(mapped[range].allSatisfy { $0 == UInt8(index + 1) }, "flags \(flagSets[index])")
                #expect(mapped[range.upperBound] == 0)
            }
        }
    }

    @Test(
        "with cache-line granularity, copies of every alignment, length and non-temporal flag store exactly their bytes",
        .enabled(if: getenv("PMEM2_FORCE_GRANULARITY") != nil, "run in a child process with the granularity forced")
    )
    func copiesOnCacheLineMapping() async throws {
        try await withTemporaryDirectory { directory in
            let medium = try Pmem2Mapping(path: directory.path("log"), size: 1 << 20)
            try #require(medium.granularity == .cacheLine, "PMEM2_FORCE_GRANULARITY=CACHE_LINE is expected")
            let source = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }
            let flagSets: [MemoryCopyFlags] = [
                .nonTemporal, [.nonTemporal, .noDrain], [.nonTemporal, .temporal], [.nonTemporal, .noFlush], .persist,
            ]
            let area = 8192..<24_576
            var wrong: [String] = []
            // Whole words at aligned offsets take the non-temporal stores; the rest goes to libpmem2.
            for start in [8192, 8200, 8248, 8256, 8196, 8201] {
                for length in [0, 5, 8, 13, 24, 64, 100, 2040, 2048, 4096, 5000] {
                    for flags in flagSets {
                        medium.fill(area, with: 0xEE, flags: .noFlush)
                        source.withUnsafeBytes {
                            medium.copy(
                                toOffset: start,
                                from: UnsafeRawBufferPointer(rebasing: $0[..<length]),
                                flags: flags
                            )
                        }
                        let mapped = UnsafeRawBufferPointer(start: medium.baseAddress, count: medium.size)
                        if Array(mapped[start..<start + length]) != Array(source[..<length])
                            || !mapped[area.lowerBound..<start].allSatisfy({ $0 == 0xEE })
                            || !mapped[(start + length)..<area.upperBound].allSatisfy({ $0 == 0xEE })
                        {
                            wrong.append("\(length) bytes at \(start), flags \(flags)")
                        }
                    }
                }
            }
            // A few lines at most, so that a child process reports them without filling its pipe.
            #expect(wrong.isEmpty, "\(wrong.count) copies stored other bytes, first \(wrong.prefix(3))")
        }
    }

    @Test("the copies of a cache-line-granular mapping, in a child process with PMEM2_FORCE_GRANULARITY=CACHE_LINE")
    func cacheLineMappingInAChildProcess() async throws {
        await Spawned.expectTestPassesInChild(
            "copiesOnCacheLineMapping",
            environment: ["PMEM2_FORCE_GRANULARITY=CACHE_LINE"]
        )
    }

    @Test("a file opens for writing again as soon as its last mapping went, even while the process spawns children")
    func remapWhileSpawning() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            _ = try Pmem2Mapping(path: path, size: 1 << 20)
            let spawner = SpawningThread()
            let spawnedBefore = spawner.spawnedCount
            // At least 200 mappings, and on until 20 more children have run meanwhile: on a thread of its own,
            // since it waits for the spawning thread, and the tasks' pool may have no thread to spare.
            let remapped = await onThreadOfItsOwn("PMemStreamIntegrationTests.remapping") {
                Result {
                    var mappings = 0
                    while mappings < 200 || (spawner.spawnedCount < spawnedBefore + 20 && mappings < 100_000) {
                        _ = try Pmem2Mapping(path: path)
                        mappings += 1
                    }
                }
            }
            #expect(spawner.stop() >= spawnedBefore + 20, "too few children were spawned during the mappings")
            try remapped.get()
        }
    }

    /// libpmem2's `pmem2_map_new` maps a file over a reserved range with `MAP_FIXED | MAP_SYNC`, which on a
    /// file system that accepts the flag without DAX (ext4, XFS) fails after unmapping the range; another
    /// thread's mapping can land in it before libpmem2 maps the file there again, and is then replaced by
    /// the file. Every such failed `MAP_FIXED` call is counted by the probe: mapping must make none.
    @Test(
        "mapping a file never leaves an address range unmapped that another thread's mapping could take",
        .enabled(if: pmemstream_probe_enabled() != 0, "the mapping probe is not built in")
    )
    func mappingLeavesNoHole() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let failedBefore = pmemstream_probe_failed_fixed_mappings()
            let mappingsBefore = pmemstream_probe_mappings()
            _ = try Pmem2Mapping(path: path, size: 1 << 20)
            _ = try Pmem2Mapping(path: path)
            _ = try Pmem2Mapping(path: path, options: .init(readOnly: true))
            try await PMemStream.open(path: path).close()
            #expect(pmemstream_probe_mappings() >= mappingsBefore + 4, "the probe saw no mapping: it is not in use")
            #expect(pmemstream_probe_failed_fixed_mappings() == failedBefore)
        }
    }

    /// The range of the calling thread's last `msync` and its flags, when `body` made one.
    private func lastSync(during body: () throws -> Void) rethrows -> (range: Range<Int>, flags: Int32)? {
        var address: UnsafeMutableRawPointer?
        var length = 0
        var flags: Int32 = 0
        let before = pmemstream_probe_thread_syncs(&address, &length, &flags)
        try body()
        guard pmemstream_probe_thread_syncs(&address, &length, &flags) > before else { return nil }
        let start = Int(bitPattern: address)
        return (start..<start + length, flags)
    }

    @Test(
        "a page-granular mapping writes back every page of each range it persists, flushes, copies or fills",
        .enabled(if: pmemstream_probe_enabled() != 0, "the mapping probe is not built in"),
        .enabled(if: getenv("PMEM2_FORCE_GRANULARITY") == nil, "the granularity is forced")
    )
    func pageGranularityWritesBack() async throws {
        try await withTemporaryDirectory { directory in
            let medium = try Pmem2Mapping(path: directory.path("log"), size: 1 << 20)
            try #require(medium.granularity == .page)
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            let base = Int(bitPattern: medium.baseAddress)
            let data = [UInt8](repeating: 0xA5, count: 300)
            let operations: [(name: String, range: Range<Int>, operation: () throws -> Void)] = [
                ("persist", 100..<200, { medium.persist(100..<200) }),
                ("persist across pages", 4000..<4200, { medium.persist(4000..<4200) }),
                ("flush", 5000..<5100, { medium.flush(5000..<5100) }),
                ("flush of ranges", 9000..<9100, { medium.flush([8000..<8100, 9000..<9100]) }),
                (
                    "copy", 12_000..<12_300,
                    { data.withUnsafeBytes { medium.copy(toOffset: 12_000, from: $0, flags: []) } }
                ),
                (
                    "non-temporal copy of whole words", 16_384..<16_640,
                    {
                        data.withUnsafeBytes {
                            medium.copy(toOffset: 16_384, from: .init(rebasing: $0[..<256]), flags: .nonTemporal)
                        }
                    }
                ),
                (
                    "non-temporal copy of whole words, no drain", 17_408..<17_664,
                    {
                        data.withUnsafeBytes {
                            medium.copy(
                                toOffset: 17_408,
                                from: .init(rebasing: $0[..<256]),
                                flags: [.nonTemporal, .noDrain]
                            )
                        }
                    }
                ),
                ("fill", 20_000..<20_100, { medium.fill(20_000..<20_100, with: 7, flags: .noDrain) }),
                ("deep flush", 0..<medium.size, { try medium.deepFlush(0..<medium.size) }),
            ]
            for (name, range, operation) in operations {
                let sync = try #require(try self.lastSync(during: operation), "\(name) wrote nothing back")
                #expect(sync.flags & MS_SYNC != 0, "\(name) does not wait for the write-back")
                #expect(sync.range.lowerBound % pageSize == 0, "\(name)")
                #expect(sync.range.lowerBound <= base + range.lowerBound, "\(name)")
                #expect(sync.range.upperBound >= base + range.upperBound, "\(name)")
            }
            let unflushed = self.lastSync {
                data.withUnsafeBytes { medium.copy(toOffset: 30_000, from: $0, flags: .noFlush) }
                medium.fill(40_000..<40_100, with: 1, flags: .noFlush)
            }
            #expect(unflushed == nil, "a copy or fill without flush wrote pages back")
        }
    }

    /// How many mappings of `path` the process has (`/proc/self/maps`).
    private func mappings(of path: String) -> Int {
        guard let maps = fopen("/proc/self/maps", "r") else { return -1 }
        defer { fclose(maps) }
        var count = 0
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), maps) != nil {
            if line.withUnsafeBufferPointer({ String(cString: $0.baseAddress!) }).contains(path) {
                count += 1
            }
        }
        return count
    }

    @Test("a mapping dropped or refused leaves nothing of the file mapped, and the file unlocked")
    func nothingLeftMapped() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            do {
                let medium = try Pmem2Mapping(path: path, size: 1 << 20)
                #expect(self.mappings(of: path) == 1)
                withExtendedLifetime(medium) {}
            }
            #expect(self.mappings(of: path) == 0)
            if getenv("PMEM2_FORCE_GRANULARITY") == nil {
                #expect(throws: PMemStreamError.self) {
                    try Pmem2Mapping(path: path, options: .init(requiredGranularity: .cacheLine))
                }
                #expect(self.mappings(of: path) == 0)
            }
            _ = try Pmem2Mapping(path: path)
        }
    }

    @Test("prefaulting keeps the file's contents, and works on a read-only mapping")
    func prefaultKeepsContents() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            do {
                let medium = try Pmem2Mapping(path: path, size: 1 << 20)
                medium.fill(0..<medium.size, with: 0x5A, flags: .persist)
            }
            let prefaulted = try Pmem2Mapping(path: path, options: .init(prefault: true))
            #expect(
                UnsafeRawBufferPointer(start: prefaulted.baseAddress, count: prefaulted.size).allSatisfy { $0 == 0x5A }
            )
            let readOnly = try Pmem2Mapping(path: path, options: .init(prefault: true, readOnly: true))
            #expect(UnsafeRawBufferPointer(start: readOnly.baseAddress, count: readOnly.size).allSatisfy { $0 == 0x5A })
        }
    }

    @Test("an absent file with no size to create it is fileNotFound, and nothing is created")
    func absentFileWithoutSize() async {
        await withTemporaryDirectory { directory in
            let path = directory.path("absent")
            let error = #expect(throws: PMemStreamError.self) { try Pmem2Mapping(path: path) }
            #expect(error?.code == .fileNotFound)
            #expect(self.fileSize(path) == -1)
        }
    }

    @Test("an existing file mapped with another size is invalidMediumSize and keeps its size and bytes")
    func sizeMismatchLeavesFileUntouched() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            do {
                let medium = try Pmem2Mapping(path: path, size: 1 << 20)
                medium.fill(0..<4096, with: 7, flags: .persist)
            }
            let before = self.contents(path)
            let error = #expect(throws: PMemStreamError.self) { try Pmem2Mapping(path: path, size: 2 << 20) }
            #expect(error?.code == .invalidMediumSize)
            #expect(self.contents(path) == before)
        }
    }

    @Test("a size of zero or less is invalidMediumSize", arguments: [0, -1])
    func nonPositiveSize(size: Int) async {
        await withTemporaryDirectory { directory in
            let error = #expect(throws: PMemStreamError.self) {
                try Pmem2Mapping(path: directory.path("log"), size: size)
            }
            #expect(error?.code == .invalidMediumSize)
        }
    }

    @Test("a directory cannot be mapped")
    func directoryIsRejected() async {
        await withTemporaryDirectory { directory in
            let error = #expect(throws: PMemStreamError.self) { try Pmem2Mapping(path: directory.path) }
            #expect(error?.code == .cannotOpenFile)
        }
    }

    @Test(
        "a FIFO is refused at once, also read-only, where opening it would wait for a writer",
        arguments: [true, false]
    )
    func fifoIsRejectedAtOnce(readOnly: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("fifo")
            try #require(mkfifo(path, 0o644) == 0)
            let opened = DispatchSemaphore(value: 0)
            let code = Mutex<PMemStreamError.Code?>(nil)
            // The open and the wait for it on threads of their own: both may block. Not the global queue: on
            // Linux its threads are the ones the tasks share, and a block sent to it while they are all busy
            // waits about a second for one.
            DispatchQueue(label: "PMemStreamIntegrationTests.fifoOpen").async {
                do {
                    _ = try Pmem2Mapping(path: path, options: .init(readOnly: readOnly))
                } catch {
                    code.withLock { $0 = (error as? PMemStreamError)?.code }
                }
                opened.signal()
            }
            let returned = await onThreadOfItsOwn("PMemStreamIntegrationTests.fifoWait") {
                opened.wait(timeout: .now() + .seconds(5)) == .success
            }
            #expect(returned, "still waiting in open() for a writer of the FIFO")
            if !returned {
                close(open(path, O_WRONLY | O_NONBLOCK))  // lets the open return, so the thread ends
                await onThreadOfItsOwn("PMemStreamIntegrationTests.fifoWait") { opened.wait() }
            }
            #expect(code.withLock { $0 } == .cannotOpenFile)
        }
    }

    @Test("insisting on cache-line granularity for an ordinary file is mappingFailed, and the new file is removed")
    func unsupportedGranularityIsRefused() async {
        guard getenv("PMEM2_FORCE_GRANULARITY") == nil else { return }
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let error = #expect(throws: PMemStreamError.self) {
                try Pmem2Mapping(path: path, size: 1 << 20, options: .init(requiredGranularity: .cacheLine))
            }
            #expect(error?.code == .mappingFailed)
            #expect(error?.message.contains("page granularity, but cache line granularity was required") == true)
            #expect(self.fileSize(path) == -1, "the file created for the mapping is removed again")
        }
    }
}
