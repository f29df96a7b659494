import Testing

@testable import PMemStream

/// The watermarks computed from the lanes' floors (see ``DurabilityTracker``), driven by hand: which
/// writer takes and publishes which timestamp, and what group commit holds.
@Suite("Watermarks from the lanes' floors")
struct LaneFloorsTests {
    @Test("committed moves over the contiguous prefix only, whichever writer publishes first")
    func contiguousPrefixAcrossWriters() {
        let tracker = DurabilityTracker(persistedTimestamp: 10)
        var first = tracker.floors.claim()
        var second = tracker.floors.claim()
        #expect(tracker.takeTimestamps(1, in: &first) == 11)
        #expect(tracker.takeTimestamps(2, in: &second) == 12)
        tracker.published(in: &second, next: LaneFloors.none)
        #expect(tracker.committed.value == 10, "12 and 13 wait for 11")
        #expect(tracker.persisted.value == 10)
        tracker.published(in: &first, next: LaneFloors.none)
        #expect(tracker.committed.value == 13)
        #expect(tracker.persisted.value == 13, "nothing was queued for group commit")
    }

    @Test("a writer's floor holds back its unpublished entries, not its published ones")
    func partialPublication() {
        let tracker = DurabilityTracker(persistedTimestamp: 0)
        var writer = tracker.floors.claim()
        var other = tracker.floors.claim()
        #expect(tracker.takeTimestamps(1, in: &writer) == 1)
        #expect(tracker.takeTimestamps(1, in: &other) == 2)
        #expect(tracker.takeTimestamps(1, in: &writer) == 3)
        tracker.published(in: &other, next: LaneFloors.none)
        tracker.published(in: &writer, next: 3)
        #expect(tracker.committed.value == 2)
        tracker.published(in: &writer, next: LaneFloors.none)
        #expect(tracker.committed.value == 3)
    }

    @Test(
        "entries queued for group commit hold persisted back until their round has flushed them",
        arguments: [false, true]
    )
    func queuedEntriesHoldPersistedBack(sharingALane: Bool) {
        let tracker = DurabilityTracker(persistedTimestamp: 0)
        if sharingALane {
            for _ in 0..<LaneFloors.ownedCount { _ = tracker.floors.claim() }
        }
        var writer = tracker.floors.claim()
        #expect((writer.line == LaneFloors.sharedLane) == sharingALane)
        var other = tracker.floors.claim()
        #expect(tracker.takeTimestamps(1, in: &writer) == 1)
        tracker.floors.queued(1, in: writer)
        tracker.published(in: &writer, next: LaneFloors.none)
        #expect(tracker.committed.value == 1)
        #expect(tracker.persisted.value == 0)

        tracker.floors.startFlushing(writer)
        #expect(tracker.takeTimestamps(1, in: &writer) == 2)
        tracker.floors.queued(2, in: writer)
        tracker.published(in: &writer, next: LaneFloors.none)
        #expect(tracker.takeTimestamps(1, in: &other) == 3)
        tracker.published(in: &other, next: LaneFloors.none)
        #expect(tracker.committed.value == 3)
        #expect(tracker.persisted.value == 0, "entry 1 is being flushed")

        tracker.floors.flushed()
        tracker.advanceWatermarks()
        #expect(tracker.persisted.value == 1, "entry 2 is still queued")
        tracker.floors.startFlushing(writer)
        tracker.floors.flushed()
        tracker.advanceWatermarks()
        #expect(tracker.persisted.value == 3)
    }

    @Test("writers beyond the owned lanes share one, which holds each of them back; released lanes return")
    func sharedLane() {
        let tracker = DurabilityTracker(persistedTimestamp: 0)
        var owned = (0..<LaneFloors.ownedCount).map { _ in tracker.floors.claim() }
        #expect(Set(owned.map(\.line)).count == LaneFloors.ownedCount)
        #expect(!owned.contains { $0.line == LaneFloors.sharedLane })
        var sharing = [tracker.floors.claim(), tracker.floors.claim()]
        #expect(sharing.allSatisfy { $0.line == LaneFloors.sharedLane })

        #expect(tracker.takeTimestamps(1, in: &sharing[0]) == 1)
        #expect(tracker.takeTimestamps(1, in: &sharing[1]) == 2)
        #expect(tracker.takeTimestamps(1, in: &owned[5]) == 3)
        tracker.published(in: &sharing[1], next: LaneFloors.none)
        tracker.published(in: &owned[5], next: LaneFloors.none)
        #expect(tracker.committed.value == 0, "the first sharing writer still holds 1")
        tracker.published(in: &sharing[0], next: LaneFloors.none)
        #expect(tracker.committed.value == 3)

        let released = owned.remove(at: 5)
        tracker.floors.release(released)
        #expect(tracker.floors.claim().line == released.line)
    }

    /// An asynchronous append queues its entry and then publishes it without scanning
    /// (`DurabilityTracker.publishedQueued(in:next:last:)`); a round may take the queue in between.
    @Test(
        "an asynchronous publication scans when a round took its entry first, and leaves the scan to the round otherwise",
        arguments: [false, true]
    )
    func queuedPublication(onSharedLane: Bool) {
        let tracker = DurabilityTracker(persistedTimestamp: 0)
        let owned = onSharedLane ? (0..<LaneFloors.ownedCount).map { _ in tracker.floors.claim() } : []
        var writer = tracker.floors.claim()
        var other = tracker.floors.claim()
        #expect((writer.line == LaneFloors.sharedLane) == onSharedLane && !owned.isEmpty == onSharedLane)

        // The round takes the entry, drains and scans while the writer's floor still holds it back.
        let first = tracker.takeTimestamps(1, in: &writer)
        tracker.floors.queued(first, in: writer)
        tracker.floors.startFlushing(writer)
        tracker.floors.flushed()
        tracker.advanceWatermarks()
        #expect(tracker.persisted.value == 0)
        tracker.publishedQueued(in: &writer, next: LaneFloors.none, last: first)
        #expect(tracker.committed.value == first && tracker.persisted.value == first, "nobody else would scan")

        // Still queued when published: the round that takes it scans after its drain.
        let second = tracker.takeTimestamps(1, in: &writer)
        tracker.floors.queued(second, in: writer)
        tracker.publishedQueued(in: &writer, next: LaneFloors.none, last: second)
        #expect(tracker.committed.value == first, "no scan without a waiter")
        #expect(tracker.upToDateCommitted == second && tracker.persisted.value == first)
        tracker.floors.startFlushing(writer)
        tracker.floors.flushed()
        tracker.advanceWatermarks()
        #expect(tracker.persisted.value == second)

        // A round takes the writer's queue while another writer's entry waits in its own: on the shared
        // lane that entry keeps the floor down, so the writer leaves the scan to the round that takes it.
        let third = tracker.takeTimestamps(1, in: &other)
        tracker.floors.queued(third, in: other)
        tracker.published(in: &other, next: LaneFloors.none)
        let fourth = tracker.takeTimestamps(1, in: &writer)
        tracker.floors.queued(fourth, in: writer)
        tracker.floors.startFlushing(writer)
        tracker.floors.flushed()
        tracker.advanceWatermarks()
        tracker.publishedQueued(in: &writer, next: LaneFloors.none, last: fourth)
        #expect(tracker.persisted.value == second, "the third is still queued")
        tracker.floors.startFlushing(other)
        tracker.floors.flushed()
        tracker.advanceWatermarks()
        #expect(tracker.committed.value == fourth && tracker.persisted.value == fourth)
    }

    /// A synchronous append publishes entries it drained first (`DurabilityTracker.publishedDurable`).
    @Test(
        "a durable publication tells whether its entries are persisted, and raises the watermarks only for a waiter",
        .timeLimit(.minutes(1))
    )
    func durablePublication() async throws {
        let tracker = DurabilityTracker(persistedTimestamp: 0)
        var writer = tracker.floors.claim()
        var other = tracker.floors.claim()
        let first = tracker.takeTimestamps(1, in: &writer)
        #expect(tracker.publishedDurable(in: &writer, next: LaneFloors.none, last: first))
        #expect(tracker.committed.value == 0 && tracker.persisted.value == 0, "nobody waits: no raise")
        #expect(tracker.upToDatePersisted == first && tracker.committed.value == first)

        // Another writer's earlier entry, published and queued for group commit, holds this one back.
        let queued = tracker.takeTimestamps(1, in: &other)
        tracker.floors.queued(queued, in: other)
        tracker.publishedQueued(in: &other, next: LaneFloors.none, last: queued)
        let second = tracker.takeTimestamps(1, in: &writer)
        #expect(!tracker.publishedDurable(in: &writer, next: LaneFloors.none, last: second))

        // A task that waits for it is resumed by the round that makes the queued entry durable.
        let waiter = Task { try await tracker.waitPersisted(until: second) }
        while !tracker.persisted.hasWaiters {
            await Task.yield()
        }
        tracker.floors.startFlushing(other)
        tracker.floors.flushed()
        tracker.advanceWatermarks()
        try await waiter.value

        // With a task waiting for a later timestamp, the writer raises the watermarks itself.
        let third = tracker.takeTimestamps(1, in: &writer)
        let fourth = tracker.takeTimestamps(1, in: &other)
        let laterWaiter = Task { try await tracker.waitPersisted(until: fourth) }
        while !tracker.persisted.hasWaiters {
            await Task.yield()
        }
        #expect(tracker.publishedDurable(in: &writer, next: LaneFloors.none, last: third))
        #expect(tracker.persisted.value == third, "raised for the waiter")
        #expect(tracker.publishedDurable(in: &other, next: LaneFloors.none, last: fourth))
        try await laterWaiter.value

        // A wait that starts after a publication that raised nothing raises the watermark once registered.
        let fifth = tracker.takeTimestamps(1, in: &writer)
        #expect(tracker.publishedDurable(in: &writer, next: LaneFloors.none, last: fifth))
        #expect(tracker.persisted.value == fourth)
        try await tracker.waitPersisted(until: fifth)
        #expect(tracker.persisted.value == fifth)
    }
}
