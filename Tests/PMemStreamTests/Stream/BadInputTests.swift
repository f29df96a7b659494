import PMemStreamTestKit
import Testing

@testable import PMemStream

/// Every bad input of DESIGN.md §7, and the C library's bugs of reference §11 that are about bad input:
/// the typed error, and the medium's bytes exactly as they were.
@Suite("Bad input: a typed error, and nothing changed")
struct BadInputTests {
    /// One row: a name, the expected code, and a setup that returns the bad operation.
    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let code: PMemStreamError.Code
        /// Prepares what the row needs on the medium, and returns the bad operation.
        let setUp: @Sendable (SimulatedMedium) async throws -> @Sendable () async throws -> Void

        var testDescription: String { self.name }
    }

    /// A medium with a stream: block size 4096, 256 KiB, region A (two entries), region B (empty).
    static func prepared() async throws -> SimulatedMedium {
        let medium = SimulatedMedium(size: 256 * 1024)
        let stream = try PMemStream(medium: medium, configuration: .init(blockSize: 4096, persistWorkers: 0))
        let a = try await stream.allocateRegion(size: 8000)
        _ = try await stream.allocateRegion(size: 4000)
        _ = try await stream.writer(for: a).append(contentsOf: [[1, 2, 3], [4, 5, 6]])
        try await stream.close()
        return SimulatedMedium(image: medium.crash())
    }

    static func open(_ medium: SimulatedMedium, blockSize: Int = 4096) throws -> PMemStream {
        try PMemStream(medium: medium, configuration: .init(blockSize: blockSize, persistWorkers: 0))
    }

    static func regionA(_ stream: PMemStream) async throws -> Region {
        try await stream.region(atOffset: 4096)
    }

    static let rows: [Row] = [
        Row(name: "block size 0", code: .invalidBlockSize) { medium in { _ = try open(medium, blockSize: 0) } },
        Row(name: "block size not a power of two", code: .invalidBlockSize) { medium in
            { _ = try open(medium, blockSize: 192) }
        },
        Row(name: "block size not a multiple of 64", code: .invalidBlockSize) { medium in
            { _ = try open(medium, blockSize: 32) }
        },
        Row(name: "a medium too small for a header and one block", code: .mediumTooSmall) { _ in
            { _ = try open(SimulatedMedium(size: 8128)) }
        },
        Row(name: "block size 2^62: no medium holds the header's block and one more", code: .mediumTooSmall) { medium in
            { _ = try open(medium, blockSize: 1 << 62) }
        },
        Row(name: "a header whose block size no medium holds, its checksum right", code: .damagedStream) { medium in
            let header = StreamHeader(
                formatVersion: StreamHeader.currentFormatVersion,
                blockSize: 1 << 62,
                streamSize: medium.size
            )
            header.encodedStaticLine().withUnsafeBytes { medium.copy(toOffset: 0, from: $0, flags: .persist) }
            return { _ = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0, access: .readOnly)) }
        },
        Row(name: "a persisted watermark of 2^64 - 1 in the header", code: .damagedStream) { medium in
            medium.fill(
                StreamHeader.Field.persistedTimestamp..<StreamHeader.Field.persistedTimestamp + 8,
                with: 0xFF,
                flags: .persist
            )
            return { _ = try open(medium) }
        },
        Row(name: "a persisted watermark of 2^64 - 1, opened for reading", code: .damagedStream) { medium in
            medium.fill(
                StreamHeader.Field.persistedTimestamp..<StreamHeader.Field.persistedTimestamp + 8,
                with: 0xFF,
                flags: .persist
            )
            return { _ = try PMemStream(medium: medium, configuration: .init(access: .readOnly)) }
        },
        Row(name: "a region whose sequence number is 2^64 - 1", code: .damagedStream) { medium in
            let field = 4096 + ExtentHeader.Field.sequence
            medium.fill(field..<field + 8, with: 0xFF, flags: .persist)
            return { _ = try open(medium) }
        },
        Row(name: "a region whose sequence number is 2^64 - 1, opened for reading", code: .damagedStream) { medium in
            let field = 4096 + ExtentHeader.Field.sequence
            medium.fill(field..<field + 8, with: 0xFF, flags: .persist)
            return { _ = try PMemStream(medium: medium, configuration: .init(access: .readOnly)) }
        },
        Row(name: "a file that is not a stream (P3)", code: .notAStream) { medium in
            medium.fill(0..<medium.size, with: 0x41, flags: .persist)
            return { _ = try open(medium) }
        },
        Row(name: "a damaged header", code: .damagedStream) { medium in
            medium.fill(30..<31, with: 0x7F, flags: .persist)
            return { _ = try open(medium) }
        },
        Row(name: "another block size (P3)", code: .blockSizeMismatch) { medium in
            { _ = try open(medium, blockSize: 8192) }
        },
        Row(name: "another size (P3)", code: .sizeMismatch) { medium in
            let larger = SimulatedMedium(image: medium.crash() + [UInt8](repeating: 0, count: 4096))
            return { _ = try open(larger) }
        },
        Row(name: "region size 0", code: .invalidRegionSize) { medium in
            let stream = try open(medium)
            return { _ = try await stream.allocateRegion(size: 0) }
        },
        Row(name: "region size 2^62 or more (P13)", code: .invalidRegionSize) { medium in
            let stream = try open(medium)
            return { _ = try await stream.allocateRegion(size: (1 << 62) + 100) }
        },
        Row(name: "region larger than the free space", code: .noSpaceForRegion) { medium in
            let stream = try open(medium)
            return { _ = try await stream.allocateRegion(size: 300 * 1024) }
        },
        Row(name: "freeing a region twice (P12)", code: .regionFreed) { medium in
            let stream = try open(medium)
            let region = try await stream.allocateRegion(size: 100)
            try await stream.free(region)
            return { try await stream.free(region) }
        },
        Row(name: "an offset that is not a region (P4, P12)", code: .notARegion) { medium in
            let stream = try open(medium)
            return { _ = try await stream.region(atOffset: 4096 + 64) }
        },
        Row(name: "an offset past the end of the stream (P4)", code: .notARegion) { medium in
            let stream = try open(medium)
            return { _ = try await stream.region(atOffset: 256 * 1024 + 4096) }
        },
        Row(name: "writing to a freed region", code: .regionFreed) { medium in
            let stream = try open(medium)
            let region = try await stream.allocateRegion(size: 100)
            let writer = try await stream.writer(for: region)
            try await stream.free(region)
            return { _ = try await writer.append([1]) }
        },
        Row(name: "reading a freed region", code: .regionFreed) { medium in
            let stream = try open(medium)
            let region = try await stream.allocateRegion(size: 100)
            try await stream.free(region)
            return { for try await _ in stream.entries(in: region) {} }
        },
        Row(name: "an entry of a freed region", code: .regionFreed) { medium in
            let stream = try open(medium)
            let region = try await stream.allocateRegion(size: 100)
            let entry = try await stream.writer(for: region).append([9])
            try await stream.free(region)
            return { _ = try entry.bytes }
        },
        Row(name: "an entry larger than the region's free space", code: .entryTooLarge) { medium in
            let stream = try open(medium)
            let writer = try await stream.writer(for: try await regionA(stream))
            return { _ = try await writer.append([UInt8](repeating: 0, count: 8100)) }
        },
        Row(name: "publishing more than was reserved (P14)", code: .invalidEntrySize) { medium in
            let stream = try open(medium)
            let writer = try await stream.writer(for: try await regionA(stream))
            return {
                let reservation = try await writer.reserve(8)
                _ = try await reservation.publish(size: 9)
            }
        },
        Row(name: "an offset that is not an entry", code: .notAnEntry) { medium in
            let stream = try open(medium)
            let region = try await regionA(stream)
            return { _ = try await stream.entry(in: region, atOffset: 4096 + 64 + 8) }
        },
        Row(name: "an entry offset outside the region (P4)", code: .notAnEntry) { medium in
            let stream = try open(medium)
            let region = try await regionA(stream)
            return { _ = try await stream.entry(in: region, atOffset: 200 * 1024) }
        },
        Row(name: "a checkpoint interval too large to count in nanoseconds", code: .invalidArgument) { medium in
            { _ = try PMemStream(medium: medium, configuration: .init(checkpointInterval: .seconds(Int64.max / 2))) }
        },
        Row(name: "a follow interval of zero", code: .invalidArgument) { medium in
            { _ = try PMemStream(medium: medium, configuration: .init(followInterval: .zero)) }
        },
        Row(name: "more persist workers than a stream runs", code: .invalidArgument) { medium in
            { _ = try PMemStream(medium: medium, configuration: .init(persistWorkers: 100_000)) }
        },
        Row(name: "a negative number of persist workers", code: .invalidArgument) { medium in
            { _ = try PMemStream(medium: medium, configuration: .init(persistWorkers: -3)) }
        },
        Row(name: "a group-commit queue bound of zero", code: .invalidArgument) { medium in
            { _ = try PMemStream(medium: medium, configuration: .init(maxQueuedAppends: 0)) }
        },
        Row(name: "allocating in a read-only stream", code: .readOnlyStream) { medium in
            let stream = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
            return { _ = try await stream.allocateRegion(size: 100) }
        },
        Row(name: "writing to a read-only stream", code: .readOnlyStream) { medium in
            let stream = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
            let region = try await regionA(stream)
            return { _ = try await stream.writer(for: region).append([1]) }
        },
        Row(name: "formatting through a read-only stream", code: .readOnlyStream) { _ in
            { _ = try PMemStream(medium: SimulatedMedium(size: 64 * 1024), configuration: .init(access: .readOnly)) }
        },
        Row(name: "a corrupted entry met while iterating (P6)", code: .corruptedEntry) { medium in
            medium.fill(4096 + 64 + 24..<4096 + 64 + 25, with: 0xEE, flags: .persist)
            let stream = try open(medium)
            return { for try await _ in stream.entries() {} }
        },
    ]

    @Test("the error code, and the medium's bytes unchanged", arguments: Self.rows)
    func badInput(row: Row) async throws {
        let medium = try await Self.prepared()
        let operation = try await row.setUp(medium)
        let before = medium.allBytes
        #expect(await thrownErrorCode(operation) == row.code)
        let unchanged = medium.allBytes == before
        #expect(unchanged, "the medium changed")
    }
}
