import PMemStream
import PMemStreamTestKit
import Testing

/// Power cut at every persist point of create, allocate and free (DESIGN.md §6, property 3).
@Suite("Region structure across power failures")
struct AllocatorCrashTests {
    static let size = 64 * 1024
    /// No background workers, so every run has the same persist points in the same order.
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)

    /// The regions a stream shows, in order, as (offset, size).
    private func regionLayout(_ stream: PMemStream) async throws -> [[Int]] {
        var layout: [[Int]] = []
        for try await region in stream.regions {
            layout.append([region.offset, region.size])
        }
        return layout
    }

    @Test("a crash while creating a stream always reopens as an empty stream, also after a crash during that reopen")
    func createIsCrashSafe() async throws {
        let blank = [UInt8](repeating: 0, count: Self.size)
        var states = 0
        states += try await forEachCrashState(startingFrom: blank) { medium in
            _ = try PMemStream(medium: medium, configuration: Self.configuration)
        } check: { state in
            states += try await forEachCrashState(startingFrom: state.image) { medium in
                let stream = try PMemStream(medium: medium, configuration: Self.configuration)
                #expect(await stream.regionCount == 0, "\(state)")
                #expect(await stream.freeSize == Self.size - 4096, "\(state)")
            } check: { nested in
                let stream = try PMemStream(medium: nested.restart(), configuration: Self.configuration)
                #expect(await stream.regionCount == 0, "\(state), then \(nested)")
            }
        }
        print("crash simulation: \(states) crash states of creating a stream and of reopening it")
        #expect(states > 100)
    }

    /// One step of the allocator workload: an allocation of a size, or a free of the region at a place in
    /// the list of live regions.
    private enum Step { case allocate(Int), free(Int) }

    /// A workload that splits, reuses, merges and fills.
    private static let steps: [Step] = [
        .allocate(100), .free(0), .allocate(5000), .free(1), .allocate(4032), .free(0), .free(0),
        .allocate(40_000), .free(1), .allocate(12_000),
    ]

    /// A stream with two regions already, as the workload starts from it.
    private func prepared() async throws -> [UInt8] {
        let setup = SimulatedMedium(size: Self.size)
        let prepared = try PMemStream(medium: setup, configuration: Self.configuration)
        _ = try await prepared.allocateRegion(size: 4032)
        _ = try await prepared.allocateRegion(size: 8128)
        return setup.crash(.drainedOnly)
    }

    /// Runs ``steps`` on a stream opened on `medium`; `afterEach` gets the index of each step done.
    private func run(_ medium: SimulatedMedium, afterEach: (Int) async throws -> Void = { _ in }) async throws {
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        var live: [Region] = []
        for try await region in stream.regions {
            live.append(region)
        }
        for (index, step) in Self.steps.enumerated() {
            switch step {
            case .allocate(let size): live.append(try await stream.allocateRegion(size: size))
            case .free(let position): try await stream.free(live.remove(at: position))
            }
            try await afterEach(index)
        }
    }

    @Test("a crash in any allocate or free leaves exactly the regions before or after it, nothing leaked")
    func allocateAndFreeAreAtomic() async throws {
        let initial = try await self.prepared()
        let steps = Self.steps
        let run = self.run

        // One run to learn the persist points each step ends at, and the layout after it.
        let counting = SimulatedMedium(image: initial)
        var layouts = [
            try await self.regionLayout(
                try PMemStream(medium: SimulatedMedium(image: initial), configuration: Self.configuration)
            )
        ]
        // The open's own persist points first: a crash inside it leaves the layout before the workload.
        let opening = SimulatedMedium(image: initial)
        _ = try PMemStream(medium: opening, configuration: Self.configuration)
        var endPoints: [Int] = [opening.persistPointCount]
        try await run(counting) { _ in
            endPoints.append(counting.persistPointCount)
            layouts.append(
                try await self.regionLayout(
                    try PMemStream(medium: SimulatedMedium(image: counting.crash()), configuration: Self.configuration)
                )
            )
        }
        #expect(endPoints == endPoints.sorted())

        var nested = 0
        // Every point, whatever PMEMSTREAM_CRASH_POINTS says: the workload is small, and the count is checked.
        let checked = try await forEachCrashState(startingFrom: initial, maxPersistPoints: .max) { medium in
            try await run(medium) { _ in }
        } check: { state in
            let stream = try PMemStream(medium: state.restart(), configuration: Self.configuration)
            let layout = try await self.regionLayout(stream)
            // Recovery (which caps the regions' timestamps) is itself crash-safe: cut power during it too.
            nested += try await forEachCrashState(
                startingFrom: state.image,
                modes: [.drainedOnly, .tornWords(seed: 9)]
            ) {
                _ = try PMemStream(medium: $0, configuration: Self.configuration)
            } check: { nested in
                let again = try PMemStream(medium: nested.restart(), configuration: Self.configuration)
                #expect(try await self.regionLayout(again) == layout, "\(state), then \(nested)")
            }
            let step = endPoints.firstIndex { state.persistPoint <= $0 } ?? endPoints.count
            let allowed =
                switch step {
                case 0: [layouts[0]]
                case endPoints.count: [layouts.last!]
                default: [layouts[step - 1], layouts[step]]
                }
            #expect(allowed.contains(layout), "\(state): \(layout) is neither \(allowed.first!) nor \(allowed.last!)")
            let held = layout.reduce(0) { $0 + $1[1] + 64 }
            #expect(await stream.freeSize + held == Self.size - 4096, "no extent leaked: \(state)")
            // Space freed by the crash state is usable again: fill the stream and see nothing overlaps.
            var offsets = Set(layout.map { $0[0] })
            while let region = try? await stream.allocateRegion(size: 4032) {
                #expect(offsets.insert(region.offset).inserted, "\(region) handed out twice: \(state)")
            }
            #expect(await stream.freeSize == 0)
        }
        print("crash simulation: \(checked) crash states of allocating and freeing, then \(nested) of reopening each")
        #expect(checked == (endPoints.last! + 1) * CrashMode.standardModes.count)
        #expect(endPoints.last! >= steps.count, "every step has at least one persist point")
    }

    @Test("a writer killed in any allocate or free: the regions the next writer finds survive a power failure")
    func killedInAllocateOrFree() async throws {
        let initial = try await self.prepared()
        let counting = SimulatedMedium(image: initial)
        try await self.run(counting)
        var states = 0
        for point in 1...counting.persistPointCount {
            let medium = SimulatedMedium(image: initial)
            medium.cutPower(atPersistPoint: point)
            try await self.run(medium)
            // The next writer opens what the killed one left to the program, and power fails during the open
            // or after it: once the open returned, a restart finds the regions it found; before, those or the
            // ones the killed writer had made durable.
            let found = try await self.regionLayout(
                try PMemStream(medium: medium.killed(), configuration: Self.configuration)
            )
            let durable = try await self.regionLayout(
                try PMemStream(medium: SimulatedMedium(image: medium.crash()), configuration: Self.configuration)
            )
            states += try await forEachCrashState(startingFrom: { medium.killed() }) { next in
                _ = try PMemStream(medium: next, configuration: Self.configuration)
            } check: { state in
                let restarted = try await self.regionLayout(
                    try PMemStream(medium: state.restart(), configuration: Self.configuration)
                )
                let opened = state.persistPoint > state.persistPointCount
                #expect(
                    restarted == found || (!opened && restarted == durable),
                    "killed at \(point), then \(state): \(restarted), the open found \(found)"
                )
            }
        }
        print("crash simulation: \(states) crash states of a writer opening after another was killed in the allocator")
        #expect(states > 0)
    }
}
