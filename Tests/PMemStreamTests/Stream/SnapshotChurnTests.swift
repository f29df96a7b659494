import PMemStreamTestKit
import Testing

@testable import PMemStream

/// Read-only snapshots against a writer whose changes land in the middle of every read: each read then fails
/// partway, in one way or another, on a chain that is sound at every instant.
@Suite("Snapshots of a chain that changes during every read")
struct SnapshotChurnTests {
    /// A reader's view of a writer's memory that makes one writer step every `period`-th load of the reader:
    /// the step alternates a 4 KiB region and an 8 KiB one at the same offset, and writes data into the 8 KiB
    /// one where the 4 KiB one's free remainder had its header.
    final class ChurningMedium: ReaderMedium, @unchecked Sendable {
        let writer: SimulatedMedium
        private var allocator: RegionAllocator
        private var small: RegionAllocator.Extent?
        private var large: RegionAllocator.Extent?
        private var loads = 0
        /// Loads between two writer steps; 0 for none.
        var period = 0
        /// Which load of each period is preceded by a step.
        var phase = 0
        /// How many more steps the writer makes; `nil` for no end.
        var stepsLeft: Int?
        private(set) var steps = 0

        var size: Int { self.writer.size }
        var granularity: StoreGranularity { .cacheLine }
        var numaNode: Int? { nil }

        init(writer: SimulatedMedium, layout: StreamLayout) throws {
            self.writer = writer
            self.allocator = try RegionAllocator(loadingFrom: writer, layout: layout)
            self.step()
        }

        func step() {
            self.steps += 1
            if let small = self.small {
                try! self.allocator.free(regionAt: small.offset)
                self.small = nil
                let large = try! self.allocator.allocate(dataSize: 8128)
                for offset in stride(from: large.dataStart + 8, to: large.dataStart + 4800, by: 8) {
                    self.writer.storeWord(0xABAB_ABAB_ABAB_ABAB, at: offset)
                }
                self.large = large
            } else {
                if let large = self.large {
                    try! self.allocator.free(regionAt: large.offset)
                }
                self.large = nil
                self.small = try! self.allocator.allocate(dataSize: 4032)
            }
        }

        /// Frees the 8 KiB region at `offset` and allocates two 4 KiB regions in its place: the second one's
        /// header lies in the data of an entry that spans the freed region's second block.
        func reuse(regionAt offset: Int) {
            try! self.allocator.free(regionAt: offset)
            let first = try! self.allocator.allocate(dataSize: 4032)
            let second = try! self.allocator.allocate(dataSize: 4032)
            precondition(first.offset == offset && second.offset == offset + 4096)
        }

        var baseAddress: UnsafeMutableRawPointer {
            if self.period > 0, self.stepsLeft.map({ $0 > 0 }) ?? true {
                self.loads += 1
                if self.loads % self.period == self.phase {
                    self.step()
                    self.stepsLeft? -= 1
                }
            }
            return self.writer.baseAddress
        }
    }

    /// A closed stream with one 8 KiB region holding `entries`, seen through a churning medium.
    private func churningStream(entries: [[UInt8]] = [[1, 2, 3]]) async throws -> (ChurningMedium, StreamLayout) {
        let simulated = SimulatedMedium(size: 1 << 16)
        let stream = try PMemStream(medium: simulated, configuration: .init(blockSize: 4096, persistWorkers: 0))
        let kept = try await stream.allocateRegion(size: 8128)
        _ = try await stream.writer(for: kept).append(contentsOf: entries)
        let layout = await stream.allocator.layout
        try await stream.close()
        return (try ChurningMedium(writer: simulated, layout: layout), layout)
    }

    @Test("a snapshot read never calls the chain damaged, whichever loads the writer's steps fall between")
    func snapshotsUnderChurn() async throws {
        for period in 2...12 {
            for phase in 0..<period {
                let (medium, layout) = try await self.churningStream()
                medium.period = period
                medium.phase = phase
                do {
                    _ = try StreamSnapshot.read(medium: medium, layout: layout)
                } catch {
                    Issue.record("a step every \(period) loads, at load \(phase): \(error)")
                }
            }
        }
    }

    @Test("a refresh keeps its view rather than calling the stream damaged", arguments: [2, 4, 7])
    func refreshUnderChurn(period: Int) async throws {
        let (medium, layout) = try await self.churningStream()
        let reader = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
        medium.period = period
        medium.phase = 1
        let code = await thrownErrorCode { try await reader.refresh() }
        #expect(code == nil, "a refresh under churn threw \(String(describing: code)) on a sound stream")
        #expect(medium.steps > 100)
        medium.period = 0
        _ = try RegionAllocator(loadingFrom: medium.writer, layout: layout)
        _ = try await reader.refresh()
    }

    @Test("a read-only open never calls the stream damaged", arguments: [0, 3])
    func openUnderChurn(phase: Int) async throws {
        let (medium, _) = try await self.churningStream()
        medium.period = 7
        medium.phase = phase
        do {
            _ = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
        } catch {
            #expect(error.code == .streamInUse, "\(error)")
        }
    }

    @Test("a walk that meets its region freed and reused ends with regionFreed, even while the chain keeps changing")
    func reuseFoundUnderChurn() async throws {
        let (medium, _) = try await self.churningStream(entries: [[1, 2, 3], testBytes(6000, seed: 5)])
        let reader = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
        let kept = try #require(try await reader.regions.collect().first)
        var walk = reader.entries(in: kept).makeAsyncIterator()
        #expect(try await walk.next()?.timestamp == 1)
        medium.reuse(regionAt: kept.offset)
        medium.period = 2
        medium.phase = 1
        medium.stepsLeft = 3_000  // about three refreshes, fewer than the pauses between them
        #expect(await thrownErrorCode { _ = try await walk.next() } == .regionFreed)
        #expect(medium.stepsLeft == 0, "the writer changed the chain during every read of the first refreshes")
        try await reader.close()
    }
}
