import CMappingProbe
import Glibc
import PMemStream
import PMemStreamTestKit
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

    @Test("a new file is created with the size asked, mapped with a granularity libpmem2 reports")
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

    @Test("a file opens for writing again as soon as its last mapping went, even while the process spawns children")
    func remapWhileSpawning() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            _ = try Pmem2Mapping(path: path, size: 1 << 20)
            let spawner = SpawningThread()
            let remapped = Result {
                for _ in 0..<200 {
                    _ = try Pmem2Mapping(path: path)
                }
            }
            #expect(spawner.stop() > 0, "no child was spawned while the file was mapped again and again")
            try remapped.get()
        }
    }

    /// libpmem2's `pmem2_map_new` maps a file over a reserved range with `MAP_FIXED | MAP_SYNC`, which on a
    /// file system that accepts the flag without DAX (ext4, XFS) fails after unmapping the range; another
    /// thread's mapping can land in it before libpmem2 maps the file there again, and is then replaced by
    /// the file. Every such failed `MAP_FIXED` call is counted by the probe: mapping must make none.
    @Test(
        "mapping a file never leaves an address range unmapped that another thread's mapping could take",
        .enabled(if: pmemstream_failed_fixed_mappings() >= 0, "the mapping probe is not built in")
    )
    func mappingLeavesNoHole() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let before = pmemstream_failed_fixed_mappings()
            _ = try Pmem2Mapping(path: path, size: 1 << 20)
            _ = try Pmem2Mapping(path: path)
            _ = try Pmem2Mapping(path: path, options: .init(readOnly: true))
            try await PMemStream.open(path: path).close()
            #expect(pmemstream_failed_fixed_mappings() == before)
        }
    }

    @Test("prefaulting keeps the file's contents")
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
