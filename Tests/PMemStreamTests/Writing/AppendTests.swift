import PMemStream
import PMemStreamTestKit
import Testing

@Suite("Appending and reading back")
struct AppendTests {
    @Test("entries of every size read back byte for byte, before and after a restart")
    func appendReadBack() async throws {
        let sizes = [0, 1, 7, 8, 63, 64, 65, 4095, 4096, 1 << 20]
        let (stream, medium) = try makeStream(size: 4 << 20)
        let region = try await stream.allocateRegion(size: 2 << 20)
        let writer = try await stream.writer(for: region)
        var appended: [Entry] = []
        for (index, size) in sizes.enumerated() {
            appended.append(try await writer.append(testBytes(size, seed: index)))
        }
        #expect(appended.map(\.timestamp) == Array(1...UInt64(sizes.count)))
        #expect(appended.map(\.size) == sizes)
        for (entry, read) in zip(appended, try await stream.entries(in: region).collect()) {
            #expect(read == entry)
            #expect(try read.bytes == testBytes(entry.size, seed: appended.firstIndex(of: entry)!))
        }
        let (reopened, _) = try restart(medium)
        let again = try await reopened.entries(in: try await reopened.region(atOffset: region.offset)).collect()
        #expect(again.map(\.timestamp) == appended.map(\.timestamp))
        for (index, entry) in again.enumerated() {
            #expect(try entry.bytes == testBytes(sizes[index], seed: index))
        }
    }

    @Test("every append form writes the same entry")
    func appendForms() async throws {
        let (stream, _) = try makeStream()
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
        let bytes = testBytes(100, seed: 3)
        var entries: [Entry] = []
        entries.append(try await writer.append(bytes))
        entries.append(try await writer.append(bytes[...]))  // a contiguous collection
        entries.append(try await writer.append(bytes.lazy.map { $0 }))  // not contiguous
        entries.append(try await writer.append(bytes.span.bytes))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        entries.append(try await writer.append(RawSpan(_unsafeBytes: UnsafeRawBufferPointer(buffer))))
        entries += try await writer.append(contentsOf: [bytes, bytes])
        entries.append(
            try await writer.append(reserving: 500) { output in
                for byte in bytes { output.append(byte) }
            }
        )
        let reservation = try await writer.reserve(100)
        reservation.withUnsafeMutableBytes { room in room.copyBytes(from: bytes) }
        entries.append(try await reservation.publish())
        #expect(entries.map(\.timestamp) == Array(1...9))
        for entry in entries {
            #expect(try entry.bytes == bytes, "\(entry)")
        }
        #expect(try await stream.entries(in: writer.region).collect() == entries)
    }

    @Test(
        "a batch returns its entries in order, as the region holds them, also behind an entry still being copied",
        arguments: [false, true]
    )
    func batchEntries(behindCopy: Bool) async throws {
        let mover = HeldDataMover()
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 1 << 20),
            configuration: .init(persistWorkers: 0, dataMover: mover)
        )
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
        let pending = behindCopy ? Task { try await writer.appendAsync([7]) } : nil
        if pending != nil {
            await mover.waitUntilHolding()
        } else {
            mover.release()
        }
        let batch = [0, 1, 600, 4096, 3].map { testBytes($0, seed: $0) }
        let appending = Task { try await writer.append(contentsOf: batch) }
        if pending != nil {
            // Until the batch is written, drained and waits for the held entry.
            try #require(await writer.waitUntilSealedInFlight(batch.count))
            mover.release()
            _ = try await pending?.value
        }
        let entries = try await appending.value
        let first: UInt64 = behindCopy ? 2 : 1
        #expect(entries.count == batch.count)
        #expect(entries.map(\.timestamp) == Array(first..<first + UInt64(batch.count)))
        #expect(entries.map(\.size) == batch.map(\.count))
        #expect(try entries.map { try $0.bytes } == batch)
        #expect(try await Array(stream.entries(in: writer.region).collect().suffix(batch.count)) == Array(entries))
        #expect(entries.last == entries[batch.count - 1])
        #expect(try await writer.append(contentsOf: []).isEmpty)
    }

    @Test(
        "two tasks appending batches to one region at once: each batch whole, contiguous, in order, persisted on return",
        .timeLimit(.minutes(1))
    )
    func batchesFromTwoTasks() async throws {
        let mover = HeldDataMover()
        let stream = try PMemStream(medium: SimulatedMedium(size: 4 << 20), configuration: .init(dataMover: mover))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 3 << 20))
        // Held in the data mover, so that both tasks' first batches are written beside it, and the batches
        // after them beside each other (see `RegionWriter.writesBeside(contended:)`), whatever the timing.
        let held = Task { try await writer.appendAsync([42]) }
        await mover.waitUntilHolding()
        // Copied and flushed, written whole with non-temporal stores on AMD CPUs, and streamed as copied.
        let sizes = [[8, 64, 1, 100, 200, 0, 13, 64], [300, 600, 1000, 256], [2100, 8, 700]]
        let batchesPerTask = 120
        let appended = try await withThrowingTaskGroup(of: [AppendedEntries].self) { group in
            for task in 0..<2 {
                group.addTask {
                    var appended: [AppendedEntries] = []
                    for index in 0..<batchesPerTask {
                        let batch = sizes[index % sizes.count].enumerated().map {
                            testBytes($0.element, seed: task * 100_000 + index * 10 + $0.offset)
                        }
                        let entries = try await writer.append(contentsOf: batch)
                        #expect(stream.persistedTimestamp >= entries[entries.count - 1].timestamp)
                        #expect(try entries.map { try $0.bytes } == batch)
                        appended.append(entries)
                    }
                    return appended
                }
            }
            // Both first batches written, drained and waiting for the held entry.
            try #require(await writer.waitUntilSealedInFlight(2 * sizes[0].count))
            mover.release()
            return try await group.reduce(into: []) { $0 += $1 }
        }
        for entries in appended {
            #expect(zip(entries, entries.dropFirst()).allSatisfy { $1.timestamp == $0.timestamp + 1 })
            #expect(zip(entries, entries.dropFirst()).allSatisfy { $1.offset == $0.offset + (24 + $0.size + 7) & ~7 })
        }
        let read = try await stream.entries(in: writer.region).collect()
        #expect(read.first == (try await held.value).entry)
        #expect(Array(read.dropFirst()) == appended.flatMap { $0 }.sorted { $0.timestamp < $1.timestamp })
        #expect(zip(read, read.dropFirst()).allSatisfy { $1.offset > $0.offset })
        try await stream.close()
    }

    @Test(
        "a region fills exactly, writing nothing past its end, and the usable size counts every footprint",
        arguments: [0, 3]
    )
    func exactFill(partialBytes: Int) async throws {
        let (stream, medium) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let neighbour = try await stream.allocateRegion(size: 4032)
        let neighbourHeader = Array(medium.allBytes[neighbour.offset..<neighbour.offset + 64])
        let writer = try await stream.writer(for: region)
        #expect(await writer.availableSize == region.size)
        _ = try await writer.append(testBytes(5, seed: 1))  // 24 + 5 → 32 bytes
        #expect(await writer.availableSize == region.size - 32)
        #expect(try await stream.usableSize(of: region) == region.size - 32)
        // The last entry's data ends in a partial word when `partialBytes` is not 0.
        let lastBytes = testBytes(region.size - 32 - 24 - partialBytes, seed: 2)
        let last = try await writer.append(lastBytes)
        #expect(last.offset + 24 + last.size + partialBytes == region.offset + 64 + region.size)
        #expect(await writer.availableSize == 0)
        #expect(Array(medium.allBytes[neighbour.offset..<neighbour.offset + 64]) == neighbourHeader)
        #expect(await thrownErrorCode { try await writer.append([]) } == .entryTooLarge)
        #expect(
            try await stream.entries(in: region).collect().map { try $0.bytes } == [testBytes(5, seed: 1), lastBytes]
        )
    }

    /// How ``terminatorAfterEachEntry(size:way:)`` appends its entry.
    enum TerminatedAppend: String, CaseIterable, CustomTestStringConvertible {
        case lone
        case batch
        /// A batch written beside an entry still being copied: its terminator is stored when it is reserved
        /// and flushed with its entries; here it starts a cache line.
        case batchBehindCopy

        var testDescription: String { self.rawValue }
    }

    @Test(
        "a synchronous append or batch ends with a durable terminator, also over bytes an abandoned reservation left",
        arguments: [0, 5, 8, 13, 100, 256, 300, 1000, 4096, 5000],
        TerminatedAppend.allCases
    )
    func terminatorAfterEachEntry(size: Int, way: TerminatedAppend) async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let mover = HeldDataMover()
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0, dataMover: mover))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 16_000))
        let reservation = try await writer.reserve(size + 800)
        reservation.withUnsafeMutableBytes { room in
            _ = room.initializeMemory(as: UInt8.self, repeating: 0xAB)
            // Written back, as the caches may do with any line: the medium holds them too.
            let start = room.baseAddress! - medium.baseAddress
            medium.persist(start..<start + room.count)
        }
        await reservation.abandon()
        let bytes = testBytes(size, seed: 3)
        // Batched, as the last of two entries: a batch whose entries all have 256 bytes to 4 KiB (here 1000
        // and 4096) is written as lone entries are, the others are copied and flushed.
        let batch = [testBytes(600, seed: 4), bytes]
        let entry: Entry
        switch way {
        case .lone:
            mover.release()
            entry = try await writer.append(bytes)
        case .batch:
            mover.release()
            entry = try await writer.append(contentsOf: batch)[1]
        case .batchBehindCopy:
            // The held entry's size puts the batch's end at a cache line's start: its terminator then shares
            // no line with the entries, and is durable only if it is flushed itself.
            let footprint = { (size: Int) in (24 + size + 7) & ~7 }
            let tail = writer.region.offset + 64 + writer.region.size - (await writer.availableSize)
            let batchEnd = tail + 24 + footprint(600) + footprint(size)
            let heldSize = (64 - batchEnd % 64) % 64
            let held = Task { try await writer.appendAsync(testBytes(heldSize, seed: 5)) }
            await mover.waitUntilHolding()
            let appending = Task { try await writer.append(contentsOf: batch)[1] }
            // Until the batch is written, drained and waits for the held entry.
            try #require(await writer.waitUntilSealedInFlight(batch.count))
            mover.release()
            _ = try await held.value
            await stream.persistCommitted()
            entry = try await appending.value
        }
        let end = entry.offset + (24 + size + 7) & ~7
        #expect(medium.word(at: end) == 0, "the program sees the terminator")
        #expect(medium.word(at: end + 8) == 0xABAB_ABAB_ABAB_ABAB, "nothing is written past the terminator")
        // Lines written but not drained come back old or new at random: the terminator must have been drained.
        for seed: UInt64 in 1...8 {
            let image = medium.crash(.randomLines(seed: seed))
            #expect(image[end..<end + 8].allSatisfy { $0 == 0 }, "the terminator is durable (seed \(seed))")
            #expect(Array(image[entry.offset + 24..<entry.offset + 24 + size]) == bytes, "seed \(seed)")
        }
    }

    @Test("an entry that does not fit fails, consumes no timestamp and changes nothing")
    func tooLarge() async throws {
        // No persist worker: its checkpoints would change the header while the bytes are compared.
        let medium = SimulatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        _ = try await writer.append([1, 2, 3])
        let before = medium.allBytes
        #expect(await thrownErrorCode { try await writer.append(testBytes(4032, seed: 0)) } == .entryTooLarge)
        #expect(
            await thrownErrorCode { try await writer.append(contentsOf: [[1], testBytes(4000, seed: 0)]) }
                == .entryTooLarge
        )
        #expect(await thrownErrorCode { _ = try await writer.reserve(5000) } == .entryTooLarge)
        #expect(medium.allBytes == before)
        #expect(try await writer.append([4]).timestamp == 2)
    }

    @Test("a reservation may publish fewer bytes than it reserved, never more")
    func reservationSizes() async throws {
        let (stream, _) = try makeStream()
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        let reservation = try await writer.reserve(100)
        reservation.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 9) }
        let entry = try await reservation.publish(size: 10)
        #expect(entry.size == 10)
        #expect(try entry.bytes == [UInt8](repeating: 9, count: 10))
        #expect(await writer.availableSize == 4032 - 40)

        let tooMuch = try await writer.reserve(16)
        do {
            _ = try await tooMuch.publish(size: 17)
            Issue.record("publishing more than was reserved succeeded")
        } catch {
            #expect(error.code == .invalidEntrySize)
        }
        #expect(await writer.availableSize == 4032 - 40, "the failed publish gave its room back")
        #expect(try await writer.append([1]).timestamp == 2, "no timestamp was consumed")
    }

    @Test("an abandoned or dropped reservation leaves later entries reachable, also after a restart")
    func abandonedReservations() async throws {
        let (stream, medium) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        _ = try await writer.append([1])
        let abandoned = try await writer.reserve(200)
        abandoned.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xEE) }
        await abandoned.abandon()
        _ = try await writer.append([2])
        do {
            let dropped = try await writer.reserve(300)
            dropped.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xDD) }
        }
        _ = try await writer.append([3])  // waits until the dropped reservation has ended
        let expected: [[UInt8]] = [[1], [2], [3]]
        #expect(try await stream.entries(in: region).collect().map { try $0.bytes } == expected)
        let (reopened, _) = try restart(medium)
        let entries = try await reopened.entries(in: try await reopened.region(atOffset: region.offset)).collect()
        #expect(try entries.map { try $0.bytes } == expected)
        #expect(entries.map(\.timestamp) == [1, 2, 3])
    }

    @Test(
        "tasks appending to one region at once, in every form, get whole entries in timestamp order",
        .timeLimit(.minutes(2))
    )
    func manyTasksOneRegion() async throws {
        let (stream, medium) = try makeStream(size: 8 << 20)
        let region = try await stream.allocateRegion(size: 4 << 20)
        let writer = try await stream.writer(for: region)
        let tasks = 6
        let rounds = 150
        // Each task's entries, by timestamp, with the bytes each was given.
        let appended = try await withThrowingTaskGroup(of: [UInt64: [UInt8]].self) { group in
            for task in 0..<tasks {
                group.addTask { @concurrent in
                    var entries: [UInt64: [UInt8]] = [:]
                    for round in 0..<rounds {
                        let seed = task * rounds + round
                        let bytes = testBytes([0, 8, 100, 1000, 5000][seed % 5], seed: seed)
                        switch (task + round) % 4 {
                        case 0: entries[try await writer.append(bytes).timestamp] = bytes
                        case 1: entries[try await writer.appendAsync(bytes).entry.timestamp] = bytes
                        case 2:
                            for entry in try await writer.append(contentsOf: [bytes, bytes]) {
                                entries[entry.timestamp] = bytes
                            }
                        default:
                            let entry = try await writer.append(reserving: bytes.count) { output in
                                for byte in bytes { output.append(byte) }
                            }
                            entries[entry.timestamp] = bytes
                        }
                    }
                    return entries
                }
            }
            return try await group.reduce(into: [:]) { $0.merge($1) { first, _ in first } }
        }
        await stream.persistCommitted()
        let read = try await stream.entries(in: region).collect()
        // A batch (every fourth round) appends two entries.
        let expected = (0..<tasks).map { task in (0..<rounds).map { (task + $0) % 4 == 2 ? 2 : 1 }.reduce(0, +) }
        #expect(appended.count == expected.reduce(0, +), "no two entries got one timestamp")
        #expect(read.map(\.timestamp) == appended.keys.sorted(), "region order is timestamp order")
        for entry in read {
            #expect(try entry.bytes == appended[entry.timestamp], "entry \(entry.timestamp)")
        }
        let (reopened, _) = try restart(medium)
        let again = try await reopened.entries(in: try await reopened.region(atOffset: region.offset)).collect()
        #expect(again.map(\.timestamp) == read.map(\.timestamp))
    }

    @Test("appends inside withIsolation are durable on return each, mix with other tasks' appends, and throw")
    func appendsWithIsolation() async throws {
        let (stream, medium) = try makeStream()
        let region = try await stream.allocateRegion(size: 64 * 1024)
        let writer = try await stream.writer(for: region)
        let other = Task {
            for index in 0..<40 {
                _ = try await writer.append([UInt8(index)])
            }
        }
        let isolated = try await writer.withIsolation { writer in
            var entries: [Entry] = []
            for index in 0..<40 {
                let entry = try await writer.append(testBytes(index, seed: index))
                #expect(stream.persistedTimestamp >= entry.timestamp, "durable on return")
                entries.append(entry)
            }
            return entries
        }
        try await other.value
        #expect(isolated.map(\.timestamp) == isolated.map(\.timestamp).sorted())
        #expect(
            await thrownErrorCode {
                try await writer.withIsolation { writer in try await writer.append(testBytes(1 << 20, seed: 0)) }
            } == .entryTooLarge
        )
        let (reopened, _) = try restart(medium)
        let again = try await reopened.entries(in: try await reopened.region(atOffset: region.offset)).collect()
        #expect(again.count == 80)
        for entry in isolated {
            let read = try #require(again.first { $0.timestamp == entry.timestamp })
            #expect(try read.bytes == testBytes(entry.size, seed: entry.size))
        }
    }

    @Test("timestamps are stream-wide, start at 1, and have no gaps")
    func timestampsAcrossRegions() async throws {
        let (stream, _) = try makeStream()
        let first = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        let second = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        var timestamps: [UInt64] = []
        for index in 0..<6 {
            timestamps.append(try await (index % 2 == 0 ? first : second).append([UInt8(index)]).timestamp)
        }
        #expect(timestamps == [1, 2, 3, 4, 5, 6])
        #expect(stream.committedTimestamp == 6)
        #expect(stream.persistedTimestamp == 6)
        let merged = try await stream.entries(since: 2).collect()
        #expect(merged.map(\.timestamp) == [3, 4, 5, 6])
        #expect(try merged.map { try $0.bytes } == [[2], [3], [4], [5]])
    }
}
