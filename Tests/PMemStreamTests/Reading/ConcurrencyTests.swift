import Dispatch
import PMemStream
import PMemStreamTestKit
import Testing

@Suite("Many writers and readers at once", .timeLimit(.minutes(5)))
struct ConcurrencyTests {
    static let tasks = 8
    static let appendsPerTask = 50

    /// Appends `appendsPerTask` entries from each of `tasks` tasks, task `t` to `regions[t % regions.count]`.
    private func appendConcurrently(_ stream: PMemStream, regions: [Region]) async throws -> [Entry] {
        try await withThrowingTaskGroup { group in
            for task in 0..<Self.tasks {
                group.addTask {
                    let writer = try await stream.writer(for: regions[task % regions.count])
                    var entries: [Entry] = []
                    for index in 0..<Self.appendsPerTask {
                        entries.append(try await writer.append(testBytes(index % 100, seed: task * 1000 + index)))
                    }
                    return entries
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    @Test(
        "8 tasks appending to one region or to several: every entry once, in order, timestamps 1…N",
        arguments: [1, 3, 8]
    )
    func concurrentAppends(regionCount: Int) async throws {
        let (stream, medium) = try makeStream(size: 4 << 20)
        var regions: [Region] = []
        for _ in 0..<regionCount {
            regions.append(try await stream.allocateRegion(size: 256 * 1024))
        }
        let appended = try await self.appendConcurrently(stream, regions: regions)
        let total = Self.tasks * Self.appendsPerTask
        #expect(Set(appended.map(\.timestamp)) == Set(1...UInt64(total)))
        #expect(stream.persistedTimestamp == UInt64(total))
        for region in regions {
            let read = try await stream.entries(in: region).collect()
            #expect(read.map(\.timestamp) == read.map(\.timestamp).sorted())
            #expect(Set(read) == Set(appended.filter { $0.region == region }))
        }
        let merged = try await stream.entries().collect()
        #expect(merged.map(\.timestamp) == Array(1...UInt64(total)))
        let (reopened, _) = try restart(medium)
        #expect(try await reopened.entries().collect().count == total)
    }

    @Test("followers see exactly the appended entries as they are committed, never anything else")
    func followersWhileAppending() async throws {
        let (stream, _) = try makeStream(size: 4 << 20)
        let regions = [
            try await stream.allocateRegion(size: 256 * 1024), try await stream.allocateRegion(size: 256 * 1024),
        ]
        let total = Self.tasks * Self.appendsPerTask
        async let followedRegion = self.follow(stream.entries(in: regions[0], follow: true), count: total / 2)
        async let followedAll = self.follow(stream.entries(since: 0, follow: true), count: total)
        let appended = try await self.appendConcurrently(stream, regions: regions)
        let regionEntries = try await followedRegion
        let allEntries = try await followedAll
        #expect(regionEntries == appended.filter { $0.region == regions[0] }.sorted { $0.timestamp < $1.timestamp })
        #expect(allEntries.map(\.timestamp) == Array(1...UInt64(total)))
        #expect(
            try allEntries.map { try $0.bytes } == appended.sorted { $0.timestamp < $1.timestamp }.map { try $0.bytes }
        )
    }

    private func follow(_ sequence: some AsyncSequence<Entry, PMemStreamError>, count: Int) async throws -> [Entry] {
        var entries: [Entry] = []
        for try await entry in sequence {
            entries.append(entry)
            if entries.count == count { break }
        }
        return entries
    }

    /// Follows `sequence` in a task; returns the task (which counts what it saw) once it has seen one entry.
    private func startFollowing(
        _ sequence: some AsyncSequence<Entry, PMemStreamError> & Sendable
    ) async -> Task<Int, any Error> {
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            var count = 0
            for try await _ in sequence {
                count += 1
                signal.yield()
            }
            signal.finish()
            return count
        }
        for await _ in started { break }
        return task
    }

    @Test("a merged follower yields the entries committed while the stream closes, then finishes")
    func mergedFollowerFinishesAtClose() async throws {
        let (_, stream, mover, region, _) = try await streamWithHeldMover()
        let writer = try await stream.writer(for: region)
        _ = try await writer.append([1])
        let follower = await self.startFollowing(stream.entries(since: 0, follow: true))
        let held = Task { try await writer.appendAsync([2]) }
        await mover.waitUntilHolding()
        let closing = Task { try await stream.close() }
        while await thrownErrorCode({ try await stream.region(atOffset: region.offset) }) != .streamClosed {
            await Task.yield()  // until the close has begun: it waits for the held copy
        }
        mover.release()
        try await closing.value
        #expect(try await held.value.timestamp == 2)
        #expect(try await follower.value == 2, "entry 2 was committed before close() returned")
    }

    @Test("a merged follower yields what was committed before the stream closed, also in a region allocated meanwhile")
    func mergedFollowerSeesNewRegionsAtClose() async throws {
        for inNewRegion in [false, true] {
            let (stream, _) = try makeStream()
            let first = try await stream.allocateRegion(size: 4032)
            _ = try await stream.writer(for: first).append([1])
            let follower = PausableFollower()
            let task = Task { try await follower.follow(stream) }
            while await follower.seen.isEmpty {
                await Task.yield()
            }
            // Whatever the follower does next runs only once it is resumed: after the stream closed.
            follower.executor.pause()
            let second = try await stream.allocateRegion(size: 4032)
            _ = try await stream.writer(for: inNewRegion ? second : first).append([2])
            try await stream.close()
            follower.executor.resume()
            #expect(try await task.value == [1, 2], "in a new region: \(inNewRegion)")
        }
    }

    @Test("a follower ends when its region is freed or the stream is closed, and on cancellation")
    func followersEnd() async throws {
        let (stream, _) = try makeStream()
        let region = try await stream.allocateRegion(size: 4032)
        _ = try await stream.writer(for: region).append([1])
        let freedFollower = await self.startFollowing(stream.entries(in: region, follow: true))
        let cancelledFollower = await self.startFollowing(stream.entries(since: 0, follow: true))
        try await stream.free(region)
        #expect(try await freedFollower.value == 1)
        cancelledFollower.cancel()
        #expect(try await cancelledFollower.value == 1)

        let other = try await stream.allocateRegion(size: 4032)
        _ = try await stream.writer(for: other).append([2])
        let closedFollower = await self.startFollowing(stream.entries(in: other, follow: true))
        try await stream.close()
        #expect(try await closedFollower.value == 1)
    }
}

/// A serial executor on a dispatch queue that a test can pause: jobs enqueued meanwhile run on resume.
private final class PausableExecutor: SerialExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "PausableExecutor")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    func pause() { self.queue.suspend() }
    func resume() { self.queue.resume() }
}

/// Follows every region of a stream on an executor a test can pause, counting the timestamps it saw.
private actor PausableFollower {
    let executor = PausableExecutor()
    nonisolated var unownedExecutor: UnownedSerialExecutor { self.executor.asUnownedSerialExecutor() }
    private(set) var seen: [UInt64] = []

    func follow(_ stream: PMemStream) async throws -> [UInt64] {
        for try await entry in stream.entries(since: 0, follow: true) {
            self.seen.append(entry.timestamp)
        }
        return self.seen
    }
}
