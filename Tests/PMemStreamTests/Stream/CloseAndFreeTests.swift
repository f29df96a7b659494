import Foundation
import PMemStreamTestKit
import Synchronization
import Testing

@testable import PMemStream

/// Closing and freeing while other work is under way: what a caller that overlaps them relies on.
@Suite("Closing and freeing under way", .timeLimit(.minutes(5)))
struct CloseAndFreeTests {
    /// `close()` promises "nothing committed before close() returns is lost": a second call must not return
    /// before the first has persisted.
    @Test("withPMemStream closes the stream when its body returns, and returns what the body returned")
    func scopedStreamIsClosedAfterwards() async throws {
        let medium = SimulatedMedium(size: 256 * 1024)
        let (kept, region) = try await withPMemStream(medium: medium) { stream in
            (stream, try await stream.allocateRegion(size: 4096))
        }
        #expect(await thrownErrorCode { try await kept.allocateRegion(size: 100) } == .streamClosed)
        let reopened = try PMemStream(medium: medium)
        // A region handle belongs to the stream that made it: compare where the regions are.
        #expect(try await reopened.regions.collect().map { [$0.offset, $0.size] } == [[region.offset, region.size]])
        try await reopened.close()
    }

    @Test("a second close() returns only when the first one has persisted what was committed")
    func secondCloseWaitsForTheFirst() async throws {
        let (medium, stream, mover, r1, r2) = try await streamWithHeldMover()
        // Timestamp 1: committed, queued for group commit, not persisted (no data mover involved).
        let reservation = try await stream.writer(for: r1).reserve(8)
        reservation.withUnsafeMutableBytes { $0.copyBytes(from: [1, 2, 3, 4, 5, 6, 7, 8]) }
        let receipt = try await reservation.publishAsync()
        #expect(stream.committedTimestamp == 1)
        // Timestamp 2: an asynchronous append whose copy is still under way, so the first close waits for it.
        let held = Task { try await stream.writer(for: r2).appendAsync([9]) }
        await mover.waitUntilHolding()
        let first = Task { try await stream.close() }
        while await stream.isOpen() {
            await Task.yield()
        }
        let secondReturned = Lock(false)
        let second = Task {
            try await stream.close()
            // Power fails as soon as the second close() returns.
            let image = medium.crash(.drainedOnly)
            secondReturned.withLock { $0 = true }
            return image
        }
        for _ in 0..<200 {
            await Task.yield()
        }
        #expect(!secondReturned.withLock { $0 }, "the second close() returned while the first waits for a copy")
        mover.release()
        _ = try await held.value
        let image = try await second.value
        try await first.value
        let reopened = try PMemStream(medium: SimulatedMedium(image: image), configuration: .init(blockSize: 4096))
        #expect(
            reopened.persistedTimestamp >= receipt.timestamp,
            "timestamp 1 was committed before close() returned, yet it is lost"
        )
    }

    /// Two regions; timestamp 1 appended asynchronously to `r2`, its round held in the drain.
    private struct HeldRound {
        let medium = GatedMedium(size: 1 << 20)
        let stream: PMemStream
        let r2: Region
        let w1: RegionWriter
        let w2: RegionWriter

        init() async throws {
            self.stream = try PMemStream(medium: self.medium, configuration: .init(blockSize: 4096, persistWorkers: 1))
            let r1 = try await self.stream.allocateRegion(size: 4032)
            self.r2 = try await self.stream.allocateRegion(size: 4032)
            self.w1 = try await self.stream.writer(for: r1)
            self.w2 = try await self.stream.writer(for: self.r2)
            self.medium.holdDrains()
            _ = try await self.w2.appendAsync([1])
            while !self.medium.isHoldingDrain {
                await Task.yield()
            }
        }

        /// Frees `r2`, which waits for the held round; meanwhile timestamp 2 (in the other region) wakes
        /// the followers; then cancels the free and lets the round go on.
        func cancelFreeWhileItWaits() async throws {
            let free = Task { try await self.stream.free(self.r2) }
            while await self.stream.freeHasNotStarted(self.r2) {
                await Task.yield()
            }
            for _ in 0..<200 { await Task.yield() }
            _ = try await self.w1.appendAsync([2])
            for _ in 0..<200 { await Task.yield() }
            free.cancel()
            #expect(await thrownErrorCode { try await free.value } == .cancelled)
            self.medium.releaseDrains()
        }
    }

    /// The timestamps `sequence` yields, up to and including `last`.
    private static func timestamps(
        of sequence: some AsyncSequence<Entry, PMemStreamError> & Sendable,
        through last: UInt64
    ) -> Task<[UInt64], any Error> {
        Task {
            var seen: [UInt64] = []
            for try await entry in sequence {
                seen.append(entry.timestamp)
                if entry.timestamp == last { break }
            }
            return seen
        }
    }

    /// `free(_:)` waits for a checkpoint before it frees, and a cancelled free leaves the region as it was:
    /// a follower woken during that wait must not finish, since the region is never freed.
    @Test("a cancelled free does not end a follower of the region, which stays allocated")
    func cancelledFreeKeepsFollower() async throws {
        let held = try await HeldRound()
        let follower = Self.timestamps(of: held.stream.entries(in: held.r2, follow: true), through: 3)
        try await held.cancelFreeWhileItWaits()
        #expect(try await held.w2.append([3]).timestamp == 3, "the region is still allocated and writable")
        #expect(try await follower.value == [1, 3], "the follower ended although its region was never freed")
        try await held.stream.close()
    }

    /// The same window for `entries(since:follow:)`: the merged follower must keep the region whose free
    /// is pending, and yield its later entries once the free is cancelled.
    @Test("a cancelled free does not make the merged follower skip the region's later entries")
    func cancelledFreeKeepsMergedFollower() async throws {
        let held = try await HeldRound()
        let follower = Self.timestamps(of: held.stream.entries(since: 0, follow: true), through: 4)
        for _ in 0..<200 { await Task.yield() }
        try await held.cancelFreeWhileItWaits()
        _ = try await held.w2.append([3])
        _ = try await held.w1.append([4])
        #expect(try await follower.value == [1, 2, 3, 4], "the merged follower skipped entry 3 of a live region")
        try await held.stream.close()
    }

    /// While a free waits for its checkpoint, writes to the region are refused with `regionInUse`: the free
    /// may still be cancelled, and then the region was never freed.
    @Test("an append during a free that is then cancelled is refused with regionInUse, not regionFreed")
    func appendDuringCancelledFree() async throws {
        let (_, stream, mover, r1, r2) = try await streamWithHeldMover()
        let held = Task { try await stream.writer(for: r2).appendAsync([99]) }  // timestamp 1, held
        await mover.waitUntilHolding()
        let w1 = try await stream.writer(for: r1)
        let first = await appendWritten([1], to: w1)  // timestamp 2: written, waits for timestamp 1
        let free = Task { try await stream.free(r1) }  // waits for a checkpoint covering timestamp 2
        while await stream.freeHasNotStarted(r1) {
            await Task.yield()
        }
        #expect(await thrownErrorCode { _ = try await w1.appendAsync([3]) } == .regionInUse)
        // Synchronous appends with nothing of the region in flight are not counted as writes; they check the
        // free's flag under the writer's lock instead.
        #expect(await thrownErrorCode { _ = try await w1.append([3]) } == .regionInUse)
        #expect(await thrownErrorCode { _ = try await w1.append(contentsOf: [[3], [4]]) } == .regionInUse)
        free.cancel()
        #expect(await thrownErrorCode { try await free.value } == .cancelled)
        mover.release()
        _ = try await held.value
        _ = try await first.value
        #expect(try await w1.append([4]).timestamp == 3, "the region is still allocated and writable")
        try await stream.close()
    }

    /// A free marks the region under its writer's lock, so an append with nothing else of the region in
    /// flight either ends before the free looks (and the free's checkpoint covers it) or is refused; none
    /// writes into a region being freed.
    @Test("a free racing appends on its region: each append returns before it or is refused")
    func freeRacingAppends() async throws {
        let medium = SimulatedMedium(size: 1024 * 1024)
        let stream = try PMemStream(medium: medium, configuration: .init(blockSize: 4096))
        let kept = try await stream.allocateRegion(size: 64 * 1024)
        let keptEntry = try await stream.writer(for: kept).append([7])
        let freed = try await stream.allocateRegion(size: 256 * 1024)
        let writer = try await stream.writer(for: freed)
        let appends = Task { () -> (returned: [UInt64], refusal: PMemStreamError.Code?) in
            var returned: [UInt64] = []
            while true {
                do {
                    let index = returned.count
                    switch index % 3 {
                    case 0: returned.append(try await writer.append([UInt8(truncatingIfNeeded: index)]).timestamp)
                    case 1: returned.append(try await writer.append(contentsOf: [[1], [2]]).last!.timestamp)
                    default: returned.append(try await writer.appendAsync([3]).timestamp)
                    }
                } catch {
                    return (returned, (error as? PMemStreamError)?.code)
                }
                await Task.yield()
            }
        }
        while stream.committedTimestamp < 20 {
            await Task.yield()
        }
        try await stream.free(freed)
        let (returned, refusal) = await appends.value
        #expect(
            refusal == .regionFreed || refusal == .regionInUse,
            "the appends ended with \(String(describing: refusal))"
        )
        #expect(returned.count >= 10)
        // Every timestamp an append returned is persisted: the free's checkpoint covered it.
        #expect(stream.persistedTimestamp >= returned.max()!)
        // After a power failure the freed region is gone and the other one whole.
        let reopened = try PMemStream(medium: SimulatedMedium(image: medium.crash(.drainedOnly)))
        #expect(try await reopened.regions.collect().map(\.offset) == [kept.offset])
        let entries = try await reopened.entries(in: reopened.region(atOffset: kept.offset)).collect()
        #expect(try entries.map { [$0.timestamp] + (try $0.bytes).map(UInt64.init) } == [[keptEntry.timestamp, 7]])
        try await reopened.close()
        try await stream.close()
    }

    /// A synchronous append with nothing else of its region in flight does not count itself as a write under
    /// way: it checks the free's flag under the writer's lock, so the free must mark the region under the
    /// same lock, or an append that checked just before would write on into the region being freed.
    @Test("a free marks the region only once the writer's lock is free")
    func freeWaitsForTheWritersLock() async throws {
        let stream = try PMemStream(medium: SimulatedMedium(size: 256 * 1024), configuration: .init(blockSize: 4096))
        let region = try await stream.allocateRegion(size: 4096)
        let writer = try await stream.writer(for: region)
        let state = await writer.state
        let holding = Atomic(false)
        let freeStarted = Atomic(false)
        let markedWhileHeld = Atomic(false)
        let looked = Atomic(false)
        // A thread of its own holds the lock, gives the free time to run into it, looks, and lets go: nothing
        // it waits for needs the tasks' pool, which the free may be blocking (it may have a single thread).
        let holder = Thread {
            writer.appendLock.withLock {
                holding.store(true, ordering: .releasing)
                while !freeStarted.load(ordering: .acquiring) {
                    usleep(1000)
                }
                usleep(100_000)
                markedWhileHeld.store((try? state.checkWritable()) == nil, ordering: .releasing)
            }
            looked.store(true, ordering: .releasing)
        }
        holder.start()
        while !holding.load(ordering: .acquiring) {
            await Task.yield()
        }
        let free = Task {
            freeStarted.store(true, ordering: .releasing)
            try await stream.free(region)
        }
        try await free.value
        while !looked.load(ordering: .acquiring) {
            try await Task.sleep(for: .milliseconds(1))
        }
        let marked = markedWhileHeld.load(ordering: .acquiring)
        #expect(!marked, "the free marked the region while the writer's lock was held")
        #expect(await thrownErrorCode { _ = try await writer.append([1]) } == .regionFreed)
        #expect(await thrownErrorCode { _ = try await writer.appendAsync([1]) } == .regionFreed)
        #expect(await thrownErrorCode { _ = try await writer.appendAsync(testBytes(3000, seed: 1)) } == .regionFreed)
        try await stream.close()
    }

    /// A synchronous append writes, drains and publishes its entry, then waits for every earlier timestamp
    /// to be persisted. Cancelling its task then must not make it throw: the entry is in the stream, and a
    /// caller that retried on the error would append it twice.
    @Test("a synchronous append cancelled after it wrote its entry returns it, and the entry survives a restart")
    func cancelledSynchronousAppendReturnsItsEntry() async throws {
        let (medium, stream, mover, r1, r2) = try await streamWithHeldMover()
        let held = Task { try await stream.writer(for: r1).appendAsync([1]) }  // timestamp 1, being copied
        await mover.waitUntilHolding()
        let w2 = try await stream.writer(for: r2)
        let append = await appendWritten([2], to: w2)  // timestamp 2: written, waits for timestamp 1
        append.cancel()
        mover.release()
        let code = await thrownErrorCode { try await append.value }
        _ = try await held.value
        try await stream.close()
        let reopened = try PMemStream(
            medium: SimulatedMedium(image: medium.crash(.drainedOnly)),
            configuration: .init(blockSize: 4096)
        )
        let entries = try await reopened.entries(in: try await reopened.region(atOffset: r2.offset)).collect()
        #expect(code == nil, "the append threw \(String(describing: code)) although its entry is in the stream")
        #expect(try entries.map { try $0.bytes } == [[2]])
    }

    /// Starts `work` in a task and returns the task once `writer` counts one more append waiting for its region.
    private func waitingForRegion(
        _ writer: RegionWriter,
        _ work: @escaping @Sendable () async throws -> Void
    ) async -> Task<Void, any Error> {
        let waiters = { writer.appendLock.withLock { writer.reservationWaiters.count } }
        let waiting = waiters()
        let task = Task { try await work() }
        while waiters() == waiting {
            await Task.yield()
        }
        return task
    }

    @Test("appends waiting for a reservation to end are sent away with streamClosed when the stream closes")
    func closeEndsWaitsForTheRegion() async throws {
        let (stream, _) = try makeStream()
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        let reservation = try await writer.reserve(16)
        let waiting = [
            await self.waitingForRegion(writer) { _ = try await writer.append([1]) },
            await self.waitingForRegion(writer) { _ = try await writer.appendAsync([2]) },
            await self.waitingForRegion(writer) { await (try await writer.reserve(8)).abandon() },
        ]
        try await stream.close()
        for task in waiting {
            #expect(await thrownErrorCode { try await task.value } == .streamClosed)
        }
        do {
            _ = try await reservation.publish(size: 4)
            Issue.record("a reservation was published after close()")
        } catch {
            #expect(error.code == .streamClosed)
        }
    }

    @Test("an append cancelled while it waits for a reservation to end throws cancelled and writes nothing")
    func cancelledWaitForTheRegion() async throws {
        let (stream, medium) = try makeStream()
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        let reservation = try await writer.reserve(16)
        let before = medium.allBytes
        let sync = await self.waitingForRegion(writer) { _ = try await writer.append([1]) }
        let async = await self.waitingForRegion(writer) { _ = try await writer.appendAsync([2]) }
        sync.cancel()
        async.cancel()
        #expect(await thrownErrorCode { try await sync.value } == .cancelled)
        #expect(await thrownErrorCode { try await async.value } == .cancelled)
        #expect(medium.allBytes == before)
        await reservation.abandon()
        #expect(try await writer.append([3]).timestamp == 1, "no timestamp was taken")
        try await stream.close()
    }

    @Test("an append cancelled while it waits throws cancelled also when the reservation ends first")
    func cancelledWaitForTheRegionThenReleased() async throws {
        for _ in 0..<20 {
            let (stream, _) = try makeStream()
            let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
            let reservation = try await writer.reserve(16)
            let append = await self.waitingForRegion(writer) { _ = try await writer.append([1]) }
            append.cancel()
            await reservation.abandon()  // may resume the append before its cancellation handler does
            #expect(await thrownErrorCode { try await append.value } == .cancelled)
            #expect(try await writer.append([2]).timestamp == 1, "the cancelled append took no timestamp")
            try await stream.close()
        }
    }

    @Test("entries read before close() never return the bytes of a writer that opens the file after it")
    func entriesOfAClosedStreamAfterAnotherWriter() async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)
        let closed = try PMemStream(medium: medium, configuration: configuration)
        let region = try await closed.allocateRegion(size: 4032)
        _ = try await closed.writer(for: region).append([UInt8](repeating: 1, count: 16))
        _ = try await closed.writer(for: region).append([UInt8](repeating: 2, count: 16))
        var iterator = closed.entries(since: 0, follow: true).makeAsyncIterator()
        let first = try await iterator.next()!
        try await closed.close()
        // The next writer of the file frees the region and writes over its entries.
        let next = try PMemStream(medium: medium, configuration: configuration)
        try await next.free(try await next.region(atOffset: region.offset))
        let reused = try await next.allocateRegion(size: 4032)
        #expect(reused.offset == region.offset)
        _ = try await next.writer(for: reused).append([UInt8](repeating: 9, count: 200))
        #expect(await thrownErrorCode { _ = try first.bytes } == .regionFreed)
        if let second = try? await iterator.next() {
            #expect(await thrownErrorCode { _ = try second.bytes } == .regionFreed)
        }
        try await next.close()
    }

    @Test("a follower whose first step comes after close() yields what was committed and finishes; a plain walk throws")
    func followersStartedAfterClose() async throws {
        let (stream, _) = try makeStream(size: 1 << 20)
        let region = try await stream.allocateRegion(size: 4032)
        _ = try await stream.writer(for: region).append([1])
        _ = try await stream.writer(for: region).append([2])
        let inRegion = stream.entries(in: region, follow: true)
        let merged = stream.entries(since: 0, follow: true)
        let plain = stream.entries(in: region)
        try await stream.close()
        #expect(try await inRegion.collect().map { try $0.bytes } == [[1], [2]])
        #expect(try await merged.collect().map { try $0.bytes } == [[1], [2]])
        #expect(await thrownErrorCode { try await plain.collect() } == .streamClosed)
        #expect(await thrownErrorCode { try await stream.entries(since: 0).collect() } == .streamClosed)
    }

    @Test("nothing writes to the medium once close() has returned, not even a round asked for after it")
    func noWritesAfterClose() async throws {
        let medium = SimulatedMedium(size: 64 * 1024)
        let stream = try PMemStream(medium: medium, configuration: .init(blockSize: 4096, persistWorkers: 0))
        let region = try await stream.allocateRegion(size: 4032)
        _ = try await stream.writer(for: region).appendAsync([1])
        try await stream.close()
        let closed = medium.allBytes
        let points = medium.persistPointCount
        await stream.persistCommitted()
        #expect(await thrownErrorCode { try await stream.waitPersisted(1) } == nil, "persisted by close()")
        #expect(medium.allBytes == closed)
        #expect(medium.persistPointCount == points)
    }

    @Test("a nudge between a follower's look and its wait ends the wait at once")
    func nudgeBeforeWaitIsNotMissed() async throws {
        let watermark = Watermark(0)
        let seen = watermark.nudgeCount
        watermark.nudgeFollowers()  // a region freed after the follower looked, before it waits
        try await watermark.wait(until: 1, followsNudgesSince: seen)
        #expect(watermark.value == 0)
    }
}

extension PMemStream {
    /// Whether `close()` has not started yet.
    fileprivate func isOpen() -> Bool {
        (try? self.checkOpen()) != nil
    }

    /// Whether a free of `region` has not started yet: its write gate refuses writes once one has.
    fileprivate func freeHasNotStarted(_ region: Region) -> Bool {
        guard let state = self.regionStates[region.offset] else { return false }
        do {
            try state.beginWrites()
            state.endWrites()
            return true
        } catch {
            return false
        }
    }
}

/// Starts a synchronous append of `bytes` to `writer` and returns once its entry is written (it has taken
/// room in the region); the append itself may still be waiting for earlier timestamps to persist.
private func appendWritten(_ bytes: [UInt8], to writer: RegionWriter) async -> Task<Entry, any Error> {
    let available = await writer.availableSize
    let append = Task { try await writer.append(bytes) }
    while await writer.availableSize == available {
        await Task.yield()
    }
    return append
}
