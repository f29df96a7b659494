import PMemStreamTestKit
import Testing

@testable import PMemStream

/// A writer killed with data stored over a stale header of an earlier crash, never flushed: the next writer
/// sees that data, while the medium still holds the stale header. What it appends there must not let the
/// stale entry come back after a power failure.
@Suite("Stale headers under a killed writer's unflushed data")
struct KilledWriterStaleHeaderTests {
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)
    static let staleB = [UInt8](repeating: 0xCD, count: 40)

    /// The medium a killed writer leaves: r1 holds [1], [2], [3] persisted, then stale entries A (timestamp
    /// 5, `sizeOfA` bytes) and B (timestamp 6, 40 bytes) of a first session, durable beyond its gap at 4. A
    /// second session cut r1's tail at A and reserved an empty asynchronous entry there (held in its data
    /// mover); its synchronous append of `sizeOfA` + 128 bytes after it covered B's header, and the writer was
    /// killed just before that append's drain.
    private func killedOverAStaleHeader(sizeOfA: Int) async throws -> (medium: SimulatedMedium, r1: Region, r2: Region)
    {
        let staleA = [UInt8](repeating: 0xAB, count: sizeOfA)
        let (medium, r1, r2) = try await sessionWithStaleTail([staleA, Self.staleB])
        let mover = HeldDataMover()
        let stream = try PMemStream(
            medium: medium,
            configuration: .init(blockSize: 4096, persistWorkers: 0, dataMover: mover)
        )
        let writer = try await stream.writer(for: try await stream.region(atOffset: r1.offset))
        let held = Task { try await writer.appendAsync([]) }
        await mover.waitUntilHolding()
        medium.cutPower(atPersistPoint: medium.persistPointCount + 1)
        let covering = Task { try await writer.append(testBytes(sizeOfA + 128, seed: 7)) }
        while !medium.isPowerCut {
            await Task.yield()
        }
        let killed = medium.killed()
        mover.release()
        _ = try await held.value
        _ = try await covering.value
        // After the region header: [1], [2], [3] (32 bytes each), then A (24 + `sizeOfA` bytes), then B's header.
        let staleBHeader = r1.offset + ExtentHeader.size + 3 * 32 + 24 + sizeOfA
        #expect(killed.word(at: staleBHeader) != SimulatedMedium(image: killed.crash()).word(at: staleBHeader))
        return (killed, r1, r2)
    }

    /// How the next writer appends its entry.
    enum Append: CaseIterable {
        /// Alone, written with non-temporal stores (as on AMD CPUs; see `RegionWriter.nonTemporalSizes`).
        case loneNonTemporal
        /// Alone, copied and flushed (as on other CPUs).
        case loneCopied
        /// In a batch of one, copied and flushed.
        case batch
        /// In a batch of one, of an entry large enough to be written with non-temporal stores on any CPU
        /// (see `RegionWriter.nonTemporalBatchSizes`).
        case batchNonTemporal

        /// The size of the appended entry, and of the stale entry A whose place it takes.
        var size: Int { self == .batchNonTemporal ? 520 : 72 }
    }

    @Test(
        "the next writer's entry whose terminator falls on the hidden stale header: power cut at every persist point",
        arguments: Append.allCases
    )
    func staleHeaderUnderUnflushedData(append: Append) async throws {
        let (killed, r1, r2) = try await self.killedOverAStaleHeader(sizeOfA: append.size)
        let appended = testBytes(append.size, seed: 9)  // A's size: its terminator lies where B's header is
        // Many random choices of lines: the state that matters keeps the entry's lines and loses the next one.
        let modes = CrashMode.standardModes + (5...36).map { CrashMode.randomLines(seed: $0) }
        let states = try await forEachCrashState(startingFrom: { killed.killed() }, modes: modes) { medium in
            let stream = try PMemStream(medium: medium, configuration: Self.configuration)
            _ = try await stream.writer(for: try await stream.region(atOffset: r2.offset)).append([44])
            let writer = try await RegionWriter.$nonTemporalSizesOverride.withValue(
                append == .loneNonTemporal ? 0...4096 : 512...4096
            ) {
                try await stream.writer(for: try await stream.region(atOffset: r1.offset))
            }
            switch append {
            case .loneNonTemporal, .loneCopied:
                #expect(await writer.loneNonTemporalSizes?.contains(appended.count) == (append == .loneNonTemporal))
                _ = try await writer.append(appended)
            case .batch, .batchNonTemporal:
                #expect(RegionWriter.nonTemporalBatchSizes.contains(appended.count) == (append == .batchNonTemporal))
                _ = try await writer.append(contentsOf: [appended])
            }
        } check: { state in
            let stream = try PMemStream(medium: state.restart(), configuration: Self.configuration)
            let entries = try await stream.entries().collect()
            let expected: [[UInt8]] = [[1], [2], [3], [44], appended]
            #expect(stream.persistedTimestamp <= 5, "\(state)")
            #expect(entries.map(\.timestamp) == Array(1...stream.persistedTimestamp), "\(state)")
            #expect(try entries.map { try $0.bytes } == Array(expected.prefix(entries.count)), "\(state)")
        }
        #expect(states > modes.count)
    }
}
