import PMemStreamTestKit
import Synchronization
import Testing

@testable import PMemStream

/// The lifetime of a writer's ``GroupCommit/RegionQueue`` and of the lane it owns.
@Suite("Region queues and their lanes")
struct RegionQueueLifetimeTests {
    /// A receipt may be kept long after its entry persisted (to read `receipt.entry`, or in a list of
    /// receipts waited for later). Once the region is freed and the stream has dropped its writer, the
    /// lane must go back to the free ones: otherwise a new writer takes the shared lane, behind a lock.
    @Test("a receipt kept past its region's free does not keep the freed writer's lane")
    func receiptDoesNotPinTheLane() async throws {
        let (stream, _) = try makeStream(size: 1 << 20)
        var regions: [Region] = []
        var writers: [RegionWriter?] = []
        for _ in 0..<LaneFloors.ownedCount {
            let region = try await stream.allocateRegion(size: 8192)
            regions.append(region)
            writers.append(try await stream.writer(for: region))
        }
        #expect(await writers[0]!.queue.lane.line != LaneFloors.sharedLane)
        let receipt = try await writers[0]!.appendAsync([1, 2, 3])
        try await receipt.persisted()
        try await stream.free(regions[0])
        writers[0] = nil

        let replacement = try await stream.writer(for: try await stream.allocateRegion(size: 8192))
        let line = await replacement.queue.lane.line
        #expect(line != LaneFloors.sharedLane, "the receipt kept the freed writer, and with it a lane")
        withExtendedLifetime((receipt, writers)) {}
    }
}

/// When group commit wakes its persist worker.
@Suite("Waking the persist worker with a queue per region")
struct RegionQueueWakeTests {
    /// While somebody waits for persistence, the first entry since the last round wakes the worker; the
    /// first entries of other regions' queues must not wake it again. Every wake is a `sem_post`: they add
    /// up, and the worker would run that many rounds back to back, each with fewer entries per drain.
    @Test("while a task waits for persistence, entries queued in ten regions wake the worker once, not ten times")
    func oneWakePerRoundAcrossRegions() async throws {
        let medium = PageGranularMedium(size: 1 << 20)
        let stream = try PMemStream(
            medium: medium,
            configuration: .init(persistWorkers: 1, checkpointInterval: .seconds(3600))
        )
        var writers: [RegionWriter] = []
        for _ in 0..<10 {
            writers.append(try await stream.writer(for: try await stream.allocateRegion(size: 8192)))
        }
        let wakes = WakeCount()
        // The worker now runs only when its interval passes (an hour): no round runs in this test but ours.
        await stream.groupCommit.setWakeHandler { wakes.value.add(1, ordering: .relaxed) }
        let first = try await writers[0].appendAsync([0])
        let waiter = Task { try await first.persisted() }
        while wakes.value.load(ordering: .relaxed) == 0 {
            await Task.yield()
        }
        for writer in writers.dropFirst() {
            _ = try await writer.appendAsync([1])
        }
        let woken = wakes.value.load(ordering: .relaxed)
        await stream.persistCommitted()
        try await waiter.value
        try await stream.close()
        #expect(woken <= 2, "\(woken) wakes for one round's worth of entries")
    }
}

private final class WakeCount: Sendable {
    let value = Atomic(0)
}
