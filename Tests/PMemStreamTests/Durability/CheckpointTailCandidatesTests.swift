import Dispatch
import PMemStreamTestKit
import Synchronization
import Testing

@testable import PMemStream

extension RegionState {
    /// The state of a region of 60 000 bytes at offset 4096, in a simulated medium of 64 KiB.
    fileprivate static func candidatesFixture() -> RegionState {
        RegionState(
            region: Region(offset: 4096, size: 60_000, sequence: 1, streamInstance: 1),
            medium: SimulatedMedium(size: 64 * 1024),
            timestampCap: ExtentHeader.noCap,
            checkpointTail: 4096 + ExtentHeader.size
        )
    }
}

/// The durable entries a region remembers as candidates for its next checkpoint tail.
@Suite("Checkpoint tail candidates")
struct CheckpointTailCandidatesTests {
    @Test("a checkpoint takes the furthest end at or below its watermark and keeps the newer entries pending")
    func takesTheFurthestCoveredEnd() {
        let state = RegionState.candidatesFixture()
        #expect(state.recordDurable(timestamp: 1, end: 100), "the first entry since a checkpoint touches the region")
        #expect(!state.recordDurable(timestamp: 3, end: 300))
        #expect(!state.recordDurable(timestamp: 2, end: 200))
        let (tail, pending) = state.checkpointTail(upTo: 2)
        #expect(tail == 200 && pending)
        #expect(state.checkpointTail(upTo: 3) == (300, false))
        #expect(state.checkpointTail(upTo: 3) == (nil, false), "nothing recorded since")
    }

    @Test("once full, a new entry replaces the one with the smallest timestamp, also after a checkpoint took some")
    func replacesTheOldest() {
        let state = RegionState.candidatesFixture()
        for timestamp in 1...10 as ClosedRange<UInt64> {  // eight are kept: 3…10
            _ = state.recordDurable(timestamp: timestamp, end: Int(timestamp) * 100)
        }
        #expect(state.checkpointTail(upTo: 2) == (nil, true), "1 and 2 were replaced")
        let (tail, pending) = state.checkpointTail(upTo: 5)
        #expect(tail == 500 && pending)  // 6…10 remain, oldest first
        for timestamp in 11...14 as ClosedRange<UInt64> {  // 11…13 fill the eight places; 14 replaces 6
            _ = state.recordDurable(timestamp: timestamp, end: Int(timestamp) * 100)
        }
        #expect(state.checkpointTail(upTo: 6) == (nil, true), "6, the smallest, was the one replaced")
        #expect(state.checkpointTail(upTo: 7) == (700, true))
    }
}

/// The durable entries a region's writer records without a lock, and how a checkpoint takes them.
@Suite("Checkpoint tail candidates of the writer")
struct WriterCheckpointTailCandidatesTests {
    @Test("the writer registers the region with its first record after a checkpoint that found none waiting")
    func registersAfterIdleCheckpoint() throws {
        let state = RegionState.candidatesFixture()
        #expect(state.recordWriterDurable(timestamp: 1, end: 100), "the first record registers the region")
        #expect(!state.recordWriterDurable(timestamp: 2, end: 200))
        #expect(state.checkpointTail(upTo: 1) == (100, true), "2 waits for a later checkpoint")
        #expect(!state.recordWriterDurable(timestamp: 3, end: 300), "the region is still registered")
        #expect(state.checkpointTail(upTo: 3) == (300, false))
        #expect(state.checkpointTail(upTo: 3) == (nil, false), "nothing recorded since")
        #expect(state.recordWriterDurable(timestamp: 4, end: 400), "registered again after an idle checkpoint")
        #expect(state.checkpointTail(upTo: 4) == (400, false))
    }

    @Test("the writer's records and the rounds' are taken together; the writer's newest eight are kept")
    func keepsTheNewestEight() throws {
        let state = RegionState.candidatesFixture()
        for timestamp in 1...10 as ClosedRange<UInt64> {
            _ = state.recordWriterDurable(timestamp: timestamp, end: Int(timestamp) * 100)
        }
        _ = state.recordDurable(timestamp: 11, end: 1100)
        #expect(state.checkpointTail(upTo: 2) == (nil, true), "1 and 2 were replaced")
        #expect(state.checkpointTail(upTo: 10) == (1000, true))
        #expect(state.checkpointTail(upTo: 11) == (1100, false))
    }

    @Test("the writer's records, taken after a round's newer entries, replace older ones only")
    func writerRecordsKeepNewerRoundEntries() throws {
        let state = RegionState.candidatesFixture()
        _ = state.recordDurable(timestamp: 9, end: 900)
        _ = state.recordDurable(timestamp: 10, end: 1000)
        for timestamp in 1...7 as ClosedRange<UInt64> {
            _ = state.recordWriterDurable(timestamp: timestamp, end: Int(timestamp) * 100)
        }
        // Nine candidates for eight places: 1 gives way, not 9.
        #expect(state.checkpointTail(upTo: 9) == (900, true))
        #expect(state.checkpointTail(upTo: 10) == (1000, false))
    }

    // The limit catches a hang, not slowness: under ThreadSanitizer on two processors, with the whole suite
    // queued for the tasks' pool, a test may wait minutes for a thread.
    @Test(
        "a checkpoint racing the writer takes only whole records at or below its watermark, and the last one",
        .timeLimit(.minutes(5))
    )
    func racingCheckpoints() throws {
        let state = RegionState.candidatesFixture()
        let count: UInt64 = 1_000_000
        let shared = RacingProgress()
        try state.beginWrites(Int(count))
        // A checkpoint runs only while the region is registered, and keeps it registered while it says so.
        let checkpoint = { @Sendable (watermark: UInt64) -> Int? in
            guard shared.registered.exchange(false, ordering: .acquiringAndReleasing) else { return nil }
            let (tail, pending) = state.checkpointTail(upTo: watermark)
            if pending {
                shared.registered.store(true, ordering: .releasing)
            }
            return tail
        }
        // A thread of its own: the loop below spins on this task's thread, and the tasks' pool may have no other.
        let writerFinished = DispatchSemaphore(value: 0)
        DispatchQueue(label: "PMemStreamTests.racingWriter").async {
            for timestamp in 1...count {
                if state.recordWriterDurable(timestamp: timestamp, end: Int(timestamp) * 64) {
                    shared.registered.store(true, ordering: .releasing)
                }
                shared.recorded.store(timestamp, ordering: .releasing)
            }
            writerFinished.signal()
        }
        var furthest = 0
        var torn: [(watermark: UInt64, tail: Int)] = []
        var round: UInt64 = 0
        while shared.recorded.load(ordering: .acquiring) < count {
            // Every other checkpoint covers all records (and may find the region idle); the others stop below
            // the newest, so that records wait for a later checkpoint, and a record torn between an older
            // timestamp and a newer end shows as a tail beyond the watermark.
            round += 1
            let newest = shared.recorded.load(ordering: .acquiring)
            let watermark = round % 2 == 0 ? UInt64(Int.max / 64) : newest - newest % 3
            if let tail = checkpoint(watermark) {
                if tail > Int(watermark) * 64 {
                    torn.append((watermark, tail))
                }
                furthest = max(furthest, tail)
            }
        }
        writerFinished.wait()  // at once: the writer's last store is behind it
        while let tail = checkpoint(count) {
            furthest = max(furthest, tail)
        }
        #expect(torn.isEmpty, "tails beyond the watermark: \(torn.prefix(5))")
        #expect(furthest == Int(count) * 64, "the last record reached a checkpoint")
        let stillRegistered = shared.registered.load(ordering: .acquiring)
        #expect(!stillRegistered)
    }

    /// What the writer and the checkpoints of ``racingCheckpoints()`` share.
    private final class RacingProgress: Sendable {
        /// The newest timestamp recorded.
        let recorded = Atomic<UInt64>(0)
        /// Whether the region is registered for the next checkpoint.
        let registered = Atomic(false)
    }
}
