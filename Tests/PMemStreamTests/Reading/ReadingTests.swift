import PMemStream
import PMemStreamTestKit
import Testing

@Suite("Reading entries, and what may not be read")
struct ReadingTests {
    @Test("a corrupted byte in a persisted entry is reported by iteration, and the entry is never returned")
    func corruptedEntry() async throws {
        let (stream, medium) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        let entries = [
            try await writer.append(testBytes(40, seed: 1)), try await writer.append(testBytes(40, seed: 2)),
        ]
        try await stream.close()

        for live in [true, false] {
            var image = medium.crash()
            image[entries[1].offset + 24 + 5] ^= 0x10  // one data byte of the second entry
            let damaged = SimulatedMedium(image: image)
            let reopened = try PMemStream(medium: damaged, configuration: .init(blockSize: 4096))
            let handle = try await reopened.region(atOffset: region.offset)
            if live {
                #expect(await thrownErrorCode { try await reopened.writer(for: handle) } == .corruptedEntry)
            }
            var seen: [Entry] = []
            let code = await thrownErrorCode {
                for try await entry in reopened.entries(in: handle) { seen.append(entry) }
            }
            #expect(code == .corruptedEntry)
            #expect(seen.map(\.timestamp) == [1])
            #expect(await thrownErrorCode { try await reopened.entries().collect() } == .corruptedEntry)
        }
    }

    @Test("the merged sequence yields every entry that surely precedes a damaged one, then reports the damage")
    func mergedIterationUpToDamage() async throws {
        let (stream, medium) = try makeStream()
        let first = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        let second = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        var damaged: Entry?
        for timestamp in 1...5 as ClosedRange<UInt64> {
            let entry = try await (timestamp % 2 == 1 ? first : second).append(testBytes(20, seed: Int(timestamp)))
            #expect(entry.timestamp == timestamp)
            if timestamp == 3 { damaged = entry }
        }
        try await stream.close()
        var image = medium.crash()
        image[damaged!.offset + 24 + 3] ^= 0x01
        let reopened = try PMemStream(medium: SimulatedMedium(image: image), configuration: .init(blockSize: 4096))
        for since in [0, 1] as [UInt64] {
            var seen: [UInt64] = []
            let code = await thrownErrorCode {
                for try await entry in reopened.entries(since: since) { seen.append(entry.timestamp) }
            }
            // 1 and 2 come before the damaged 3 whatever its timestamp; 4 and 5 may not.
            #expect(code == .corruptedEntry)
            #expect(seen == [1, 2].filter { $0 > since }, "since \(since)")
        }
    }

    @Test("a damaged entry stops appearing with its region: freed while the merged sequence holds the damage")
    func damageOfAFreedRegion() async throws {
        let (stream, medium) = try makeStream()
        let first = try await stream.allocateRegion(size: 4032)
        let second = try await stream.allocateRegion(size: 4032)
        var damaged: Entry?
        for timestamp in 1...4 as ClosedRange<UInt64> {
            let region = timestamp % 2 == 1 ? first : second
            let entry = try await stream.writer(for: region).append(testBytes(20, seed: Int(timestamp)))
            if timestamp == 3 { damaged = entry }
        }
        try await stream.close()
        var image = medium.crash()
        image[damaged!.offset + 24 + 3] ^= 0x01
        let reopened = try PMemStream(medium: SimulatedMedium(image: image), configuration: .init(blockSize: 4096))
        var iterator = reopened.entries(since: 0).makeAsyncIterator()
        var seen = [try await iterator.next()!.timestamp, try await iterator.next()!.timestamp]
        // The first region's head is now the damage at 3; freeing the region takes it away.
        try await reopened.free(try await reopened.region(atOffset: first.offset))
        let code = await thrownErrorCode {
            while let entry = try await iterator.next() { seen.append(entry.timestamp) }
        }
        #expect(code == nil)
        #expect(seen == [1, 2, 4])
    }

    @Test("entries are found again by offset; other offsets are notAnEntry")
    func entryLookup() async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        let first = try await writer.append(testBytes(10, seed: 1))
        let second = try await writer.append(testBytes(20, seed: 2))
        #expect(try await stream.entry(in: region, atOffset: second.offset) == second)
        #expect(try await stream.entry(in: region, atOffset: first.offset) == first)
        for offset in [first.offset + 8, second.offset + 40, region.offset, region.offset + 64 + 4032, -8, 1 << 40] {
            #expect(
                await thrownErrorCode { try await stream.entry(in: region, atOffset: offset) } == .notAnEntry,
                "offset \(offset)"
            )
        }
    }

    @Test("a freed region's entries, writer and sequences refuse with regionFreed")
    func useAfterFree() async throws {
        let (stream, medium) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        let entry = try await writer.append([1, 2, 3])
        try await stream.free(region)
        let before = medium.allBytes
        #expect(await thrownErrorCode { try entry.bytes } == .regionFreed)
        #expect(await thrownErrorCode { try entry.withUnsafeBytes { Array($0) } } == .regionFreed)
        #expect(await thrownErrorCode { try await writer.append([4]) } == .regionFreed)
        #expect(await thrownErrorCode { try await stream.writer(for: region) } == .regionFreed)
        #expect(await thrownErrorCode { try await stream.entries(in: region).collect() } == .regionFreed)
        #expect(await thrownErrorCode { try await stream.entry(in: region, atOffset: entry.offset) } == .regionFreed)
        #expect(medium.allBytes == before)
    }

    @Test(
        "an iterator whose first step threw tries again on the next call, and throws again",
        arguments: [false, true]
    )
    func iteratorStepAfterItsStartThrew(follow: Bool) async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        _ = try await stream.writer(for: region).append([1])
        try await stream.free(region)
        var iterator = stream.entries(in: region, follow: follow).makeAsyncIterator()
        #expect(await thrownErrorCode { try await iterator.next() } == .regionFreed)
        #expect(await thrownErrorCode { try await iterator.next() } == .regionFreed)
    }

    @Test("an iteration of a region freed after its first entry yields nothing more", arguments: [false, true])
    func regionFreedDuringIteration(follow: Bool) async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        for index in 0..<4 {
            _ = try await writer.append([UInt8(index)])
        }
        var iterator = stream.entries(in: region, follow: follow).makeAsyncIterator()
        #expect(try await iterator.next()?.timestamp == 1)
        try await stream.free(region)
        var yielded: [UInt64] = []
        let code = await thrownErrorCode {
            while let entry = try await iterator.next() {
                yielded.append(entry.timestamp)
            }
        }
        #expect(yielded.isEmpty, "entries of the freed region: \(yielded)")
        // A walk throws as its first step would have; a follower finishes, as it does when the free wakes it.
        #expect(code == (follow ? nil : .regionFreed))
        // And so does every later step.
        var later: Entry?
        let again = await thrownErrorCode { later = try await iterator.next() }
        #expect(again == code && later == nil)
    }

    @Test("a region with a reservation in progress cannot be freed until it ends")
    func freeDuringReservation() async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let reservation = try await stream.writer(for: region).reserve(64)
        #expect(await thrownErrorCode { try await stream.free(region) } == .regionInUse)
        await reservation.abandon()
        try await stream.free(region)
    }

    @Test("a walk that yielded every entry of its region ends normally when its consumer then frees the region")
    func walkFreedByItsConsumerAtTheEnd() async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        for index in 0..<3 {
            _ = try await writer.append([UInt8(index)])
        }
        var seen: [UInt64] = []
        for try await entry in stream.entries(in: region) {
            seen.append(entry.timestamp)
            if entry.timestamp == 3 {
                try await stream.free(region)
            }
        }
        #expect(seen == [1, 2, 3])
    }

    @Test("a region whose reservation was dropped unpublished can be freed at once")
    func freeAfterDroppedReservation() async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        do {
            let dropped = try await writer.reserve(100)
            #expect(dropped.capacity == 100)
        }
        try await stream.free(region)
        #expect(await thrownErrorCode { try await writer.append([1]) } == .regionFreed)
    }

    @Test("waits return once the watermark is reached, refuse timestamps never handed out, and end with the stream")
    func waits() async throws {
        let (stream, _) = try makeStream()
        let entry = try await stream.writer(for: try await stream.allocateRegion(size: 4032)).append([1])
        try await stream.waitCommitted(entry.timestamp)
        try await stream.waitPersisted(entry.timestamp)
        #expect(await thrownErrorCode { try await stream.waitPersisted(entry.timestamp + 1) } == .timestampNotIssued)
        #expect(stream.persistedTimestamp <= stream.committedTimestamp)
        try await stream.close()
        #expect(await thrownErrorCode { try await stream.writer(for: entry.region) } == .streamClosed)
    }
}
