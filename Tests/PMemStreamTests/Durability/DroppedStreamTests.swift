import PMemStream
import PMemStreamTestKit
import Synchronization
import Testing

/// A stream dropped without `close()` leaves its writers able to append (see `PMemStream.init`): its persist
/// workers must go on running rounds for them.
@Suite("Writers that outlive their stream")
struct DroppedStreamTests {
    /// The writer of a new region of a stream with one persist worker on `medium`; the stream itself is
    /// dropped on return.
    private static func writerOfDroppedStream(
        _ medium: any PersistentMedium,
        maxQueuedAppends: Int = 16_384
    ) async throws -> RegionWriter {
        let stream = try PMemStream(
            medium: medium,
            configuration: .init(persistWorkers: 1, maxQueuedAppends: maxQueuedAppends)
        )
        return try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
    }

    /// Whether `body` returns within `seconds` (it takes milliseconds; a hang takes the whole time).
    private static func finishes(within seconds: Int, _ body: @escaping @Sendable () async throws -> Void) async
        -> Bool
    {
        let done = Atomic(false)
        let task = Task {
            try await body()
            done.store(true, ordering: .releasing)
        }
        for _ in 0..<(seconds * 100) where !done.load(ordering: .acquiring) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        return done.load(ordering: .acquiring)
    }

    @Test("with the stream dropped, a receipt's wait for persistence returns: a worker still runs the round")
    func receiptWaitAfterTheStreamIsDropped() async throws {
        // Page granularity: the waiting task leaves the round to the worker.
        let writer = try await Self.writerOfDroppedStream(PageGranularMedium(size: 1 << 20))
        let receipt = try await writer.appendAsync([1, 2, 3])
        #expect(await Self.finishes(within: 30) { try await receipt.persisted() })
        #expect(await Self.finishes(within: 30) { _ = try await writer.append([4]) })
    }

    @Test("with the stream dropped, an asynchronous append that finds the queue full gets room")
    func backPressureAfterTheStreamIsDropped() async throws {
        let writer = try await Self.writerOfDroppedStream(SimulatedMedium(size: 1 << 20), maxQueuedAppends: 2)
        _ = try await writer.appendAsync([1])
        _ = try await writer.appendAsync([2])
        #expect(await Self.finishes(within: 30) { _ = try await writer.appendAsync([3]) })
    }
}
