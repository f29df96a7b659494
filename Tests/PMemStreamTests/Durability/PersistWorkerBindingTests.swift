import CNuma
import Glibc
import PMemStreamTestKit
import Testing

@testable import PMemStream

/// What the persist workers report about binding themselves to a NUMA node, and what the stream then says.
@Suite("Persist worker binding", .enabled(if: NUMATopology.system.isAvailable, "binding needs NUMA"))
struct PersistWorkerBindingTests {
    /// A node this process may run on.
    static let node = NUMATopology.system.nodesWithProcessors.min() ?? 0

    @Test("a stream whose workers bound themselves says so, once it is open")
    func bound() async throws {
        let stream = try PMemStream(
            medium: SimulatedMedium(size: 1 << 16),
            configuration: .init(persistWorkers: 2, placement: .node(Self.node))
        )
        #expect(stream.persistPlacement.node == Self.node)
        #expect(stream.persistPlacement.reason == "bound to NUMA node \(Self.node)")
        let placements = try #require(await stream.workers?.placements)
        #expect(placements.count == 2)
        #expect(placements.allSatisfy { $0.bindingFailure == nil && !$0.processors.isEmpty })
        // Under `taskset`, too, the workers keep within the process's processors.
        let allowed = Set(try SystemCalls.processorsOfCurrentThread())
        #expect(placements.allSatisfy { Set($0.processors).isSubset(of: allowed) }, "\(placements) \(allowed)")
        try await stream.close()
    }

    /// The processors of ``node`` this process may run on.
    static let nodeProcessors: [Int] = {
        let processors = numa_allocate_cpumask()
        let allowed = numa_allocate_cpumask()
        defer {
            numa_bitmask_free(processors)
            numa_bitmask_free(allowed)
        }
        guard numa_node_to_cpus(Int32(Self.node), processors) == 0, numa_sched_getaffinity(0, allowed) >= 0 else {
            return []
        }
        return (0..<UInt32(max(numa_num_possible_cpus(), 0))).filter {
            numa_bitmask_isbitset(processors, $0) != 0 && numa_bitmask_isbitset(allowed, $0) != 0
        }.map { Int($0) }
    }()

    /// Restricts the calling thread to one processor, as `taskset -c <processor>` would a whole process.
    static func restrictCurrentThread(to processor: Int) -> Bool {
        let mask = numa_allocate_cpumask()
        defer { numa_bitmask_free(mask) }
        numa_bitmask_setbit(mask, UInt32(processor))
        return numa_sched_setaffinity(0, mask) == 0
    }

    /// On one processor of a node that has more, a bound worker that ran on all of the node's would leave it.
    @Test(
        "a bound worker runs only on the node's processors that the thread opening the stream may run on",
        .enabled(if: Self.nodeProcessors.count >= 2, "the node needs two processors this process may run on")
    )
    func boundWithinAffinity() async throws {
        let processor = Self.nodeProcessors[0]
        // The stream is opened on a thread restricted to that processor: its workers start with its processors.
        let (opening, opened) = onNewThread {
            let restricted = Self.restrictCurrentThread(to: processor)
            let opening = restricted ? try? SystemCalls.processorsOfCurrentThread() : nil
            let opened = Result { () throws(PMemStreamError) in
                try PMemStream(
                    medium: SimulatedMedium(size: 1 << 16, numaNode: Self.node),
                    configuration: .init(persistWorkers: 2)
                )
            }
            return (opening, opened)
        }
        try #require(opening == [processor], "the opening thread runs on processor \(processor) only")
        let stream = try opened.get()
        #expect(stream.persistPlacement.node == Self.node)
        let placements = try #require(await stream.workers?.placements)
        #expect(placements.count == 2)
        for placement in placements {
            #expect(placement.processors == [processor], "not \(Self.nodeProcessors), all of the node's")
        }
        try await stream.close()
    }

    @Test("binding to a node that does not exist fails with the system's reason, and leaves the thread as it was")
    func systemFailure() throws {
        let (before, outcome, after) = onNewThread {
            let before = try? SystemCalls.processorsOfCurrentThread()
            let outcome = Result { () throws(PMemStreamError) in try SystemCalls.bindCurrentThread(toNode: 1 << 20) }
            return (before, outcome, try? SystemCalls.processorsOfCurrentThread())
        }
        let error = try #require(throws: PMemStreamError.self) { try outcome.get() }
        #expect(error.errno != nil)
        #expect(error.message.hasPrefix("numa_"), "\(error.message)")
        #expect(before != nil && after == before)
    }

    #if ENABLE_MOCKING
        @Test("a stream whose workers could not bind themselves says they are unbound, and why")
        func failed() async throws {
            let stream = try SystemCallMocking.withInjectedFailures([.bindThread: EPERM]) {
                try PMemStream(medium: SimulatedMedium(size: 1 << 16, numaNode: Self.node))
            }
            #expect(stream.persistPlacement.node == nil)
            let reason = stream.persistPlacement.reason
            #expect(reason.hasPrefix("unbound: binding to NUMA node \(Self.node) failed: "), "\(reason)")
            #expect(reason.hasSuffix(": Operation not permitted"), "\(reason)")
            #expect(stream.persistPlacement.description == reason)
            try await stream.close()
        }

        @Test("a stream some of whose workers could not bind themselves says how many, and why")
        func partlyFailed() async throws {
            let stream = try SystemCallMocking.withInjectedFailures([.bindThread: EINVAL], times: 1) {
                try PMemStream(
                    medium: SimulatedMedium(size: 1 << 16),
                    configuration: .init(persistWorkers: 3, placement: .node(Self.node))
                )
            }
            #expect(stream.persistPlacement.node == nil)
            let reason = stream.persistPlacement.reason
            #expect(
                reason.hasPrefix("partly bound: binding 1 of 3 persist workers to NUMA node \(Self.node) failed: "),
                "\(reason)"
            )
            #expect(reason.hasSuffix(": Invalid argument"), "\(reason)")
            let placements = try #require(await stream.workers?.placements)
            #expect(placements.filter { $0.bindingFailure?.errno == EINVAL }.count == 1)
            try await stream.close()
        }

        @Test("an unbound placement binds nothing, so nothing can fail")
        func unboundBindsNothing() async throws {
            let stream = try SystemCallMocking.withInjectedFailures([.bindThread: EPERM]) {
                try PMemStream(
                    medium: SimulatedMedium(size: 1 << 16, numaNode: Self.node),
                    configuration: .init(placement: .unbound)
                )
            }
            #expect(stream.persistPlacement.reason == "unbound by configuration")
            try await stream.close()
        }
    #endif
}
