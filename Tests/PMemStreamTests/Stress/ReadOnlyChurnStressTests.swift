import PMemStream
import PMemStreamTestKit
import Synchronization
import Testing

/// A read-only stream next to a writer that allocates and frees regions without pause: the region
/// structure changes under nearly every read of it. Readers must ride that out — a busy writer is not a
/// damaged stream.
@Suite("Read-only streams under a churning writer", .timeLimit(.minutes(2)))
struct ReadOnlyChurnStressTests {
    @Test("refreshes, opens and followers of read-only streams never fail while the writer churns regions")
    func churn() async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let writer = try PMemStream(medium: medium, configuration: .init(blockSize: 4096, persistWorkers: 0))
        let kept = try await writer.allocateRegion(size: 8192)
        let keptWriter = try await writer.writer(for: kept)
        _ = try await keptWriter.append([0])
        let reader = try PMemStream(
            medium: medium,
            configuration: .init(access: .readOnly, followInterval: .milliseconds(1))
        )
        let follower = Task {
            var seen: [[UInt8]] = []
            for try await entry in reader.entries(in: try await reader.region(atOffset: kept.offset), follow: true) {
                seen.append(try entry.bytes)
                if seen.last == [255] { break }
            }
            return seen
        }
        let stop = Atomic(false)
        let churner = Task.detached { () throws -> [[UInt8]] in
            var appended: [[UInt8]] = [[0]]
            var round = 0
            while !stop.load(ordering: .relaxed) {
                try await writer.free(try await writer.allocateRegion(size: 4032))
                round += 1
                if round % 500 == 0, appended.count < 200 {
                    appended.append([UInt8(appended.count)])
                    _ = try await keptWriter.append(appended.last!)
                }
            }
            return appended
        }
        // About 50 000 refreshes in a debug build: a refresh that gives up after 100 reads in a row that
        // found the chain changed failed several times in such a run before readers rode churn out.
        var refreshes = 0
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(3) {
            try await reader.refresh()
            refreshes += 1
            if refreshes % 1000 == 0 {
                let opened = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
                try await opened.close()
            }
        }
        stop.store(true, ordering: .relaxed)
        var appended = try await churner.value
        appended.append([255])
        _ = try await keptWriter.append([255])
        #expect(try await follower.value == appended)
        try await reader.refresh()
        #expect(await reader.regionCount == 1)
        #expect(try await reader.entries().collect().map { try $0.bytes } == appended)
    }
}
