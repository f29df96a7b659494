import Foundation
import PMemStreamTestKit
import Synchronization
import Testing

@testable import PMemStream

#if canImport(Glibc)
    import Glibc
#endif

/// Group commit with a queue per region, under real concurrency: many writers (with all but 16 of the
/// stream's own lanes claimed first, so some share a lane) append asynchronously to regions of their own while a
/// persist worker runs rounds and a monitor cuts power at arbitrary moments. Each cut must find, after
/// recovery, every entry up to the persisted watermark read before the cut: whole, contiguous.
///
/// Unlike the enumerated crash tests (`AppendCrashTests`), the workload is not deterministic: rounds take
/// queues while writers keep appending to them and listing them again. Longer runs:
/// `PMEMSTREAM_QUEUE_STRESS_OPERATIONS` (per writer; default 60). The time limit only catches a hang: under
/// ThreadSanitizer a case takes about 75 s on a quiet two-core machine, and more than 180 s on a loaded one.
@Suite("Region queues under threads, with power cuts", .serialized, .timeLimit(.minutes(10)))
struct RegionQueueStressTests {
    static let operations: Int = {
        guard let value = getenv("PMEMSTREAM_QUEUE_STRESS_OPERATIONS") else { return 60 }
        return Int(String(cString: value)) ?? 60
    }()

    /// Checks one power cut: the stream recovered from `image` holds every timestamp up to `watermark`.
    /// With `freed`, regions were freed during the run: their entries are gone, so the timestamps found
    /// need not be contiguous.
    static func check(image: [UInt8], watermark: UInt64, blockSize: Int, freed: Bool = false) async throws -> Bool {
        let stream = try PMemStream(
            medium: SimulatedMedium(image: image),
            configuration: .init(blockSize: blockSize, persistWorkers: 0)
        )
        let recovered = stream.persistedTimestamp
        var timestamps: [UInt64] = []
        var whole = true
        for try await entry in stream.entries() {
            timestamps.append(entry.timestamp)
            let bytes = try entry.bytes
            whole = whole && ConcurrencyStressTests.isWhole(bytes)
        }
        try await stream.close()
        let contiguous = freed || timestamps == Array(stride(from: 1, through: recovered, by: 1))
        #expect(recovered >= watermark, "persisted \(watermark) before the cut, \(recovered) after recovery")
        #expect(contiguous, "entries after recovery are not 1...\(recovered)")
        #expect(whole, "an entry is torn after recovery")
        return recovered >= watermark && contiguous && whole
    }

    @Test(
        "asynchronous appends to many regions with back-pressure, power cut at random moments: persisted means durable",
        arguments: [(1, 20, 0), (0, 20, 0), (1, 12, 3)]
    )
    /// `churners` tasks each allocate a region, append to it asynchronously and free it, over and over: their
    /// writers go away and their lanes are claimed again by the next ones.
    func powerCutsWhileQueuesFill(persistWorkers: Int, writers: Int, churners: Int) async throws {
        let operations = Self.operations
        let regionSize = operations * 192 + 4096
        let churnSize = 8192
        let medium = SimulatedMedium(size: writers * regionSize + churners * 2 * churnSize + (256 << 10))
        let blockSize = 4096
        let stream = try PMemStream(
            medium: medium,
            configuration: .init(blockSize: blockSize, persistWorkers: persistWorkers, maxQueuedAppends: 8)
        )
        // All but 16 of the stream's own lanes are claimed first: the writers beyond 16 share a lane.
        let tracker = await stream.tracker
        let claimedFirst = (16..<LaneFloors.ownedCount).map { _ in tracker.floors.claim() }
        #expect(claimedFirst.allSatisfy { $0.line != LaneFloors.sharedLane })
        var regionWriters: [RegionWriter] = []
        for _ in 0..<writers {
            regionWriters.append(try await stream.writer(for: try await stream.allocateRegion(size: regionSize)))
        }
        let all = regionWriters
        if writers > 16 {
            #expect(await all.last!.queue.lane.line == LaneFloors.sharedLane)
        }
        let done = DoneCount()
        // Power cuts: the persisted watermark, then the durable image (`killed()` copies it as it is now);
        // checked once the writers are done, since a check takes longer than many appends.
        let cuts = Cuts()
        let cutter = Thread {
            while done.value.load(ordering: .acquiring) < writers + churners {
                let watermark = stream.persistedTimestamp
                let image = medium.killed()
                let count = cuts.state.withLock {
                    $0.append((watermark, image))
                    return $0.count
                }
                usleep(count < 60 ? 300 : 100_000)
            }
            done.value.add(1, ordering: .releasing)
        }
        cutter.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, writer) in all.enumerated() {
                group.addTask {
                    defer { done.value.add(1, ordering: .releasing) }
                    for operation in 0..<operations {
                        let bytes = ConcurrencyStressTests.payload(
                            writer: index,
                            index: operation,
                            size: (operation * 53 + index * 29) % 150
                        )
                        if operation % 9 == 4 {
                            _ = try await writer.append(bytes)
                        } else {
                            let receipt = try await writer.appendAsync(bytes)
                            if operation % 6 == 5 {
                                try await receipt.persisted()
                            }
                        }
                    }
                }
            }
            for churner in 0..<churners {
                group.addTask {
                    defer { done.value.add(1, ordering: .releasing) }
                    for round in 0..<operations / 8 {
                        let region = try await stream.allocateRegion(size: churnSize)
                        let writer = try await stream.writer(for: region)
                        for index in 0..<3 {
                            let bytes = ConcurrencyStressTests.payload(
                                writer: 100 + churner,
                                index: round * 3 + index,
                                size: index * 40
                            )
                            _ = try await writer.appendAsync(bytes)
                        }
                        try await stream.free(region)
                    }
                }
            }
            try await group.waitForAll()
        }
        while done.value.load(ordering: .acquiring) <= writers + churners {
            try await Task.sleep(for: .milliseconds(1))
        }
        var failures = 0
        let taken = cuts.state.withLock { $0 }
        for (watermark, image) in taken {
            let ok = try await Self.check(
                image: image.crash(.drainedOnly),
                watermark: watermark,
                blockSize: blockSize,
                freed: churners > 0
            )
            failures += ok ? 0 : 1
        }
        #expect(failures == 0)
        #expect(taken.count > 1)
        await stream.persistCommitted()
        #expect(stream.persistedTimestamp == stream.committedTimestamp)
        #expect(stream.persistedTimestamp == UInt64(writers * operations + churners * (operations / 8) * 3))
        let watermark = stream.persistedTimestamp
        try await stream.close()
        #expect(
            try await Self.check(
                image: medium.crash(.drainedOnly),
                watermark: watermark,
                blockSize: blockSize,
                freed: churners > 0
            )
        )
        print("region queue stress: \(taken.count) power cuts checked")
    }
}

private final class DoneCount: Sendable {
    let value = Atomic(0)
}

private final class Cuts: Sendable {
    let state = Lock<[(UInt64, SimulatedMedium)]>([])
}
