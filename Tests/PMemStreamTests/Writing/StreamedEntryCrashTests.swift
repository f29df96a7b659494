import PMemStreamTestKit
import Testing

@testable import PMemStream

/// Large entries, whose whole lines are flushed as they are copied and whose first and last lines are
/// flushed after the seal (`Docs/Format.md`, "Appending"), at every position of their data in a cache line.
///
/// A later append flushes the line the previous entry ends in again, which would hide a missing flush of
/// that line; here power fails right after the append returns, before anything else is written.
@Suite("Large entries across power failures")
struct StreamedEntryCrashTests {
    /// How the large entry is appended.
    enum Way: String, CaseIterable, CustomTestStringConvertible {
        case synchronous
        case batchAlone
        case batchBetweenSmallEntries
        /// Beside an entry of 1 – 2 KiB, which a batch does not stream, and another streamed entry.
        case batchOfMixedSizes
        case asynchronous
        /// While an asynchronous append to the same region is still being copied: the path of entries
        /// that wait in the region's in-flight list.
        case synchronousBehindAsynchronous
        case batchBehindAsynchronous

        var testDescription: String { self.rawValue }

        /// Whether an asynchronous append is held in the data mover while the large entry is appended.
        var isBehindAsynchronous: Bool {
            self == .synchronousBehindAsynchronous || self == .batchBehindAsynchronous
        }
    }

    /// A stream on `medium` with no background workers: the asynchronous cases make their entries durable
    /// with `persistCommitted()`.
    private func stream(on medium: SimulatedMedium, mover: HeldDataMover? = nil) throws -> PMemStream {
        try PMemStream(
            medium: medium,
            configuration: PMemStream.Configuration(
                blockSize: 4096,
                persistWorkers: 0,
                dataMover: mover ?? SynchronousDataMover()
            )
        )
    }

    /// Appends `bytes` the given way and returns the large entry once it is acknowledged persisted, with
    /// every entry the call appended, in order.
    private func appendDurably(
        _ bytes: [UInt8],
        _ way: Way,
        to writer: RegionWriter,
        of stream: PMemStream,
        mover: HeldDataMover?
    ) async throws -> (entry: Entry, appended: [[UInt8]]) {
        switch way {
        case .synchronous:
            return (try await writer.append(bytes), [bytes])
        case .batchAlone:
            return (try await writer.append(contentsOf: [bytes])[0], [bytes])
        case .batchBetweenSmallEntries:
            let batch = [[1, 2, 3], bytes, [4]]
            return (try await writer.append(contentsOf: batch)[1], batch)
        case .batchOfMixedSizes:
            let batch = [[1, 2, 3], testBytes(1500, seed: 5), bytes, testBytes(2500, seed: 6), [4]]
            return (try await writer.append(contentsOf: batch)[2], batch)
        case .asynchronous:
            let receipt = try await writer.appendAsync(bytes)
            await stream.persistCommitted()
            try await receipt.persisted()
            return (receipt.entry, [bytes])
        case .synchronousBehindAsynchronous, .batchBehindAsynchronous:
            let mover = try #require(mover)
            let held = Task { try await writer.appendAsync([9, 9]) }
            await mover.waitUntilHolding()
            let large = Task {
                way == .synchronousBehindAsynchronous
                    ? try await writer.append(bytes) : try await writer.append(contentsOf: [[7], bytes])[1]
            }
            // Until the large entry is written, drained and sealed, and waits for the held entry. Bounded, so
            // that a large append that throws fails the test instead of hanging it.
            try #require(await writer.waitUntilSealedInFlight(way == .synchronousBehindAsynchronous ? 1 : 2))
            mover.release()
            _ = try await held.value
            await stream.persistCommitted()
            let entry = try await large.value
            return (entry, way == .synchronousBehindAsynchronous ? [[9, 9], bytes] : [[9, 9], [7], bytes])
        }
    }

    /// A new stream with a region of `regionSize` bytes whose first entry holds `lead` bytes, so that the next
    /// one starts `lead` bytes further into a cache line; with a held data mover when `way` needs one.
    private func regionAfterLead(
        _ lead: Int,
        regionSize: Int,
        for way: Way
    ) async throws -> (
        medium: SimulatedMedium, stream: PMemStream, region: Region, writer: RegionWriter, mover: HeldDataMover?,
        lead: [UInt8]
    ) {
        let medium = SimulatedMedium(size: 64 * 1024)
        let mover = way.isBehindAsynchronous ? HeldDataMover() : nil
        let stream = try self.stream(on: medium, mover: mover)
        let region = try await stream.allocateRegion(size: regionSize)
        let writer = try await stream.writer(for: region)
        let small = testBytes(lead, seed: lead + 1)
        _ = try await writer.append(small)
        return (medium, stream, region, writer, mover, small)
    }

    /// Cuts power in every standard way and checks that the region holds exactly `expected`.
    private func expectAfterPowerFailure(
        _ medium: SimulatedMedium,
        region: Region,
        holds expected: [[UInt8]],
        _ context: String
    ) async throws {
        for mode in [CrashMode.drainedOnly, .tornWords(seed: 3)] {
            let restarted = try self.stream(on: SimulatedMedium(image: medium.crash(mode)))
            let recovered = try await restarted.region(atOffset: region.offset)
            let found = try await restarted.entries(in: recovered).collect().map { try $0.bytes }
            #expect(found == expected, "\(context), \(mode)")
        }
    }

    @Test(
        "an entry streamed as it is copied is whole after a power failure right after it is persisted",
        .timeLimit(.minutes(5)),
        arguments: Way.allCases
    )
    func durableAtEveryPositionInALine(way: Way) async throws {
        var positions = Set<[Int]>()
        // The small entry moves the large one's start by 8 bytes a step, the large one's size its end. From
        // 1 KiB a lone synchronous append streams; from 2 KiB every append does (2 040 and 2 048 straddle that);
        // entries of about 9 KiB are checksummed and copied in pieces, except asynchronous ones.
        let groups = [
            Array(stride(from: 1024, to: 1088, by: 8)), [2040, 2048], Array(stride(from: 2100, to: 2164, by: 8)),
            Array(stride(from: 9000, to: 9064, by: 8)),
        ]
        for lead in stride(from: 0, through: 56, by: 8) {
            for (group, size) in groups.enumerated().flatMap({ group in group.element.map { (group.offset, $0) } }) {
                let (medium, stream, region, writer, mover, small) = try await self.regionAfterLead(
                    lead,
                    regionSize: 24_000,
                    for: way
                )
                let large = testBytes(size, seed: size + lead)
                let (entry, appended) = try await self.appendDurably(large, way, to: writer, of: stream, mover: mover)
                let dataStart = entry.offset + EntryHeader.size
                positions.insert([group, dataStart % 64, (dataStart + size) % 64])
                try await self.expectAfterPowerFailure(
                    medium,
                    region: region,
                    holds: [small] + appended,
                    "\(way), data at \(dataStart) + \(size)"
                )
            }
        }
        #expect(
            positions.count == 3 * 64 + 2 * 8,
            "every 8-byte position of the data's first and last byte in a line, for each group of sizes"
        )
    }

    @Test(
        "a streamed entry that fills its region to the last byte, with no terminator after it, is whole after a power failure",
        .timeLimit(.minutes(5)),
        arguments: [Way.synchronous, .batchAlone, .asynchronous, .synchronousBehindAsynchronous]
    )
    func durableToTheRegionsEnd(way: Way) async throws {
        for lead in stride(from: 0, through: 56, by: 8) {
            // About 20 KiB: every way checksums and copies the entry in pieces.
            let (medium, stream, region, writer, mover, small) = try await self.regionAfterLead(
                lead,
                regionSize: 20_000,
                for: way
            )
            // What is left, less the header of the large entry and, behind an asynchronous append, that
            // entry's 32 bytes.
            let size = await writer.availableSize - EntryHeader.size - (way.isBehindAsynchronous ? 32 : 0)
            let large = testBytes(size, seed: lead)
            let (entry, appended) = try await self.appendDurably(large, way, to: writer, of: stream, mover: mover)
            #expect(await writer.availableSize == 0, "the entry at \(entry.offset) fills the region")
            try await self.expectAfterPowerFailure(
                medium,
                region: region,
                holds: [small] + appended,
                "\(way), \(size) bytes at \(entry.offset)"
            )
        }
    }
}
