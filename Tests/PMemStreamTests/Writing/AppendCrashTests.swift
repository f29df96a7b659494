import PMemStreamTestKit
import Synchronization
import Testing

@testable import PMemStream

/// Power cut at every persist point of appends, reservations and recovery (DESIGN.md §6, properties 1, 2, 4).
@Suite("Entries across power failures")
struct AppendCrashTests {
    static let size = 64 * 1024
    /// No background workers: a crash test needs the same persist points in the same order on every run,
    /// so group commit and checkpoints run where the workload calls `persistCommitted()`.
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)

    /// What a run of a workload wrote: every timestamp's bytes, and which appends returned before power failed.
    final class Journal: Sendable {
        private let state = Lock((written: [UInt64: [UInt8]](), acknowledged: Set<UInt64>()))

        /// Records an entry; a synchronous append returning means it is acknowledged persisted.
        func record(_ entry: Entry, bytes: [UInt8], on medium: SimulatedMedium, synchronous: Bool = true) {
            let acknowledged = synchronous && !medium.isPowerCut
            self.state.withLock { state in
                state.written[entry.timestamp] = bytes
                if acknowledged { state.acknowledged.insert(entry.timestamp) }
            }
        }

        /// Records that everything written so far is acknowledged persisted, if power had not failed yet.
        func acknowledgeAll(on medium: SimulatedMedium) {
            guard !medium.isPowerCut else { return }
            self.state.withLock { $0.acknowledged.formUnion($0.written.keys) }
        }

        /// Records that every entry written so far up to `timestamp` is acknowledged persisted (a stream
        /// reported it so when it opened), if power had not failed yet.
        func acknowledge(through timestamp: UInt64, on medium: SimulatedMedium) {
            guard !medium.isPowerCut else { return }
            self.state.withLock { $0.acknowledged.formUnion($0.written.keys.filter { $0 <= timestamp }) }
        }

        func reset(keeping written: [UInt64: [UInt8]], acknowledged: Set<UInt64> = []) {
            self.state.withLock { $0 = (written, acknowledged) }
        }

        var written: [UInt64: [UInt8]] { self.state.withLock { $0.written } }
        var acknowledged: Set<UInt64> { self.state.withLock { $0.acknowledged } }
    }

    /// Checks DESIGN.md §6 property 1 on a reopened stream: exactly the entries up to the persisted
    /// watermark, contiguous, byte-identical, and every acknowledged one among them.
    /// - Returns: The visible entries' bytes by timestamp.
    @discardableResult
    private func checkVisible(
        _ stream: PMemStream,
        written: [UInt64: [UInt8]],
        acknowledged: Set<UInt64>,
        _ context: String
    ) async throws -> [UInt64: [UInt8]] {
        let watermark = stream.persistedTimestamp
        let visible = try await stream.entries().collect()
        #expect(visible.map(\.timestamp) == Array(stride(from: 1, through: watermark, by: 1)), "\(context)")
        #expect(
            acknowledged.allSatisfy { $0 <= watermark },
            "an acknowledged entry was lost: \(acknowledged.sorted()) vs watermark \(watermark): \(context)"
        )
        var bytes: [UInt64: [UInt8]] = [:]
        for entry in visible {
            bytes[entry.timestamp] = try entry.bytes
            #expect(try entry.bytes == written[entry.timestamp], "entry \(entry.timestamp) differs: \(context)")
        }
        return bytes
    }

    /// ``checkVisible(_:written:acknowledged:_:)`` on the stream that `state` leaves, against what `journal`
    /// recorded.
    @discardableResult
    private func checkRestarted(
        _ state: CrashState,
        against journal: Journal,
        _ context: String
    ) async throws -> [UInt64: [UInt8]] {
        let stream = try PMemStream(medium: state.restart(), configuration: Self.configuration)
        return try await self.checkVisible(
            stream,
            written: journal.written,
            acknowledged: journal.acknowledged,
            context
        )
    }

    /// A stream with two regions; the first holds two persisted entries.
    private func prepared() async throws -> (image: [UInt8], regions: [Int], written: [UInt64: [UInt8]]) {
        let (stream, medium) = try makeStream(size: Self.size)
        let first = try await stream.allocateRegion(size: 12_000)
        let second = try await stream.allocateRegion(size: 12_000)
        let writer = try await stream.writer(for: first)
        _ = try await writer.append(testBytes(10, seed: 1))
        _ = try await writer.append(testBytes(20, seed: 2))
        return (medium.crash(), [first.offset, second.offset], [1: testBytes(10, seed: 1), 2: testBytes(20, seed: 2)])
    }

    /// The writers of `regions[0]` and `regions[1]`. A small lone entry is written non-temporally on AMD CPUs
    /// and copied and flushed elsewhere (`RegionWriter.nonTemporalSizes`): the first writer takes the one
    /// way and the second the other, whatever the CPU.
    private static func writers(of stream: PMemStream, regions: [Int]) async throws -> [RegionWriter] {
        [
            try await RegionWriter.$nonTemporalSizesOverride.withValue(0...4096) {
                try await stream.writer(for: try await stream.region(atOffset: regions[0]))
            },
            try await RegionWriter.$nonTemporalSizesOverride.withValue(512...4096) {
                try await stream.writer(for: try await stream.region(atOffset: regions[1]))
            },
        ]
    }

    /// Reopens, recovers both regions for writing and appends entries of many sizes in many ways:
    /// synchronous appends, a reservation, an abandoned one, a batch, and asynchronous appends from both
    /// writers made durable by group-commit rounds with checkpoints.
    private func workload(_ medium: SimulatedMedium, regions: [Int], journal: Journal) async throws {
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        let writers = try await Self.writers(of: stream, regions: regions)
        for round in 0..<2 {
            for index in 0..<5 {
                let bytes = testBytes(17 * index + round, seed: 70 + index)
                let receipt = try await writers[index % 2].appendAsync(bytes)
                journal.record(receipt.entry, bytes: bytes, on: medium, synchronous: false)
            }
            await stream.persistCommitted()
            journal.acknowledgeAll(on: medium)
        }
        // Lone synchronous appends: up to 4 KiB each is written whole with non-temporal copies (from 512 B
        // by the second writer, which copies and flushes the smaller ones), up to 256 B from an image of the
        // whole entry; the 4100-byte one streams its whole lines as it copies them and flushes the rest
        // after its seal.
        for (index, size) in [0, 5, 100, 63, 4100, 4096, 256, 8, 257].enumerated() {
            let bytes = testBytes(size, seed: 10 + index)
            journal.record(try await writers[index % 2].append(bytes), bytes: bytes, on: medium)
        }
        // A batch of entries of 512 bytes to 4 KiB is written as lone entries are, with no terminator but
        // after the last; on AMD CPUs from 256 bytes, those of 256 bytes from an image of the whole entry
        // (elsewhere the second batch is copied and flushed).
        let wholeBatches = [
            [testBytes(512, seed: 20), testBytes(517, seed: 21), testBytes(1030, seed: 22)],
            [testBytes(256, seed: 23), testBytes(300, seed: 24), testBytes(256, seed: 25)],
        ]
        for wholeBatch in wholeBatches {
            for (entry, bytes) in zip(try await writers[1].append(contentsOf: wholeBatch), wholeBatch) {
                journal.record(entry, bytes: bytes, on: medium)
            }
        }
        let reservation = try await writers[1].reserve(300)
        let reserved = testBytes(200, seed: 30)
        reservation.withUnsafeMutableBytes { $0.copyBytes(from: reserved) }
        journal.record(try await reservation.publish(size: 200), bytes: reserved, on: medium)
        await (try await writers[0].reserve(500)).abandon()
        let asyncReservation = try await writers[0].reserve(64)
        let asyncReserved = testBytes(40, seed: 31)
        asyncReservation.withUnsafeMutableBytes { $0.copyBytes(from: asyncReserved) }
        journal.record(
            try await asyncReservation.publishAsync(size: 40).entry,
            bytes: asyncReserved,
            on: medium,
            synchronous: false
        )
        // The 3000-byte entry's data is flushed as it is copied, between entries that are not.
        let batch = [
            testBytes(7, seed: 40), testBytes(700, seed: 41), testBytes(3000, seed: 42), testBytes(9, seed: 43),
        ]
        for (entry, bytes) in zip(try await writers[0].append(contentsOf: batch), batch) {
            journal.record(entry, bytes: bytes, on: medium)
        }
        journal.record(
            try await writers[1].appendAsync([1, 2, 3]).entry,
            bytes: [1, 2, 3],
            on: medium,
            synchronous: false
        )
        // Asynchronous, and large enough that its whole lines are flushed as they are copied; the round
        // flushes its header's lines and its last line.
        let large = testBytes(2500, seed: 44)
        journal.record(try await writers[1].appendAsync(large).entry, bytes: large, on: medium, synchronous: false)
        try await stream.close()
        journal.acknowledgeAll(on: medium)
    }

    @Test("at every persist point of appends and recovery: exactly the persisted entries, whole, and nothing lost")
    func appendsAreAtomicAndDurable() async throws {
        let (image, regions, setup) = try await self.prepared()
        let journal = Journal()
        var nestedStates = 0
        let states = try await forEachCrashState(startingFrom: image) { medium in
            journal.reset(keeping: setup)
            try await self.workload(medium, regions: regions, journal: journal)
        } check: { state in
            let visible = try await self.checkRestarted(state, against: journal, "\(state)")
            // Recover and write again: new timestamps pass the old, unpersisted ones, which must never
            // come back; cut power anywhere in this second session too.
            let second = Journal()
            nestedStates += try await forEachCrashState(startingFrom: state.image, modes: [.tornWords(seed: 5)]) {
                medium in
                second.reset(keeping: visible)
                let stream = try PMemStream(medium: medium, configuration: Self.configuration)
                for (index, offset) in regions.enumerated() {
                    let writer = try await stream.writer(for: try await stream.region(atOffset: offset))
                    let bytes = testBytes(50 + index, seed: 60 + index)
                    second.record(try await writer.append(bytes), bytes: bytes, on: medium)
                }
            } check: { nested in
                try await self.checkRestarted(nested, against: second, "\(state), then \(nested)")
            }
        }
        print(
            "crash simulation: \(states) crash states of appends, then \(nestedStates) of the recovery and appends after each"
        )
        #expect(
            states >= min(12, defaultMaxPersistPoints) * CrashMode.standardModes.count,
            "the workload has a persist point per append at least"
        )
        #expect(nestedStates > states)
    }

    /// The steps of ``killedWriter(_:regions:steps:journal:)``.
    private static let killedWriterSteps = 6

    /// A writer that is killed after the first `steps` steps of its work: it stops, and the stores it made
    /// without flushing them stay in what the next process sees (the CPU caches, or the page cache), while
    /// only what it drained is on the medium.
    private func killedWriter(_ medium: SimulatedMedium, regions: [Int], steps: Int, journal: Journal) async throws {
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        let writers = try await Self.writers(of: stream, regions: regions)
        for step in 0..<steps {
            switch step {
            case 0, 1, 4:
                // Asynchronous appends, queued and never flushed; the last one streams its whole lines.
                let bytes = testBytes(step == 4 ? 3000 : 11 + step, seed: 80 + step)
                let receipt = try await writers[step % 2].appendAsync(bytes)
                journal.record(receipt.entry, bytes: bytes, on: medium, synchronous: false)
            case 2:
                // A synchronous append: its round makes the asynchronous ones before it durable too.
                let bytes = testBytes(40, seed: 82)
                journal.record(try await writers[0].append(bytes), bytes: bytes, on: medium)
            case 3:
                // A lone asynchronous entry behind a synchronous one, in the same region.
                let bytes = testBytes(5, seed: 83)
                let receipt = try await writers[0].appendAsync(bytes)
                journal.record(receipt.entry, bytes: bytes, on: medium, synchronous: false)
            default:
                // A reservation's room, written and never published: the kill takes the reservation with it.
                let reservation = try await writers[1].reserve(64)
                reservation.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xEE) }
                await reservation.abandon()
            }
        }
    }

    /// The writer that opens after one was killed: it acknowledges what recovery reports persisted, and
    /// appends an entry to each region.
    private func nextWriter(_ medium: SimulatedMedium, regions: [Int], journal: Journal) async throws {
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        journal.acknowledge(through: stream.persistedTimestamp, on: medium)
        for (index, offset) in regions.enumerated() {
            let writer = try await stream.writer(for: try await stream.region(atOffset: offset))
            let bytes = testBytes(30 + index, seed: 90 + index)
            journal.record(try await writer.append(bytes), bytes: bytes, on: medium)
        }
    }

    @Test(
        "a writer killed with unflushed entries, the next writer, and power cut at every persist point: nothing it reported persisted is lost"
    )
    func killedWriterThenPowerFailure() async throws {
        let (image, regions, setup) = try await self.prepared()
        let journal = Journal()
        var states = 0
        for steps in 0...Self.killedWriterSteps {
            states += try await forEachCrashState(startingFrom: image) { medium in
                journal.reset(keeping: setup)
                try await self.killedWriter(medium, regions: regions, steps: steps, journal: journal)
                // The next process: the same medium, as the killed one left it to the program.
                try await self.nextWriter(medium, regions: regions, journal: journal)
            } check: { state in
                try await self.checkRestarted(state, against: journal, "killed after \(steps) steps, \(state)")
            }
        }
        print("crash simulation: \(states) crash states of a writer opening after another was killed")
        #expect(states >= (Self.killedWriterSteps + 1) * CrashMode.standardModes.count)
    }

    @Test(
        "a writer killed at every persist point of appends, the next writer, and power cut at every persist point of it"
    )
    func killedAtEveryPersistPoint() async throws {
        let (image, regions, setup) = try await self.prepared()
        let killed = Journal()
        let counting = SimulatedMedium(image: image)
        killed.reset(keeping: setup)
        try await self.workload(counting, regions: regions, journal: killed)
        let count = counting.persistPointCount
        let next = Journal()
        var states = 0
        for point in sampledPersistPoints(count: count, limit: defaultMaxPersistPoints) where point <= count {
            // The writer is killed at `point`: what it does after it is never seen.
            killed.reset(keeping: setup)
            let medium = SimulatedMedium(image: image)
            medium.cutPower(atPersistPoint: point)
            try await self.workload(medium, regions: regions, journal: killed)
            states += try await forEachCrashState(startingFrom: { medium.killed() }) { medium in
                next.reset(keeping: killed.written, acknowledged: killed.acknowledged)
                try await self.nextWriter(medium, regions: regions, journal: next)
            } check: { state in
                try await self.checkRestarted(state, against: next, "killed at \(point) of \(count), then \(state)")
            }
        }
        print("crash simulation: \(states) crash states of a writer opening after another was killed at each point")
        #expect(states > count)
    }

    /// A durable state with the entries [1], [2], [3] in the second of two regions and a checkpoint of 0
    /// (as every crash before the session's first checkpoint leaves it).
    private func threeEntriesBeforeACheckpoint() async throws -> (image: [UInt8], regions: [Region]) {
        let (stream, medium) = try makeStream(size: Self.size)
        let regions = [try await stream.allocateRegion(size: 4032), try await stream.allocateRegion(size: 4032)]
        for byte in 1...3 as ClosedRange<UInt8> {
            _ = try await stream.writer(for: regions[1]).append([byte])
        }
        try await stream.close()
        let durable = SimulatedMedium(image: medium.crash())
        durable.storeWord(0, at: StreamHeader.Field.persistedTimestamp)
        let tail = regions[1].offset + ExtentHeader.Field.checkpointTail
        durable.storeWord(UInt64(regions[1].offset + ExtentHeader.size), at: tail)
        return (durable.allBytes, regions)
    }

    @Test(
        "at every persist point of batches written beside an entry still being copied, and of those after them: the persisted entries",
        .timeLimit(.minutes(5))
    )
    func batchesBesideAnEntryInFlight() async throws {
        let (image, regions, setup) = try await self.prepared()
        let journal = Journal()
        let states = try await forEachCrashState(startingFrom: image) { medium in
            journal.reset(keeping: setup)
            let mover = HeldDataMover()
            let stream = try PMemStream(
                medium: medium,
                configuration: .init(blockSize: 4096, persistWorkers: 0, dataMover: mover)
            )
            let writer = try await stream.writer(for: try await stream.region(atOffset: regions[1]))
            let copied = testBytes(33, seed: 100)
            let held = Task { try await writer.appendAsync(copied) }
            await mover.waitUntilHolding()
            // Copied and flushed, one entry streamed; then written whole with non-temporal stores. Each is
            // reserved, written and drained, and then waits for the entry before it.
            let batches = [
                [
                    testBytes(8, seed: 101), testBytes(100, seed: 102), testBytes(2100, seed: 103),
                    testBytes(3, seed: 104),
                ],
                [testBytes(600, seed: 105), testBytes(1000, seed: 106)],
            ]
            var appending: [Task<Void, any Error>] = []
            for batch in batches {
                let sealed = writer.sealedInFlight
                appending.append(
                    Task {
                        for (entry, bytes) in zip(try await writer.append(contentsOf: batch), batch) {
                            journal.record(entry, bytes: bytes, on: medium)
                        }
                    }
                )
                try #require(await writer.waitUntilSealedInFlight(sealed + batch.count), "the batch waits, sealed")
            }
            mover.release()
            journal.record(try await held.value.entry, bytes: copied, on: medium, synchronous: false)
            await stream.persistCommitted()
            for task in appending {
                try await task.value
            }
            // The batches after those are written beside too, with nothing in flight: each publishes itself,
            // acknowledged persisted by its own drain alone.
            for (index, sizes) in [[5, 70], [300, 256]].enumerated() {
                let batch = sizes.enumerated().map { testBytes($0.element, seed: 110 + 10 * index + $0.offset) }
                for (entry, bytes) in zip(try await writer.append(contentsOf: batch), batch) {
                    journal.record(entry, bytes: bytes, on: medium)
                }
            }
            try await stream.close()
            journal.acknowledgeAll(on: medium)
        } check: { state in
            try await self.checkRestarted(state, against: journal, "\(state)")
        }
        print("crash simulation: \(states) crash states of batches written beside an entry in flight")
        #expect(states >= min(4, defaultMaxPersistPoints) * CrashMode.standardModes.count)
    }

    @Test("a writer killed between storing the checkpoint and persisting it: what the next one reports persisted stays")
    func killedBeforeItsCheckpointWasDurable() async throws {
        let (image, _) = try await self.threeEntriesBeforeACheckpoint()
        let medium = SimulatedMedium(image: image)
        medium.baseAddress.storeWord(3, at: StreamHeader.Field.persistedTimestamp)  // visible, never flushed
        let next = try PMemStream(medium: medium, configuration: Self.configuration)
        #expect(next.persistedTimestamp == 3)
        let restarted = try PMemStream(
            medium: SimulatedMedium(image: medium.crash()),
            configuration: Self.configuration
        )
        #expect(try await restarted.entries().collect().map(\.timestamp) == [1, 2, 3])
    }

    @Test("a writer killed between freeing a region and persisting the free: the region stays freed")
    func killedBeforeItsFreeWasDurable() async throws {
        let (image, regions) = try await self.threeEntriesBeforeACheckpoint()
        // The word the free stores, taken from a copy that frees the region for real.
        let freeing = SimulatedMedium(image: image)
        let stream = try PMemStream(medium: freeing, configuration: Self.configuration)
        try await stream.free(try await stream.region(atOffset: regions[1].offset))
        let medium = SimulatedMedium(image: image)
        medium.baseAddress.storeWord(freeing.word(at: regions[1].offset), at: regions[1].offset)  // never flushed
        let next = try PMemStream(medium: medium, configuration: Self.configuration)
        #expect(await next.regionCount == 1)
        let appended = try await next.writer(for: try await next.region(atOffset: regions[0].offset)).append([9])
        let restarted = try PMemStream(
            medium: SimulatedMedium(image: medium.crash()),
            configuration: Self.configuration
        )
        #expect(try await restarted.entries().collect().map(\.timestamp) == [appended.timestamp])
    }

    @Test(
        "at every persist point of lone appends and a batch of every ending, the last filling its region: the persisted entries"
    )
    func loneEntriesOfEveryEnding() async throws {
        let (setupStream, setupMedium) = try makeStream(size: Self.size)
        let region = try await setupStream.allocateRegion(size: 4032)
        let image = setupMedium.crash()
        let journal = Journal()
        let states = try await forEachCrashState(startingFrom: image) { medium in
            journal.reset(keeping: [:])
            let stream = try PMemStream(medium: medium, configuration: Self.configuration)
            let writer = try await stream.writer(for: try await stream.region(atOffset: region.offset))
            // No data (the terminator alone), a partial word, whole words, both; then a large entry, also
            // written whole with non-temporal copies.
            for (index, size) in [0, 5, 8, 13, 1800].enumerated() {
                let bytes = testBytes(size, seed: 80 + index)
                journal.record(try await writer.append(bytes), bytes: bytes, on: medium)
            }
            // A batch of entries of 256 bytes to 4 KiB, written as lone entries are. Footprints are a 24-byte
            // header, then the data rounded up to 8: the last entry's takes the rest of the region exactly, so
            // it has no terminator; its data ends in a partial word.
            let rest = await writer.availableSize - 624 - 24 - 3
            try #require(RegionWriter.nonTemporalBatchSizes.contains(rest), "the batch must be written non-temporally")
            let batch = [testBytes(600, seed: 91), testBytes(rest, seed: 92)]
            for (entry, bytes) in zip(try await writer.append(contentsOf: batch), batch) {
                journal.record(entry, bytes: bytes, on: medium)
            }
            #expect(await writer.availableSize == 0)
            try await stream.close()
        } check: { state in
            try await self.checkRestarted(state, against: journal, "\(state)")
        }
        print("crash simulation: \(states) crash states of appends of every ending, up to a full region")
        #expect(states >= min(6, defaultMaxPersistPoints) * CrashMode.standardModes.count)
    }

    @Test("at every persist point of a region freed while it is read and its space reused: nothing else is lost")
    func freeWhileReading() async throws {
        let setup = SimulatedMedium(size: Self.size)
        let prepared = try PMemStream(medium: setup, configuration: Self.configuration)
        let a = try await prepared.allocateRegion(size: 8000)
        let b = try await prepared.allocateRegion(size: 4000)
        var initial: [UInt64: [UInt8]] = [:]
        for (index, region) in [a, a, a, b].enumerated() {
            let bytes = testBytes(100 + index, seed: index)
            initial[try await prepared.writer(for: region).append(bytes).timestamp] = bytes
        }
        try await prepared.close()
        let freedTimestamps: Set<UInt64> = [1, 2, 3]
        let journal = Journal()

        let states = try await forEachCrashState(startingFrom: setup.crash()) { medium in
            journal.reset(keeping: initial)
            let stream = try PMemStream(medium: medium, configuration: Self.configuration)
            let regionA = try await stream.region(atOffset: a.offset)
            let writerB = try await stream.writer(for: try await stream.region(atOffset: b.offset))
            var reader = stream.entries(in: regionA).makeAsyncIterator()
            #expect(try await reader.next()?.bytes == initial[1])
            let queued = testBytes(7, seed: 50)
            journal.record(try await writerB.appendAsync(queued).entry, bytes: queued, on: medium, synchronous: false)
            try await stream.free(regionA)
            #expect(await thrownErrorCode { _ = try await reader.next() } == .regionFreed, "a freed region walked on")
            let regionC = try await stream.allocateRegion(size: 8000)
            let reused = testBytes(300, seed: 51)
            journal.record(try await stream.writer(for: regionC).append(reused), bytes: reused, on: medium)
            let last = testBytes(9, seed: 52)
            journal.record(try await writerB.append(last), bytes: last, on: medium)
            try await stream.close()
            journal.acknowledgeAll(on: medium)
        } check: { state in
            let stream = try PMemStream(medium: state.restart(), configuration: Self.configuration)
            let watermark = stream.persistedTimestamp
            let written = journal.written
            var visible = Set<UInt64>()
            for entry in try await stream.entries().collect() {
                visible.insert(entry.timestamp)
                #expect(try entry.bytes == written[entry.timestamp], "entry \(entry.timestamp) differs: \(state)")
            }
            #expect(visible.allSatisfy { $0 <= watermark }, "an entry beyond the watermark: \(state)")
            #expect(
                watermark == 0 || Set(1...watermark).subtracting(freedTimestamps).isSubset(of: visible),
                "a gap other than the freed region's entries: \(visible.sorted()) up to \(watermark): \(state)"
            )
            let lost = journal.acknowledged.subtracting(freedTimestamps).subtracting(visible)
            #expect(lost.isEmpty, "acknowledged entries \(lost.sorted()) lost: \(state)")
            let regions = try await stream.regions.collect()
            let held = regions.reduce(0) { $0 + $1.size + 64 }
            #expect(await stream.freeSize + held == Self.size - 4096, "an extent leaked: \(state)")
        }
        print("crash simulation: \(states) crash states of a region freed while read and reused")
        #expect(states >= min(6, defaultMaxPersistPoints) * CrashMode.standardModes.count)
    }

    @Test("recovery during recovery: an unpersisted entry stays gone after later timestamps pass it")
    func staleEntryNeverReturns() async throws {
        // Session 1: three persisted entries in r1, then a stale one (timestamp 5) beyond a gap at 4.
        let (medium2, r1, r2) = try await sessionWithStaleTail([[5]])

        // Session 2: r1 is never touched; r2 takes timestamp 4 again, and it is persisted.
        let stream2 = try PMemStream(medium: medium2, configuration: Self.configuration)
        #expect(stream2.persistedTimestamp == 3)
        let reused = try await stream2.writer(for: try await stream2.region(atOffset: r2.offset)).append([44])
        #expect(reused.timestamp == 4)
        _ = try await stream2.writer(for: try await stream2.region(atOffset: r2.offset)).append([55])

        // Session 3: r1 still shows three entries; its stale entry (timestamp 5 ≤ watermark 5) never returns.
        let (stream3, medium3) = try restart(medium2)
        #expect(stream3.persistedTimestamp == 5)
        let r1Entries = try await stream3.entries(in: try await stream3.region(atOffset: r1.offset)).collect()
        #expect(try r1Entries.map { try $0.bytes } == [[1], [2], [3]])
        let all = try await stream3.entries().collect()
        #expect(all.map(\.timestamp) == [1, 2, 3, 4, 5])
        #expect(try all.map { try $0.bytes } == [[1], [2], [3], [44], [55]])
        // Once r1 is written again, its stale tail is overwritten for good.
        let sixth = try await stream3.writer(for: try await stream3.region(atOffset: r1.offset)).append([6])
        #expect(sixth.timestamp == 6)
        let (stream4, _) = try restart(medium3)
        let r1After = try await stream4.entries(in: try await stream4.region(atOffset: r1.offset)).collect()
        #expect(try r1After.map { try $0.bytes } == [[1], [2], [3], [6]])
        #expect(r1After.map(\.timestamp) == [1, 2, 3, 6])
    }

    @Test("a stale entry beyond a cut tail is never reached, even when a new entry ends exactly where it starts")
    func terminatorsHideStaleEntries() async throws {
        // Session 1: entries 1–3 persisted; stale entries [5] and [6] (timestamps 5, 6) beyond a gap at 4.
        let (medium2, r1, r2) = try await sessionWithStaleTail([[5], [6]])

        // Session 2: r1's tail is cut at the stale entry 5; a new entry of the same size takes its place
        // and ends exactly where the stale entry 6 starts; r2 then commits timestamps 5 and 6.
        let stream2 = try PMemStream(medium: medium2, configuration: Self.configuration)
        #expect(stream2.persistedTimestamp == 3)
        let region1 = try await stream2.region(atOffset: r1.offset)
        #expect(try await stream2.writer(for: region1).append([40]).timestamp == 4)
        #expect(
            try await stream2.writer(for: try await stream2.region(atOffset: r2.offset)).append([50]).timestamp == 5
        )
        #expect(try await stream2.entries(in: region1).collect().map { try $0.bytes } == [[1], [2], [3], [40]])
        let (stream3, _) = try restart(medium2)
        let reopened = try await stream3.entries(in: try await stream3.region(atOffset: r1.offset)).collect()
        #expect(try reopened.map { try $0.bytes } == [[1], [2], [3], [40]])
    }

    @Test(
        "repeated crash and reopen cycles with appends in between keep exactly the persisted prefix",
        arguments: [1, 2, 3] as [UInt64]
    )
    func crashCycles(seed: UInt64) async throws {
        var generator = SeededRandomNumberGenerator(seed: seed)
        let (setupStream, setupMedium) = try makeStream(size: 256 * 1024)
        var offsets: [Int] = []
        for _ in 0..<3 {
            offsets.append(try await setupStream.allocateRegion(size: 60_000).offset)
        }
        var image = setupMedium.crash()
        var written: [UInt64: [UInt8]] = [:]
        for cycle in 0..<15 {
            let medium = SimulatedMedium(image: image)
            let stream = try PMemStream(medium: medium, configuration: Self.configuration)
            let journal = Journal()
            journal.reset(keeping: written)
            medium.cutPower(atPersistPoint: medium.persistPointCount + Int.random(in: 1...30, using: &generator))
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                let region = try await stream.region(atOffset: offsets.randomElement(using: &generator)!)
                let bytes = testBytes(Int.random(in: 0...300, using: &generator), seed: cycle)
                journal.record(try await stream.writer(for: region).append(bytes), bytes: bytes, on: medium)
            }
            image = medium.crash(.tornWords(seed: seed &+ UInt64(cycle)))
            let reopened = try PMemStream(medium: SimulatedMedium(image: image), configuration: Self.configuration)
            written = try await self.checkVisible(
                reopened,
                written: journal.written,
                acknowledged: journal.acknowledged,
                "seed \(seed), cycle \(cycle)"
            )
        }
    }
}
