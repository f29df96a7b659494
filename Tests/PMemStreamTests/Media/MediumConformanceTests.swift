import PMemStream
import PMemStreamTestKit
import Testing

/// The kinds of medium that must behave alike: the same tests run on each.
enum MediumKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case simulated
    case pmem2File

    var testDescription: String { self.rawValue }

    /// Runs `body` with a new zero-filled medium of this kind and a function that restarts it: drops the
    /// medium and returns what a new process would find (the durable image for the simulator, the file
    /// mapped again, read-only, for libpmem2).
    func withMedium(
        size: Int,
        _ body: (any PersistentMedium, _ restart: (any PersistentMedium) throws -> any PersistentMedium) async throws ->
            Void
    ) async throws {
        switch self {
        case .simulated:
            try await body(SimulatedMedium(size: size)) { medium in
                SimulatedMedium(image: (medium as! SimulatedMedium).crash(.drainedOnly))
            }
        case .pmem2File:
            try await withTemporaryDirectory { directory in
                let path = directory.path("medium")
                try await body(try Pmem2Mapping(path: path, size: size)) { _ in
                    try Pmem2Mapping(path: path, options: .init(readOnly: true))
                }
            }
        }
    }
}

@Suite("PersistentMedium conformance")
struct MediumConformanceTests {
    static let size = 64 * 1024

    @Test("a new medium is zero-filled, sized as asked and page-aligned", arguments: MediumKind.allCases)
    func newMedium(kind: MediumKind) async throws {
        try await kind.withMedium(size: Self.size) { medium, _ in
            #expect(medium.size == Self.size)
            #expect(Int(bitPattern: medium.baseAddress) % 4096 == 0)
            let bytes = UnsafeRawBufferPointer(start: medium.baseAddress, count: medium.size)
            #expect(bytes.allSatisfy { $0 == 0 })
        }
    }

    @Test(
        "a copy survives a restart with every flag once it is flushed and drained",
        arguments: MediumKind.allCases,
        [MemoryCopyFlags.persist, .noDrain, .noFlush, .nonTemporal, .temporal, [.nonTemporal, .noDrain]]
    )
    func copySurvivesRestart(kind: MediumKind, flags: MemoryCopyFlags) async throws {
        let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        try await kind.withMedium(size: Self.size) { medium, restart in
            payload.withUnsafeBytes { medium.copy(toOffset: 4100, from: $0, flags: flags) }
            if flags.contains(.noFlush) {
                medium.flush(4100..<5100)
            }
            if flags.contains(.noFlush) || flags.contains(.noDrain) {
                medium.drain()
            }
            let restarted = try restart(medium)
            #expect(Array(UnsafeRawBufferPointer(start: restarted.baseAddress + 4100, count: 1000)) == payload)
            #expect(restarted.baseAddress.load(fromByteOffset: 4099, as: UInt8.self) == 0)
            #expect(restarted.baseAddress.load(fromByteOffset: 5100, as: UInt8.self) == 0)
        }
    }

    @Test("a fill survives a restart", arguments: MediumKind.allCases)
    func fillSurvivesRestart(kind: MediumKind) async throws {
        try await kind.withMedium(size: Self.size) { medium, restart in
            medium.fill(100..<300, with: 0xAB, flags: .persist)
            medium.fill(8192..<8200, with: 0xCD, flags: .noDrain)
            medium.drain()
            let restarted = try restart(medium)
            let bytes = UnsafeRawBufferPointer(start: restarted.baseAddress, count: restarted.size)
            #expect(bytes[100..<300].allSatisfy { $0 == 0xAB })
            #expect(bytes[8192..<8200].allSatisfy { $0 == 0xCD })
            #expect(bytes[300] == 0 && bytes[99] == 0 && bytes[8200] == 0)
        }
    }

    @Test(
        "plain stores made durable with persist, or flush then drain, survive a restart",
        arguments: MediumKind.allCases
    )
    func persistedStoresSurviveRestart(kind: MediumKind) async throws {
        try await kind.withMedium(size: Self.size) { medium, restart in
            medium.baseAddress.storeBytes(
                of: UInt64(0x1122_3344_5566_7788).littleEndian,
                toByteOffset: 64,
                as: UInt64.self
            )
            medium.persist(64..<72)
            medium.baseAddress.storeBytes(of: UInt64(42).littleEndian, toByteOffset: Self.size - 8, as: UInt64.self)
            medium.flush(Self.size - 8..<Self.size)
            medium.drain()
            try medium.deepFlush(0..<Self.size)
            let restarted = try restart(medium)
            #expect(
                UInt64(littleEndian: restarted.baseAddress.load(fromByteOffset: 64, as: UInt64.self))
                    == 0x1122_3344_5566_7788
            )
            #expect(
                UInt64(littleEndian: restarted.baseAddress.load(fromByteOffset: Self.size - 8, as: UInt64.self)) == 42
            )
        }
    }

    @Test("tasks writing disjoint ranges at once all survive a restart", arguments: MediumKind.allCases)
    func concurrentDisjointWrites(kind: MediumKind) async throws {
        let writers = 8
        let slice = Self.size / writers
        try await kind.withMedium(size: Self.size) { medium, restart in
            await withTaskGroup { group in
                for writer in 0..<writers {
                    group.addTask {
                        let bytes = [UInt8](repeating: UInt8(writer + 1), count: slice)
                        for chunk in stride(from: 0, to: slice, by: 256) {
                            bytes[chunk..<chunk + 256].withUnsafeBytes {
                                medium.copy(toOffset: writer * slice + chunk, from: $0, flags: .noDrain)
                            }
                            medium.drain()
                        }
                    }
                }
            }
            let restarted = try restart(medium)
            let bytes = UnsafeRawBufferPointer(start: restarted.baseAddress, count: restarted.size)
            for writer in 0..<writers {
                #expect(bytes[writer * slice..<(writer + 1) * slice].allSatisfy { $0 == UInt8(writer + 1) })
            }
        }
    }
}
