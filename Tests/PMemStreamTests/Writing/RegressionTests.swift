import PMemStreamTestKit
import Testing

@testable import PMemStream

/// Crash-consistency and concurrency bugs found in review, each reproduced before its fix.
@Suite("Regressions: durability and concurrency", .timeLimit(.minutes(5)))
struct RegressionTests {
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)

    @Test(
        "freeing a region never loses the acknowledged entries of another",
        arguments: [PMemStream.Configuration(blockSize: 4096, persistWorkers: 0), .init(blockSize: 4096)]
    )
    func freeKeepsOtherRegionsEntries(configuration: PMemStream.Configuration) async throws {
        let medium = SimulatedMedium(size: 64 * 1024)
        let stream = try PMemStream(medium: medium, configuration: configuration)
        let r1 = try await stream.allocateRegion(size: 4032)
        let r2 = try await stream.allocateRegion(size: 4032)
        _ = try await stream.writer(for: r1).append([1])
        let acknowledged = try await stream.writer(for: r2).append([2])
        try await stream.free(r1)
        // Power fails right after the free.
        let reopened = try PMemStream(
            medium: SimulatedMedium(image: medium.crash(.drainedOnly)),
            configuration: Self.configuration
        )
        #expect(reopened.persistedTimestamp >= acknowledged.timestamp)
        let entries = try await reopened.entries(in: try await reopened.region(atOffset: r2.offset)).collect()
        #expect(try entries.map { try $0.bytes } == [[2]])
    }

    @Test("a crash at every persist point after a free keeps every acknowledged entry")
    func freeIsCrashSafeForOtherRegions() async throws {
        let setup = SimulatedMedium(size: 64 * 1024)
        let prepared = try PMemStream(medium: setup, configuration: Self.configuration)
        _ = try await prepared.allocateRegion(size: 4032)
        _ = try await prepared.allocateRegion(size: 4032)
        try await prepared.close()
        let acknowledged = Lock<Set<UInt64>>([])
        let states = try await forEachCrashState(startingFrom: setup.crash()) { medium in
            acknowledged.withLock { $0 = [] }
            let stream = try PMemStream(medium: medium, configuration: Self.configuration)
            let r1 = try await stream.region(atOffset: 4096)
            let r2 = try await stream.region(atOffset: 8192)
            for index in 0..<3 {
                let entry = try await stream.writer(for: index == 1 ? r2 : r1).append([UInt8(index)])
                if !medium.isPowerCut { _ = acknowledged.withLock { $0.insert(entry.timestamp) } }
            }
            _ = try await stream.writer(for: r1).appendAsync([9])
            try await stream.free(r1)
            let last = try await stream.writer(for: r2).append([7])
            if !medium.isPowerCut { _ = acknowledged.withLock { $0.insert(last.timestamp) } }
        } check: { state in
            let stream = try PMemStream(medium: state.restart(), configuration: Self.configuration)
            let persisted = stream.persistedTimestamp
            // Entries of the freed region are gone; every acknowledged entry of the other one is there.
            let surviving = Set(try await stream.entries().collect().map(\.timestamp))
            for timestamp in acknowledged.withLock({ $0 }) where timestamp != 1 && timestamp != 3 {
                #expect(
                    surviving.contains(timestamp),
                    "\(state): acknowledged \(timestamp) lost (persisted \(persisted))"
                )
            }
        }
        print("crash simulation: \(states) crash states of a free between appends to another region")
    }

    @Test(
        "a crash while a new entry is written over a stale one never brings the stale one back",
        arguments: [CrashMode.randomLines(seed: 0)]
            + (1...24).flatMap { [CrashMode.randomLines(seed: $0), .tornWords(seed: $0)] }
    )
    func staleEntriesStayGone(mode: CrashMode) async throws {
        // Cut power at each persist point of the append (and of the scrub before it, when there is one).
        for point in 1...3 {
            let (medium, r1, r2) = try await sessionWithStaleTail([[5], [6]])
            let stream = try PMemStream(medium: medium, configuration: Self.configuration)
            #expect(stream.persistedTimestamp == 3)
            #expect(
                try await stream.writer(for: try await stream.region(atOffset: r2.offset)).append([44]).timestamp == 4
            )
            // Recover r1 for writing, then append [50] as timestamp 5 exactly where the stale [5] was, its
            // terminator where the stale [6] starts.
            let writer = try await stream.writer(for: try await stream.region(atOffset: r1.offset))
            medium.cutPower(atPersistPoint: medium.persistPointCount + point)
            let fifth = try await writer.append([50])
            #expect(fifth.timestamp == 5)
            let image = medium.crash(mode)
            let reopened = try PMemStream(medium: SimulatedMedium(image: image), configuration: Self.configuration)
            let bytes = try await reopened.entries().collect().map { try $0.bytes }
            #expect(
                !bytes.contains([5]) && !bytes.contains([6]),
                "\(mode), point \(point): stale entries came back: \(bytes)"
            )
        }
    }

    @Test("region sequence numbers are never handed out twice, also across a reopen")
    func sequencesAreNeverReused() async throws {
        let medium = SimulatedMedium(size: 64 * 1024)
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        _ = try await stream.allocateRegion(size: 4032)
        let second = try await stream.allocateRegion(size: 100)
        _ = try await stream.writer(for: second).append([1, 2, 3])
        try await stream.free(second)
        try await stream.close()
        let reopened = try PMemStream(medium: SimulatedMedium(image: medium.crash()), configuration: Self.configuration)
        let third = try await reopened.allocateRegion(size: 100)
        #expect(third.offset == second.offset)
        #expect(third.sequence != second.sequence, "sequence \(second.sequence) handed out twice")
        #expect(
            try await reopened.entries(in: third).collect().isEmpty,
            "the old region's entries do not validate here"
        )
        let again = try PMemStream(medium: SimulatedMedium(image: medium.crash()), configuration: Self.configuration)
        #expect(try await again.entries().collect().isEmpty)
    }

    @Test("an asynchronous append that waited for room never takes the room of an explicit reservation")
    func asyncAppendRespectsReservation() async throws {
        let medium = GatedMedium(size: 64 * 1024)
        let stream = try PMemStream(
            medium: medium,
            configuration: .init(blockSize: 4096, persistWorkers: 1, maxQueuedAppends: 1)
        )
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        medium.holdDrains()
        _ = try await writer.appendAsync([1])
        while !medium.isHoldingDrain {
            await Task.yield()  // the worker took it and is held in its drain
        }
        _ = try await writer.appendAsync([2])  // the queue is full now
        let pending = Task { try await writer.appendAsync([UInt8](repeating: 0xAA, count: 40)) }
        for _ in 0..<1000 { await Task.yield() }  // let it reach the wait for room
        let reservation = try await writer.reserve(64)
        medium.releaseDrains()  // room again
        for _ in 0..<1000 { await Task.yield() }  // let the waiting append run, if it could
        reservation.withUnsafeMutableBytes { $0.copyBytes(from: [UInt8](repeating: 0x55, count: 64)) }
        let published = try await reservation.publish(size: 64)
        let receipt = try await pending.value
        #expect(try published.bytes == [UInt8](repeating: 0x55, count: 64))
        try await receipt.persisted()
        let entries = try await stream.entries(in: region).collect()
        #expect(entries.count == 4)
        #expect(try receipt.entry.bytes == [UInt8](repeating: 0xAA, count: 40))
    }

    @Test("freeing a region does not end a public wait early")
    func freeDoesNotWakePublicWaits() async throws {
        let mover = HeldDataMover()
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 64 * 1024),
            configuration: .init(blockSize: 4096, persistWorkers: 0, dataMover: mover)
        )
        let held = try await stream.allocateRegion(size: 4032)
        let other = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: held)
        let pending = Task { try await writer.appendAsync([7]) }  // timestamp 1, held in the mover
        await mover.waitUntilHolding()
        let waiter = Task { () throws -> UInt64 in
            try await stream.waitCommitted(1)
            return stream.committedTimestamp
        }
        for _ in 0..<1000 { await Task.yield() }  // let the waiter register
        try await stream.free(other)
        mover.release()
        _ = try await pending.value
        #expect(try await waiter.value >= 1, "waitCommitted(1) returned before timestamp 1 was committed")
    }

    enum RoomUse: CaseIterable, Sendable { case abandoned, publishedShorter, fillThrows }
    struct FillFailed: Error {}

    /// The stale tail is `[5]` at the region's tail and `[6]` 32 bytes after it; a room of `capacity` bytes
    /// starts 24 bytes after the tail. Up to 28 bytes, the room ends before the kind word of `[6]`'s header;
    /// from 29 to 31 it covers part of that kind word (the caller's bytes alter it, so the scrub that reads
    /// what the program sees would not find the header); from 32 it covers all of it.
    @Test(
        "bytes written into a reservation and not published never hide a stale header from the scrub",
        arguments: RoomUse.allCases,
        [24, 29, 30, 31, 32, 40]
    )
    func reservationRoomsAreScrubbed(use: RoomUse, capacity: Int) async throws {
        for seed in 0..<16 as Range<UInt64> {
            let (medium, r1, r2) = try await sessionWithStaleTail([[5], [6]])
            let stream = try PMemStream(medium: medium, configuration: Self.configuration)
            _ = try await stream.writer(for: try await stream.region(atOffset: r2.offset)).append([44])
            let writer = try await stream.writer(for: try await stream.region(atOffset: r1.offset))
            let garbage = [UInt8](repeating: 0xEE, count: capacity)
            switch use {
            case .abandoned:
                let reservation = try await writer.reserve(capacity)
                reservation.withUnsafeMutableBytes { $0.copyBytes(from: garbage) }
                await reservation.abandon()
                medium.cutPower(atPersistPoint: medium.persistPointCount + 1)
                #expect(try await writer.append([50]).timestamp == 5)
            case .publishedShorter:
                let reservation = try await writer.reserve(capacity)
                reservation.withUnsafeMutableBytes { $0.copyBytes(from: garbage) }
                medium.cutPower(atPersistPoint: medium.persistPointCount + 1)
                #expect(try await reservation.publish(size: 1).timestamp == 5)
            case .fillThrows:
                _ = try? await writer.append(reserving: capacity) { (output: inout OutputRawSpan) throws(FillFailed) in
                    for byte in garbage { output.append(byte) }
                    throw FillFailed()
                }
                medium.cutPower(atPersistPoint: medium.persistPointCount + 1)
                #expect(try await writer.append([50]).timestamp == 5)
            }
            let reopened = try PMemStream(
                medium: SimulatedMedium(image: medium.crash(.randomLines(seed: seed))),
                configuration: Self.configuration
            )
            let bytes = try await reopened.entries().collect().map { try $0.bytes }
            #expect(!bytes.contains([6]), "\(use), \(capacity) bytes, seed \(seed): the stale [6] came back: \(bytes)")
        }
    }

    @Test("a free cancelled while it waits for the checkpoint leaves the region as it was")
    func cancelledFreeChangesNothing() async throws {
        let mover = HeldDataMover()
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 64 * 1024),
            configuration: .init(blockSize: 4096, persistWorkers: 1, dataMover: mover)
        )
        let held = try await stream.allocateRegion(size: 4032)
        let other = try await stream.allocateRegion(size: 4032)
        let heldWriter = try await stream.writer(for: held)
        let otherWriter = try await stream.writer(for: other)
        let pending = Task { try await heldWriter.appendAsync([7]) }  // timestamp 1, held in the mover
        await mover.waitUntilHolding()
        let durable = Task { try await otherWriter.append([8]) }  // timestamp 2: durable, waits for 1
        while await otherWriter.availableSize == 4032 {
            await Task.yield()  // until timestamp 2 is written and waits for 1
        }
        let freeing = Task { try await stream.free(other) }
        for _ in 0..<1000 { await Task.yield() }
        freeing.cancel()
        let freed = await freeing.result
        mover.release()
        _ = try await pending.value
        _ = try await durable.value
        if case .failure = freed {
            #expect(await stream.regionCount == 2)
            #expect(try await otherWriter.append([9]).timestamp == 3, "the region can still be written")
            try await stream.free(other)
        }
        #expect(await stream.regionCount == 1)
    }
}
