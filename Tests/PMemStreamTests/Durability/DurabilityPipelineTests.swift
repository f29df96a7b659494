import PMemStreamTestKit
import Synchronization
import Testing

@testable import PMemStream

@Suite("Group commit, watermarks and waits", .timeLimit(.minutes(5)))
struct DurabilityPipelineTests {
    /// With 20 regions, and all but 16 of the stream's own lanes claimed first, some writers share a lane.
    @Test(
        "random mixes of sync and async appends and waits from 8 tasks keep the watermark laws",
        arguments: zip([1, 2, 3] as [UInt64], [3, 3, 20])
    )
    func watermarkLaws(seed: UInt64, regionCount: Int) async throws {
        let (stream, medium) = try makeStream(size: 8 << 20)
        let tracker = await stream.tracker
        let claimedFirst = (16..<LaneFloors.ownedCount).map { _ in tracker.floors.claim() }
        #expect(claimedFirst.allSatisfy { $0.line != LaneFloors.sharedLane })
        var regions: [Region] = []
        for _ in 0..<regionCount {
            regions.append(try await stream.allocateRegion(size: (6 << 20) / regionCount))
        }
        let allRegions = regions
        let appended = try await withThrowingTaskGroup { group in
            for task in 0..<8 {
                group.addTask {
                    var generator = SeededRandomNumberGenerator(seed: seed &* 100 &+ UInt64(task))
                    var mine: [Entry] = []
                    for operation in 0..<400 {
                        let writer = try await stream.writer(for: allRegions.randomElement(using: &generator)!)
                        let bytes = testBytes(Int.random(in: 0...200, using: &generator), seed: task * 1000 + operation)
                        switch Int.random(in: 0..<10, using: &generator) {
                        case 0..<4:
                            let entry = try await writer.append(bytes)
                            #expect(
                                stream.persistedTimestamp >= entry.timestamp,
                                "a synchronous append returns persisted"
                            )
                            mine.append(entry)
                        case 4..<8:
                            let receipt = try await writer.appendAsync(bytes)
                            if Bool.random(using: &generator) {
                                try await receipt.persisted()
                                #expect(stream.persistedTimestamp >= receipt.timestamp)
                            }
                            mine.append(receipt.entry)
                        case 8:
                            let target = UInt64.random(in: 1...max(stream.committedTimestamp, 1), using: &generator)
                            if stream.committedTimestamp > 0 {
                                try await stream.waitCommitted(target)
                                #expect(stream.committedTimestamp >= target)
                            }
                        default:
                            // A wait that is cancelled at once must leave the stream usable.
                            let waiter = Task { try await stream.waitPersisted(stream.committedTimestamp) }
                            waiter.cancel()
                            _ = try? await waiter.value
                        }
                        let persisted = stream.persistedTimestamp
                        #expect(persisted <= stream.committedTimestamp)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Entry]()) { $0 += $1 }
        }
        var sharing = 0
        for region in allRegions where try await stream.writer(for: region).queue.lane.line == LaneFloors.sharedLane {
            sharing += 1
        }
        #expect(sharing == max(regionCount - 16, 0))
        let last = appended.map(\.timestamp).max()!
        try await stream.waitPersisted(last)
        #expect(Set(appended.map(\.timestamp)) == Set(1...last))
        try await stream.close()
        let (reopened, _) = try restart(medium)
        #expect(reopened.persistedTimestamp == last)
        let read = try await reopened.entries().collect()
        #expect(read.map(\.timestamp) == Array(1...last))
        let byTimestamp = Dictionary(uniqueKeysWithValues: appended.map { ($0.timestamp, $0) })
        for entry in read {
            #expect(entry.size == byTimestamp[entry.timestamp]!.size)
        }
    }

    /// With two regions, the appends alternate between them: the bound holds for all the regions' queues
    /// together.
    @Test(
        "more asynchronous appends than the queue holds while the worker is busy: the appender waits for room",
        arguments: [1, 2]
    )
    func backPressure(regionCount: Int) async throws {
        let medium = GatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 1, maxQueuedAppends: 4))
        var writers: [RegionWriter] = []
        for _ in 0..<regionCount {
            writers.append(try await stream.writer(for: try await stream.allocateRegion(size: 256 * 1024)))
        }
        let allWriters = writers
        medium.holdDrains()
        let appender = Task {
            var receipts: [AppendReceipt] = []
            for index in 0..<20 {
                receipts.append(try await allWriters[index % regionCount].appendAsync([UInt8(index)]))
            }
            return receipts
        }
        // The worker takes a round and is held in its drain; then the queue fills and the appender waits.
        while !medium.isHoldingDrain || stream.committedTimestamp < 5 {
            await Task.yield()
        }
        for _ in 0..<1000 {
            await Task.yield()
        }
        #expect(stream.committedTimestamp <= 8, "at most one round's entries and a full queue are in flight")
        #expect(stream.persistedTimestamp == 0)
        medium.releaseDrains()
        for receipt in try await appender.value {
            try await receipt.persisted()
        }
        #expect(stream.persistedTimestamp == 20)
    }

    @Test("an asynchronous append cancelled while it waits for room ends with cancelled, the round still held")
    func cancelledWaitForRoom() async throws {
        let medium = GatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 1, maxQueuedAppends: 2))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 256 * 1024))
        medium.holdDrains()
        _ = try await writer.appendAsync([0])
        while !medium.isHoldingDrain {
            await Task.yield()  // the worker's round took it and is held in its drain
        }
        _ = try await writer.appendAsync([1])
        _ = try await writer.appendAsync([2])  // the queue is full
        let waiting = Task { try await writer.appendAsync([3]) }
        for _ in 0..<200 {
            await Task.yield()
        }
        waiting.cancel()
        // Before any room is made: a wait that ignored cancellation would hang here.
        #expect(await thrownErrorCode { _ = try await waiting.value } == .cancelled)
        #expect(stream.committedTimestamp == 3, "the cancelled append took no timestamp")
        medium.releaseDrains()
        try await stream.close()
    }

    @Test("a progress stream never goes back, with rounds ending at once on several threads")
    func progressNeverGoesBack() async throws {
        for _ in 0..<20 {
            let stream = try PMemStream(
                medium: SimulatedMedium(size: 4 << 20),
                configuration: .init(persistWorkers: 2, checkpointInterval: .microseconds(50))
            )
            let writer = try await stream.writer(for: try await stream.allocateRegion(size: 2 << 20))
            let progress = stream.persistedTimestamps
            let observer = Task {
                var values: [UInt64] = []
                for await value in progress {
                    values.append(value)
                }
                return values
            }
            try await withThrowingTaskGroup { group in
                for task in 0..<4 {
                    group.addTask {
                        for index in 0..<300 {
                            _ = try await writer.appendAsync([UInt8(truncatingIfNeeded: index + task)])
                            if index % 3 == 0 {
                                await stream.persistCommitted()
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await stream.close()
            let values = await observer.value
            #expect(values == values.sorted(), "the progress went back")
            #expect(values.last == 1200)
        }
    }

    @Test("progress streams whose consumers are cancelled while rounds publish never stall the persist worker")
    func cancelledProgressConsumers() async throws {
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 8 << 20),
            configuration: .init(persistWorkers: 1, maxQueuedAppends: 1)
        )
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 1 << 20))
        for _ in 0..<40 {
            let appends = (0..<16).map { index in
                Task { _ = try await writer.appendAsync([UInt8](repeating: UInt8(index), count: 40)) }
            }
            let consumers = (0..<4).map { _ in
                Task {
                    for await _ in stream.persistedTimestamps {}
                }
            }
            await Task.yield()
            for consumer in consumers {
                consumer.cancel()  // while the worker's rounds send values to their streams
            }
            for append in appends {
                try await append.value
            }
            for consumer in consumers {
                await consumer.value
            }
        }
        try await stream.waitPersisted(40 * 16)
        try await stream.close()
    }

    @Test("the progress streams of a stream dropped without close finish")
    func progressOfDroppedStream() async throws {
        var stream: PMemStream? = try PMemStream(medium: SimulatedMedium(size: 1 << 20))
        let progress = [stream!.committedTimestamps, stream!.persistedTimestamps]
        let consumers = progress.map { values in
            Task {
                var last: UInt64?
                for await value in values {
                    last = value
                }
                return last
            }
        }
        do {
            let writer = try await stream!.writer(for: try await stream!.allocateRegion(size: 4096))
            _ = try await writer.append([1, 2, 3])
        }
        stream = nil
        for consumer in consumers {
            #expect(await consumer.value != nil)
        }
    }

    @Test("with no persist worker, an appender that finds the queue full runs the round itself")
    func backPressureWithoutWorkers() async throws {
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 1 << 20),
            configuration: .init(persistWorkers: 0, maxQueuedAppends: 4)
        )
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 256 * 1024))
        for index in 0..<20 {
            _ = try await writer.appendAsync([UInt8(index)])
        }
        #expect(stream.committedTimestamp == 20)
        #expect(stream.persistedTimestamp == 16, "rounds ran at the 5th, 9th, 13th and 17th appends")
    }

    /// Each region's queue adds to the shared count a chunk at a time (`GroupCommit.countingChunk`): the
    /// bound then holds within a chunk less one per region.
    @Test(
        "with a chunked count and three regions, the queue stays within its bound plus a chunk per region",
        .timeLimit(.minutes(1))
    )
    func backPressureCountedInChunks() async throws {
        let capacity = 1024
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 1 << 20),
            configuration: .init(persistWorkers: 0, maxQueuedAppends: capacity)
        )
        let chunk = await stream.groupCommit.countingChunk
        #expect(chunk == 4)
        var writers: [RegionWriter] = []
        for _ in 0..<3 {
            writers.append(try await stream.writer(for: try await stream.allocateRegion(size: 192 * 1024)))
        }
        var mostQueued: UInt64 = 0
        for index in 0..<12_000 {
            _ = try await writers[index % 3].appendAsync([UInt8(truncatingIfNeeded: index)])
            mostQueued = max(mostQueued, stream.committedTimestamp - stream.persistedTimestamp)
        }
        #expect(stream.committedTimestamp == 12_000)
        #expect(mostQueued > UInt64(capacity), "the count lagged by the entries of chunks not yet full")
        #expect(mostQueued <= UInt64(capacity + 3 * (chunk - 1)), "the bound held")
        #expect(stream.persistedTimestamp >= 12_000 - UInt64(capacity + 3 * (chunk - 1)), "appenders ran rounds")
        // Every entry counted is uncounted by the round that takes it: once all are persisted, one region
        // fills the queue exactly at the bound again (a whole number of chunks), and the next append runs a round.
        await stream.persistCommitted()
        for index in 0..<capacity {
            _ = try await writers[0].appendAsync([UInt8(truncatingIfNeeded: index)])
        }
        #expect(stream.persistedTimestamp == 12_000, "the bound is not reached")
        _ = try await writers[0].appendAsync([0])
        #expect(stream.persistedTimestamp == 12_000 + UInt64(capacity), "the bound is reached")
    }

    @Test("with no persist worker, a synchronous append after asynchronous ones persists them itself")
    func synchronousAppendRunsTheRound() async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
        let receipt = try await writer.appendAsync([1])
        let entry = try await writer.append([2])
        #expect(stream.persistedTimestamp == entry.timestamp)
        try await receipt.persisted()
        let (reopened, _) = try restart(medium)
        #expect(try await reopened.entries().collect().map { try $0.bytes } == [[1], [2]])
    }

    @Test("a reservation published asynchronously is persisted by group commit")
    func publishAsync() async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        let reservation = try await writer.reserve(16)
        reservation.withUnsafeMutableBytes { $0.copyBytes(from: [1, 2, 3]) }
        let receipt = try await reservation.publishAsync(size: 3)
        #expect(stream.committedTimestamp == 1)
        #expect(stream.persistedTimestamp == 0)
        await stream.persistCommitted()
        try await receipt.persisted()
        let (reopened, _) = try restart(medium)
        #expect(try await reopened.entries().collect().map { try $0.bytes } == [[1, 2, 3]])
    }

    @Test("closing persists every committed asynchronous append, with no worker running")
    func closePersistsCommitted() async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
        for index in 0..<10 {
            _ = try await writer.appendAsync(testBytes(index * 10, seed: index))
        }
        #expect(stream.committedTimestamp == 10)
        #expect(stream.persistedTimestamp == 0)
        try await stream.close()
        let (reopened, _) = try restart(medium)
        #expect(reopened.persistedTimestamp == 10)
        #expect(
            try await reopened.entries().collect().map { try $0.bytes } == (0..<10).map { testBytes($0 * 10, seed: $0) }
        )
    }

    @Test("checkpoints move each region's checkpoint tail to its last durable entry, so recovery starts there")
    func checkpointTails() async throws {
        // No worker: the only rounds are the ones below, each with many durable entries to choose from.
        let medium = SimulatedMedium(size: 4 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0))
        let synchronous = try await stream.allocateRegion(size: 256 * 1024)
        let asynchronous = try await stream.allocateRegion(size: 256 * 1024)
        let interleaved = try await stream.allocateRegion(size: 256 * 1024)
        let untouched = try await stream.allocateRegion(size: 4096)
        /// Where recovery starts looking for entries of `region` newer than the header's watermark.
        func checkpointTail(_ region: Region) -> Int {
            Int(medium.word(at: region.offset + ExtentHeader.Field.checkpointTail))
        }
        /// The end of `region`'s entries, from the entries themselves.
        func end(of entries: [Entry], in region: Region) -> Int {
            entries.last.map { $0.offset + EntryHeader.footprint(dataSize: $0.size)! }
                ?? region.offset + ExtentHeader.size
        }
        let syncWriter = try await stream.writer(for: synchronous)
        let asyncWriter = try await stream.writer(for: asynchronous)
        let interleavedWriter = try await stream.writer(for: interleaved)
        var syncEntries: [Entry] = []
        var asyncEntries: [Entry] = []
        var interleavedEntries: [Entry] = []
        // Synchronous appends first: each is persisted at once (nothing earlier is pending), and no round
        // runs; the asynchronous ones then wait in the queue for the round of `persistCommitted()`.
        for index in 0..<300 {
            syncEntries.append(try await syncWriter.append(testBytes(index % 90, seed: index)))
        }
        // The queue holds runs of one region's entries, long and short, between the other region's.
        for index in 0..<300 {
            asyncEntries.append(try await asyncWriter.appendAsync(testBytes(index % 70, seed: index)).entry)
            if index % 3 == 0 || (100..<120).contains(index) {
                let bytes = testBytes(index % 50, seed: -index)
                interleavedEntries.append(try await interleavedWriter.appendAsync(bytes).entry)
            }
        }
        await stream.persistCommitted()
        #expect(checkpointTail(synchronous) == end(of: syncEntries, in: synchronous))
        #expect(checkpointTail(asynchronous) == end(of: asyncEntries, in: asynchronous))
        #expect(checkpointTail(interleaved) == end(of: interleavedEntries, in: interleaved))
        #expect(checkpointTail(untouched) == end(of: [], in: untouched))

        syncEntries += try await syncWriter.append(contentsOf: (0..<40).map { testBytes($0, seed: $0) })
        try await stream.close()
        #expect(checkpointTail(synchronous) == end(of: syncEntries, in: synchronous), "after close")
        let appended = syncEntries.count + asyncEntries.count + interleavedEntries.count
        #expect(medium.word(at: StreamHeader.Field.persistedTimestamp) == UInt64(appended))
    }

    @Test("the threaded data mover copies large entries in pieces, byte for byte")
    func threadedDataMover() async throws {
        let (stream, _) = (
            try PMemStream(
                medium: SimulatedMedium(size: 8 << 20),
                configuration: .init(dataMover: ThreadedDataMover(threshold: 1000, parts: 4))
            ), ()
        )
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4 << 20))
        var receipts: [AppendReceipt] = []
        for (index, size) in [10, 999, 1000, 4097, 1 << 20].enumerated() {
            receipts.append(try await writer.appendAsync(testBytes(size, seed: index)))
        }
        for (index, receipt) in receipts.enumerated() {
            try await receipt.persisted()
            #expect(try receipt.entry.bytes == testBytes(receipt.entry.size, seed: index))
        }
        #expect(try await stream.entries(in: writer.region).collect() == receipts.map(\.entry))
    }

    @Test("watermark progress streams yield once per round, not once per append, and end with the stream")
    func progressStreams() async throws {
        let (stream, _) = try makeStream()
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 256 * 1024))
        let progress = stream.persistedTimestamps  // subscribed now, before any append
        let observer = Task {
            var values: [UInt64] = []
            for await value in progress {
                values.append(value)
            }
            return values
        }
        for index in 0..<500 {
            _ = try await writer.appendAsync([UInt8(truncatingIfNeeded: index)])
        }
        try await stream.waitPersisted(500)
        try await stream.close()
        let values = await observer.value
        #expect(values == values.sorted())
        #expect(values.last == 500)
        #expect(values.count < 500)
    }

    @Test("waits: at once when reached, errors for timestamps never issued, cancellation, and close")
    func waits() async throws {
        let mover = HeldDataMover()
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 1 << 20),
            configuration: .init(persistWorkers: 0, dataMover: mover)
        )
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        let held = Task { try await writer.appendAsync([1]) }
        await mover.waitUntilHolding()
        #expect(await thrownErrorCode { try await stream.waitCommitted(2) } == .timestampNotIssued)
        let cancelled = Task { try await stream.waitPersisted(1) }
        for _ in 0..<100 { await Task.yield() }  // let it wait for the entry being copied
        cancelled.cancel()
        #expect(await thrownErrorCode { try await cancelled.value } == .cancelled)
        mover.release()
        let receipt = try await held.value
        try await receipt.committed()
        try await stream.waitCommitted(1)
        let pending = Task { try await stream.waitPersisted(1) }
        await stream.persistCommitted()
        try await pending.value
        _ = try await writer.appendAsync([2])
        let beforeClose = Task { try await stream.waitPersisted(2) }
        try await stream.close()
        try await beforeClose.value  // closing persisted it first
        #expect(await thrownErrorCode { try await writer.appendAsync([3]) } == .streamClosed)
    }

    @Test("persistCommitted returns with persisted at the committed of its call, also while a writer holds it back")
    func persistCommittedReachesCommitted() async throws {
        let stream = try PMemStream(medium: SimulatedMedium(size: 1 << 20), configuration: .init(persistWorkers: 0))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
        for index in 0..<3 {
            _ = try await writer.appendAsync([UInt8(index)])
        }
        let tracker = await stream.tracker
        // Asynchronous appends leave the committed watermark behind until someone reads or waits for it.
        #expect(tracker.committed.value == 0)
        #expect(stream.committedTimestamp == 3 && tracker.persisted.value == 0)
        // A writer that read the clock at 2 before the appends took 2 and 3, and stores its floor only now:
        // until it takes its timestamps and raises the floor, the watermarks cannot pass 1 by the floors.
        var lagging = tracker.floors.claim()
        tracker.floors.hold(&lagging, at: 2)
        let call = try await callUntilWaitingForPersisted(on: tracker) {
            await stream.persistCommitted()
            return stream.persistedTimestamp
        }
        #expect(!call.returned, "returned with persisted behind committed")
        tracker.published(in: &lagging, next: LaneFloors.none)
        #expect(try await call.task.value == 3)
        try await stream.close()
    }

    /// Asynchronous appends leave the committed watermark behind (`DurabilityTracker.publishedQueued`); with
    /// no persist worker and no wait for persistence, no round raises it either: each way of reading or
    /// waiting for it must raise it itself.
    @Test(
        "an asynchronous append is committed on return for every reader and waiter, with no round run",
        .timeLimit(.minutes(1))
    )
    func asynchronousAppendCommittedOnReturn() async throws {
        let (stream, region, writer) = try await Self.streamWithoutWorkers(regionSize: 64 * 1024)
        let first = try await writer.appendAsync([1])
        try await first.committed()
        let second = try await writer.appendAsync([2, 3])
        try await stream.waitCommitted(second.timestamp)
        let third = try await writer.appendAsync([4])
        #expect(stream.committedTimestamp == third.timestamp)
        let fourth = try await writer.appendAsync([5])
        #expect(try await stream.entry(in: region, atOffset: fourth.entry.offset) == fourth.entry)
        let fifth = try await writer.appendAsync([6])
        var inRegion: [UInt64] = []
        for try await entry in stream.entries(in: region) {
            inRegion.append(entry.timestamp)
        }
        #expect(inRegion == [1, 2, 3, 4, 5] && fifth.timestamp == 5)
        let sixth = try await writer.appendAsync([7])
        var merged: [[UInt8]] = []
        for try await entry in stream.entries(since: fifth.timestamp) {
            merged.append(try entry.bytes)
        }
        #expect(merged == [[7]] && sixth.timestamp == 6)
        #expect(stream.persistedTimestamp == 0, "no round ran")
        try await stream.close()
    }

    @Test("the progress streams start at the watermarks brought up to date, after appends that left them behind")
    func progressStreamsStartUpToDate() async throws {
        let (stream, _, writer) = try await Self.streamWithoutWorkers(regionSize: 64 * 1024)
        let tracker = await stream.tracker
        for value in 1...3 as ClosedRange<UInt8> {
            _ = try await writer.append([value])
        }
        _ = try await writer.appendAsync([4])
        #expect(tracker.committed.value == 0 && tracker.persisted.value == 0, "nobody waited: nothing raised")
        var persisted = stream.persistedTimestamps.makeAsyncIterator()
        #expect(await persisted.next() == 3)
        var committed = stream.committedTimestamps.makeAsyncIterator()
        #expect(await committed.next() == 4)
        try await stream.close()
    }

    @Test(
        "a follower waiting for the next entry gets each asynchronous append at once, with no round run",
        .timeLimit(.minutes(1))
    )
    func followerWokenByAsynchronousAppend() async throws {
        let (stream, region, writer) = try await Self.streamWithoutWorkers(regionSize: 64 * 1024)
        let tracker = await stream.tracker
        let follower = Self.follow(region, of: stream, until: 3)
        for value in 1...3 as ClosedRange<UInt8> {
            while !tracker.committed.hasWaiters {
                await Task.yield()  // until the follower waits for the next entry
            }
            _ = try await writer.appendAsync([value])
        }
        #expect(try await follower.value.map { try $0.bytes } == [[1], [2], [3]])
        #expect(stream.persistedTimestamp == 0, "no round ran")
        try await stream.close()
    }

    /// The writer publishes without raising the watermark unless it sees a waiter, and the follower raises it
    /// after it registers: on two threads at once, one of them must see the other every time.
    @Test(
        "a follower on another thread keeps up with a writer appending asynchronously, with no round run",
        .timeLimit(.minutes(1))
    )
    func followerKeepsUpWithAsynchronousWriter() async throws {
        let count = 5000
        let (stream, region, writer) = try await Self.streamWithoutWorkers(regionSize: 512 * 1024)
        let follower = Self.follow(region, of: stream, until: count)
        let appender = Task.detached {
            for index in 0..<count {
                _ = try await writer.appendAsync(testBytes(8, seed: index))
            }
        }
        try await appender.value
        #expect(try await follower.value.map(\.timestamp) == Array(1...UInt64(count)))
        try await stream.close()
    }

    /// A stream on a simulated medium with no persist worker, so that no round runs unless a caller runs it,
    /// and a region of `regionSize` bytes with its writer.
    private static func streamWithoutWorkers(regionSize: Int) async throws -> (PMemStream, Region, RegionWriter) {
        let stream = try PMemStream(medium: SimulatedMedium(size: 1 << 20), configuration: .init(persistWorkers: 0))
        let region = try await stream.allocateRegion(size: regionSize)
        return (stream, region, try await stream.writer(for: region))
    }

    /// A task on its own that follows `region` until it has read `count` entries.
    private static func follow(_ region: Region, of stream: PMemStream, until count: Int) -> Task<[Entry], any Error> {
        Task.detached {
            var iterator = stream.entries(in: region, follow: true).makeAsyncIterator()
            var entries: [Entry] = []
            while entries.count < count, let entry = try await iterator.next() {
                entries.append(entry)
            }
            return entries
        }
    }

    /// The waiter finds the worker's round under way, spins until it gives up, and suspends: it must neither
    /// return before the round makes its entry durable nor miss the round's end.
    @Test("a persisted wait that finds a round under way for longer than it spins suspends until that round ends")
    func persistedWaitOutlastingItsSpin() async throws {
        let medium = GatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 1))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
        medium.holdDrains()
        let receipt = try await writer.appendAsync([7])
        // The worker takes the entry when its interval passes, and is held in the round's drain.
        while !medium.isHoldingDrain {
            try await Task.sleep(for: .milliseconds(1))
        }
        let tracker = await stream.tracker
        let wait = try await callUntilWaitingForPersisted(on: tracker) {
            try await receipt.persisted()
            return stream.persistedTimestamp
        }
        #expect(!wait.returned, "returned before the round made the entry durable")
        medium.releaseDrains()
        #expect(try await wait.task.value >= receipt.timestamp)
        try await stream.close()
    }
}

/// Makes `call` in a task of its own, and waits until it has returned or waits for the persisted watermark.
///
/// - Returns: The task, and whether the call had returned by then.
private func callUntilWaitingForPersisted<Value: Sendable>(
    on tracker: DurabilityTracker,
    _ call: @escaping @Sendable () async throws -> Value
) async throws -> (task: Task<Value, any Error>, returned: Bool) {
    let returned = ReturnFlag()
    let task = Task {
        let value = try await call()
        returned.value.store(true, ordering: .releasing)
        return value
    }
    while !returned.value.load(ordering: .acquiring), !tracker.persisted.hasWaiters {
        try await Task.sleep(for: .milliseconds(1))
    }
    return (task, returned.value.load(ordering: .acquiring))
}

/// Whether a call returned, set from the task that made it.
private final class ReturnFlag: Sendable {
    let value = Atomic(false)
}

@Suite("Persist worker placement")
struct PersistPlacementTests {
    static let twoNodes = NUMATopology(isAvailable: true, nodesWithProcessors: [0, 1])

    @Test("automatic placement uses the medium's node when NUMA knows it, and explains otherwise")
    func automatic() {
        #expect(PersistPlacement.automatic.resolve(mediumNode: 1, topology: Self.twoNodes).node == 1)
        let unknown = PersistPlacement.automatic.resolve(mediumNode: nil, topology: Self.twoNodes)
        #expect(unknown.node == nil)
        #expect(unknown.reason.contains("unknown"))
        let noNUMA = PersistPlacement.automatic.resolve(
            mediumNode: 0,
            topology: NUMATopology(isAvailable: false, nodesWithProcessors: [])
        )
        #expect(noNUMA.node == nil)
        #expect(noNUMA.reason.contains("not available"))
        #expect(PersistPlacement.automatic.resolve(mediumNode: 3, topology: Self.twoNodes).node == nil)
    }

    @Test("explicit placements: a chosen node when it exists, or none")
    func explicit() {
        #expect(PersistPlacement.node(0).resolve(mediumNode: 1, topology: Self.twoNodes).node == 0)
        #expect(PersistPlacement.node(5).resolve(mediumNode: 1, topology: Self.twoNodes).node == nil)
        #expect(PersistPlacement.unbound.resolve(mediumNode: 1, topology: Self.twoNodes).node == nil)
    }

    @Test("only a node with processors is chosen: node numbers may have gaps, and a node may have memory only")
    func nodesWithoutProcessors() {
        let sparse = NUMATopology(isAvailable: true, nodesWithProcessors: [0, 2])
        #expect(PersistPlacement.automatic.resolve(mediumNode: 2, topology: sparse).node == 2)
        let memoryOnly = PersistPlacement.automatic.resolve(mediumNode: 1, topology: sparse)
        #expect(memoryOnly.node == nil)
        #expect(memoryOnly.reason.contains("no processor"))
        #expect(PersistPlacement.node(1).resolve(mediumNode: nil, topology: sparse).node == nil)
        #expect(PersistPlacement.node(-1).resolve(mediumNode: nil, topology: sparse).node == nil)
    }

    @Test("this machine's topology lists the nodes its processors are on")
    func systemTopology() {
        let system = NUMATopology.system
        #expect(!system.isAvailable || !system.nodesWithProcessors.isEmpty, "the process runs on some node")
    }

    @Test("a stream reports the placement it chose on this machine")
    func streamReportsPlacement() async throws {
        let onFile = try PMemStream(medium: SimulatedMedium(size: 1 << 16))
        #expect(onFile.persistPlacement.node == nil)
        let medium = SimulatedMedium(size: 1 << 16, numaNode: 0)
        let onNode = try PMemStream(medium: medium)
        #expect(onNode.persistPlacement.node == (NUMATopology.system.isAvailable ? 0 : nil))
        // No worker to place: nothing is reported bound.
        let noWorkers = try PMemStream(
            medium: SimulatedMedium(size: 1 << 16, numaNode: 0),
            configuration: .init(persistWorkers: 0)
        )
        #expect(noWorkers.persistPlacement.node == nil)
        #expect(noWorkers.persistPlacement.reason.hasPrefix("no persist workers"))
        try await onNode.close()
        let readOnly = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
        #expect(readOnly.persistPlacement.node == nil)
        #expect(readOnly.persistPlacement.reason == "no persist workers: the stream is read-only")
    }
}
