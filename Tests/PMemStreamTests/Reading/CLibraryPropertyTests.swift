import PMemStream
import PMemStreamTestKit
import Testing

/// The properties the C library's own test suite checked (reference §7.6), as PMemStream provides them.
@Suite("Properties of the C library's test suite", .timeLimit(.minutes(5)))
struct CLibraryPropertyTests {
    @Test("after N appends committed == persisted == N, and only persisted survives a reopen (items 5, 6)")
    func watermarksAfterAppends() async throws {
        let (stream, medium) = try makeStream()
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 4032))
        for index in 0..<10 {
            _ = try await writer.append([UInt8(index)])
            #expect(stream.persistedTimestamp <= stream.committedTimestamp)
        }
        #expect(stream.committedTimestamp == 10)
        #expect(stream.persistedTimestamp == 10)
        let (reopened, _) = try restart(medium)
        #expect(reopened.committedTimestamp == 10)
        #expect(reopened.persistedTimestamp == 10)
    }

    @Test("a zero-length entry costs one header, and the usable size is the same after a reopen (items 7, 8)")
    func footprintsAndUsableSize() async throws {
        let (stream, medium) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        _ = try await writer.append([])
        #expect(await writer.availableSize == 4032 - 24)
        _ = try await writer.append([1, 2, 3])
        #expect(await writer.availableSize == 4032 - 24 - 32)
        let (reopened, _) = try restart(medium)
        #expect(try await reopened.usableSize(of: try await reopened.region(atOffset: region.offset)) == 4032 - 56)
    }

    @Test("a region freed and allocated again at the same offset is empty (item 13)")
    func reallocatedRegionIsEmpty() async throws {
        let (stream, medium) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        _ = try await stream.writer(for: region).append(contentsOf: [[1], [2], [3]])
        try await stream.free(region)
        let again = try await stream.allocateRegion(size: 4032)
        #expect(again.offset == region.offset)
        #expect(try await stream.entries(in: again).collect().isEmpty)
        #expect(try await stream.entries().collect().isEmpty)
        let (reopened, _) = try restart(medium)
        #expect(try await reopened.entries().collect().isEmpty)
    }

    @Test("a follower of an empty region waits, then yields an entry committed later (item 14)")
    func followerParksOnEmptyRegion() async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        #expect(try await stream.entries(in: region).collect().isEmpty)
        let follower = Task {
            var iterator = stream.entries(in: region, follow: true).makeAsyncIterator()
            return try await iterator.next()
        }
        let appended = try await stream.writer(for: region).append([7])
        #expect(try await follower.value == appended)
    }

    @Test("writers made concurrently for one region are one and the same actor (item 15)")
    func oneWriterPerRegion() async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        let writers = try await withThrowingTaskGroup { group in
            for _ in 0..<16 {
                group.addTask { try await stream.writer(for: region) }
            }
            return try await group.reduce(into: [RegionWriter]()) { $0.append($1) }
        }
        #expect(writers.allSatisfy { $0 === writers[0] })
    }

    @Test("2000 appends in flight at once to one region, and waiters in any order, never deadlock (items 16, 17)")
    func manyInFlight() async throws {
        let (stream, _) = try makeStream(size: 1 << 20)
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 512 * 1024))
        let timestamps = try await withThrowingTaskGroup { group in
            for index in 0..<2000 {
                group.addTask { try await writer.append([UInt8(truncatingIfNeeded: index)]).timestamp }
            }
            return try await group.reduce(into: [UInt64]()) { $0.append($1) }
        }
        #expect(Set(timestamps) == Set(1...2000))
        try await withThrowingTaskGroup { group in
            for timestamp in timestamps.shuffled() {
                group.addTask { try await stream.waitPersisted(timestamp) }
            }
            try await group.waitForAll()
        }
        #expect(try await stream.entries(in: writer.region).collect().map(\.timestamp) == Array(1...2000))
    }
}
