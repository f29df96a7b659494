import PMemStreamTestKit
import Testing

@testable import PMemStream

/// The durable entries a region remembers as candidates for its next checkpoint tail.
@Suite("Checkpoint tail candidates")
struct CheckpointTailCandidatesTests {
    private func regionState() -> RegionState {
        RegionState(
            region: Region(offset: 4096, size: 60_000, sequence: 1, streamInstance: 1),
            medium: SimulatedMedium(size: 64 * 1024),
            timestampCap: ExtentHeader.noCap,
            checkpointTail: 4096 + ExtentHeader.size
        )
    }

    @Test("a checkpoint takes the furthest end at or below its watermark and keeps the newer entries pending")
    func takesTheFurthestCoveredEnd() {
        let state = self.regionState()
        #expect(state.recordDurable(timestamp: 1, end: 100), "the first entry since a checkpoint touches the region")
        #expect(!state.recordDurable(timestamp: 3, end: 300))
        #expect(!state.recordDurable(timestamp: 2, end: 200))
        let (tail, pending) = state.checkpointTail(upTo: 2)
        #expect(tail == 200 && pending)
        #expect(state.checkpointTail(upTo: 3) == (300, false))
        #expect(state.checkpointTail(upTo: 3) == (nil, false), "nothing recorded since")
    }

    @Test("once full, a new entry replaces the oldest one, also after a checkpoint took some")
    func replacesTheOldest() {
        let state = self.regionState()
        for timestamp in 1...10 as ClosedRange<UInt64> {  // eight are kept: 3…10
            _ = state.recordDurable(timestamp: timestamp, end: Int(timestamp) * 100)
        }
        #expect(state.checkpointTail(upTo: 2) == (nil, true), "1 and 2 were replaced")
        let (tail, pending) = state.checkpointTail(upTo: 5)
        #expect(tail == 500 && pending)  // 6…10 remain, oldest first
        for timestamp in 11...14 as ClosedRange<UInt64> {  // 11…13 fill the eight places; 14 replaces 6
            _ = state.recordDurable(timestamp: timestamp, end: Int(timestamp) * 100)
        }
        #expect(state.checkpointTail(upTo: 6) == (nil, true), "6, the oldest, was the one replaced")
        #expect(state.checkpointTail(upTo: 7) == (700, true))
    }
}
