import PMemStream
import PMemStreamTestKit
import Testing

/// A stream opened read-only next to its writer: what another process sees of a stream being written.
/// Two instances on one simulated medium stand for the two processes.
@Suite("Read-only streams", .timeLimit(.minutes(5)))
struct ReadOnlyTests {
    static let reading = PMemStream.Configuration(access: .readOnly, followInterval: .milliseconds(1))
    static let writing = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)

    @Test("a read-only stream writes nothing, not even after a crash, and refuses every write with readOnlyStream")
    func writesNothing() async throws {
        // A crash with an entry beyond a gap: opening for writing would persist a watermark and caps.
        let (medium, r1, _) = try await sessionWithStaleTail([[5]])
        let before = medium.allBytes
        let points = medium.persistPointCount
        let stream = try PMemStream(medium: medium, configuration: Self.reading)
        #expect(stream.committedTimestamp == 3)
        let region = try await stream.region(atOffset: r1.offset)
        #expect(try await stream.entries().collect().map { try $0.bytes } == [[1], [2], [3]])
        #expect(try await stream.usableSize(of: region) == region.size - 3 * 32)
        #expect(await thrownErrorCode { _ = try await stream.allocateRegion(size: 4032) } == .readOnlyStream)
        #expect(await thrownErrorCode { try await stream.free(region) } == .readOnlyStream)
        #expect(await thrownErrorCode { _ = try await stream.writer(for: region) } == .readOnlyStream)
        await stream.persistCommitted()
        try await stream.refresh()
        try await stream.close()
        #expect(medium.allBytes == before)
        #expect(medium.persistPointCount == points)

        let blank = SimulatedMedium(size: 64 * 1024)
        #expect(
            await thrownErrorCode { _ = try PMemStream(medium: blank, configuration: Self.reading) } == .readOnlyStream
        )
        #expect(blank.allBytes.allSatisfy { $0 == 0 })
    }

    @Test("a refresh shows what the writer appended, allocated and freed since; nothing before it")
    func refreshSeesTheWriter() async throws {
        let medium = SimulatedMedium(size: 256 * 1024)
        let writer = try PMemStream(medium: medium, configuration: Self.writing)
        let r1 = try await writer.allocateRegion(size: 4032)
        _ = try await writer.writer(for: r1).append([1])
        let reader = try PMemStream(medium: medium, configuration: Self.reading)
        #expect(try await reader.entries().collect().map(\.timestamp) == [1])

        let r2 = try await writer.allocateRegion(size: 4032)
        _ = try await writer.writer(for: r2).append([2])
        _ = try await writer.writer(for: r1).appendAsync([3])  // written, never persisted: still whole
        #expect(try await reader.entries().collect().map(\.timestamp) == [1], "nothing new before a refresh")
        #expect(try await reader.refresh())
        #expect(reader.committedTimestamp == 3, "whole in the medium")
        #expect(reader.persistedTimestamp == 0, "not checkpointed yet")
        #expect(try await reader.entries().collect().map { try $0.bytes } == [[1], [2], [3]])
        #expect(try await reader.regions.collect().map(\.offset) == [r1.offset, r2.offset])
        #expect(try await !reader.refresh(), "nothing changed")
        await writer.persistCommitted()
        try await reader.refresh()
        #expect(reader.persistedTimestamp == 3)

        let r1ForReader = try await reader.region(atOffset: r1.offset)
        try await writer.free(r1)
        #expect(try await reader.refresh())
        #expect(try await reader.entries().collect().map(\.timestamp) == [2])
        #expect(await thrownErrorCode { _ = try await reader.entries(in: r1ForReader).collect() } == .regionFreed)
        try await writer.close()
        try await reader.close()
    }

    @Test("followers and waits of a read-only stream see the writer's entries as they come, in every region")
    func followersFollowTheWriter() async throws {
        let medium = SimulatedMedium(size: 256 * 1024)
        let writer = try PMemStream(medium: medium, configuration: Self.writing)
        let r1 = try await writer.allocateRegion(size: 8192)
        let reader = try PMemStream(medium: medium, configuration: Self.reading)
        let regionFollower = Task {
            var seen: [[UInt8]] = []
            for try await entry in reader.entries(in: try await reader.region(atOffset: r1.offset), follow: true) {
                seen.append(try entry.bytes)
                if seen.count == 3 { break }
            }
            return seen
        }
        let mergedFollower = Task {
            var seen: [UInt64] = []
            for try await entry in reader.entries(since: 1, follow: true) {
                seen.append(entry.timestamp)
                if seen.count == 4 { break }
            }
            return seen
        }
        for index in 1...3 {
            _ = try await writer.writer(for: r1).append([UInt8(index)])
        }
        let r2 = try await writer.allocateRegion(size: 4032)
        _ = try await writer.writer(for: r2).append([4])
        _ = try await writer.writer(for: r2).append([5])
        try await reader.waitCommitted(5)
        await writer.persistCommitted()
        try await reader.waitPersisted(5)
        #expect(try await regionFollower.value == [[1], [2], [3]])
        #expect(try await mergedFollower.value == [2, 3, 4, 5])

        // A follower of a region the writer frees ends; one cancelled ends too.
        let ending = Task {
            try await reader.entries(in: try await reader.region(atOffset: r2.offset), follow: true).collect()
        }
        let cancelled = Task { try await reader.entries(since: 5, follow: true).collect() }
        try await writer.free(r2)
        #expect(try await ending.value.map(\.timestamp) == [4, 5])
        cancelled.cancel()
        #expect(try await cancelled.value.isEmpty)
        try await writer.close()
        try await reader.close()
    }

    @Test("an entry whose region the writer freed and wrote again is never read as the new bytes, refreshed or not")
    func bytesOfAReusedRegion() async throws {
        let medium = SimulatedMedium(size: 256 * 1024)
        let writer = try PMemStream(medium: medium, configuration: Self.writing)
        let r1 = try await writer.allocateRegion(size: 4032)
        _ = try await writer.writer(for: r1).append(Array(repeating: 1, count: 100))
        let reader = try PMemStream(medium: medium, configuration: Self.reading)
        let entry = try #require(try await reader.entries().collect().first)
        #expect(try entry.bytes == Array(repeating: 1, count: 100))

        try await writer.free(r1)
        let r2 = try await writer.allocateRegion(size: 4032)
        #expect(r2.offset == r1.offset, "the same place, written again")
        _ = try await writer.writer(for: r2).append(Array(repeating: 2, count: 100))
        #expect(await thrownErrorCode { try entry.bytes } == .regionFreed, "before the reader refreshes")
        try await reader.refresh()
        #expect(await thrownErrorCode { try entry.bytes } == .regionFreed)
        #expect(try await reader.entries().collect().map { try $0.bytes } == [Array(repeating: 2, count: 100)])
        try await writer.close()
        try await reader.close()
    }

    @Test("a region the writer freed and reused under a reader ends the reader's walk as freed, never as damage")
    func reuseUnderAReaderIsNotDamage() async throws {
        let medium = SimulatedMedium(size: 256 * 1024)
        let writer = try PMemStream(medium: medium, configuration: Self.writing)
        _ = try await writer.allocateRegion(size: 4032)
        let r1 = try await writer.allocateRegion(size: 8128)  // two blocks
        _ = try await writer.allocateRegion(size: 4032)  // keeps r1's space a hole of exactly two blocks
        let w1 = try await writer.writer(for: r1)
        _ = try await w1.append([1])
        _ = try await w1.append(testBytes(6000, seed: 3))  // its data spans r1's second block
        let reader = try PMemStream(medium: medium, configuration: Self.reading)
        let readerR1 = try await reader.region(atOffset: r1.offset)
        var walk = reader.entries(in: readerR1).makeAsyncIterator()
        var follow = reader.entries(in: readerR1, follow: true).makeAsyncIterator()
        var merged = reader.entries(since: 0, follow: true).makeAsyncIterator()
        #expect(try await walk.next()?.timestamp == 1)
        #expect(try await follow.next()?.timestamp == 1)
        #expect(try await merged.next()?.timestamp == 1)

        try await writer.free(r1)
        let r3 = try await writer.allocateRegion(size: 4032)
        let r4 = try await writer.allocateRegion(size: 4032)
        #expect(r3.offset == r1.offset && r4.offset == r1.offset + 4096, "r4's header lies in the old entry's data")
        _ = try await writer.writer(for: r4).append([4])
        #expect(await thrownErrorCode { _ = try await walk.next() } == .regionFreed)
        #expect(try await follow.next() == nil, "a follower of a freed region ends")
        #expect(try await merged.next()?.bytes == [4], "the merged follower goes on with the other regions")
        try await writer.close()
        try await reader.close()
    }

    @Test("a reader attached across a crash never shows the stale entries the writer's recovery hides")
    func staleEntriesStayHidden() async throws {
        // r1 holds [1], [2], [3] and a stale [5] with timestamp 5, beyond the gap at 4.
        let (medium, r1, r2) = try await sessionWithStaleTail([[5]])
        let reader = try PMemStream(medium: medium, configuration: Self.reading)
        #expect(try await reader.entries().collect().map(\.timestamp) == [1, 2, 3])

        // The writer recovers (capping r1 at 3) and hands timestamps 4 and 5 out again, in r2.
        let writer = try PMemStream(medium: medium, configuration: Self.writing)
        _ = try await writer.writer(for: try await writer.region(atOffset: r2.offset)).append([44])
        _ = try await writer.writer(for: try await writer.region(atOffset: r2.offset)).append([55])
        try await reader.refresh()
        #expect(reader.committedTimestamp == 5)
        let all = try await reader.entries().collect()
        #expect(try all.map { try $0.bytes } == [[1], [2], [3], [44], [55]])
        #expect(all.map(\.region.offset) == [r1.offset, r1.offset, r1.offset, r2.offset, r2.offset])
        try await writer.close()
        try await reader.close()
    }

    /// A cap goes from `UInt64.max` (the crashed session) to `R` (recovery) and back to `UInt64.max` (the
    /// region's first write in the new session). A reader that reads the chain before the recovery and
    /// again after the writer wrote every capped region finds the same chain twice; only the writer's
    /// recovery count tells it that its walk, between the two, may have seen stale entries and new ones.
    @Test("a snapshot taken across the writer's recovery, caps set and lifted again, never counts stale entries")
    func capsThatCameAndWent() async throws {
        // r1 holds [1], [2], [3] and stale 5, 6, 7 beyond the gap at 4; r2 holds nothing.
        let (medium, r1, r2) = try await sessionWithStaleTail([[5], [6], [7]])
        let observed = ObservedMedium(copying: medium)
        let reader = try PMemStream(medium: observed, configuration: Self.reading)
        #expect(reader.committedTimestamp == 3)
        // A refresh reads the recovery count, the region sequence mark, the checkpoint, the chain, the entries
        // (one access), the chain again and the count again.
        observed.resetCount()
        try await reader.refresh()
        let accesses = observed.accessCount
        #expect(accesses % 2 == 1)
        let chain = (accesses - 5) / 2

        // The writer restarts: it recovers R = 3 and caps r1 and r2 at 3, writes 4 in r2 (lifting its cap),
        // then 5 in r1 (cutting r1's tail, where the stale 5 was, and lifting its cap).
        let writer = try PMemStream(medium: medium, configuration: Self.writing)
        _ = try await writer.writer(for: try await writer.region(atOffset: r2.offset)).append([44])
        let afterSecond = programView(medium)
        _ = try await writer.writer(for: try await writer.region(atOffset: r1.offset)).append([55])
        let afterFirst = programView(medium)

        // The reader's first read of the chain comes before the recovery, its walk after the write to r2,
        // its second read of the chain after the write to r1.
        observed.resetCount()
        observed.hooks.withLock {
            $0[chain + 4] = { observed.show(afterSecond) }
            $0[chain + 5] = { observed.show(afterFirst) }
        }
        try await reader.refresh()
        #expect(reader.committedTimestamp == writer.committedTimestamp)
        #expect(try await reader.entries(since: 3).collect().map { try $0.bytes } == [[44], [55]])
        try await writer.close()
        try await reader.close()
    }
}
