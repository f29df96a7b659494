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

    /// The processors of ``node`` this process may run on, in increasing order.
    static let nodeProcessors: [Int] = {
        guard let sysfs = SysfsTopology(), let allowed = SysfsTopology.processorsOfCurrentThread() else { return [] }
        return (sysfs.processors[Self.node] ?? []).intersection(allowed).sorted()
    }()

    /// Restricts the calling thread to one processor, as `taskset -c <processor>` would a whole process.
    static func restrictCurrentThread(to processor: Int) -> Bool {
        let mask = numa_allocate_cpumask()
        defer { numa_bitmask_free(mask) }
        numa_bitmask_setbit(mask, UInt32(processor))
        return numa_sched_setaffinity(0, mask) == 0
    }

    @Test("the machine's topology lists the nodes, as sysfs has them, of the processors the thread may run on")
    func systemTopologyAgreesWithSysfs() throws {
        let sysfs = try #require(SysfsTopology(), "sysfs lists the nodes when libnuma finds NUMA")
        let allowed = try #require(SysfsTopology.processorsOfCurrentThread())
        #expect(NUMATopology.system.nodesWithProcessors == sysfs.nodes(withProcessorIn: allowed))
        // On one processor only, the thread sees only that processor's node.
        let processor = try #require(allowed.min())
        let (restricted, seen) = onNewThread {
            (Self.restrictCurrentThread(to: processor), NUMATopology.system.nodesWithProcessors)
        }
        try #require(restricted)
        #expect(seen == sysfs.nodes(withProcessorIn: [processor]))
        #expect(seen.count == 1)
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

/// The NUMA nodes and their processors as the kernel lists them in sysfs: what libnuma reads, read without it.
private struct SysfsTopology {
    /// Each node's processors, by node number.
    let processors: [Int: Set<Int>]

    /// Reads `/sys/devices/system/node/node<N>/cpulist` for every node; `nil` when there is none.
    init?() {
        guard let directory = opendir("/sys/devices/system/node") else { return nil }
        defer { closedir(directory) }
        var processors: [Int: Set<Int>] = [:]
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("node"), let node = Int(name.dropFirst(4)),
                let list = Self.lines(of: "/sys/devices/system/node/\(name)/cpulist")?.first
            else { continue }
            processors[node] = Self.processors(inList: list)
        }
        guard !processors.isEmpty else { return nil }
        self.processors = processors
    }

    /// The nodes with a processor in `allowed`.
    func nodes(withProcessorIn allowed: Set<Int>) -> Set<Int> {
        Set(self.processors.filter { !$0.value.isDisjoint(with: allowed) }.keys)
    }

    /// The processors the calling thread may run on: its `Cpus_allowed_list` in `/proc/thread-self/status`.
    static func processorsOfCurrentThread() -> Set<Int>? {
        let key = "Cpus_allowed_list:"
        guard let line = Self.lines(of: "/proc/thread-self/status")?.first(where: { $0.hasPrefix(key) }) else {
            return nil
        }
        return Self.processors(inList: String(line.dropFirst(key.count)))
    }

    /// The lines of a file, each with its newline.
    private static func lines(of path: String) -> [String]? {
        guard let handle = fopen(path, "r") else { return nil }
        defer { fclose(handle) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var lines: [String] = []
        while getline(&line, &capacity, handle) > 0, let line {
            lines.append(String(cString: line))
        }
        return lines
    }

    /// The processors of a kernel CPU list such as `0-3,8,10-11`.
    private static func processors(inList list: String) -> Set<Int> {
        var processors = Set<Int>()
        for part in list.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " || $0 == "\t" }) {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if let first = bounds.first, let last = bounds.last, first <= last {
                processors.formUnion(first...last)
            }
        }
        return processors
    }
}
