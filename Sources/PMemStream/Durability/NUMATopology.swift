#if os(Linux)
    import CNuma
#endif

/// What the machine says about its NUMA nodes, as libnuma reports it.
public struct NUMATopology: Sendable, Hashable {
    /// Whether the kernel supports NUMA placement; when it does not, work runs wherever the scheduler puts it.
    public var isAvailable: Bool
    /// The numbers of the nodes with processors this process may run on: the nodes threads can be bound
    /// to. Node numbers need not be contiguous, and a node with memory but no processors is not among them.
    public var nodesWithProcessors: Set<Int>

    /// Creates a topology; tests use this to describe machines other than the one they run on.
    ///
    /// - Parameters:
    ///   - isAvailable: Whether NUMA placement is supported.
    ///   - nodesWithProcessors: The nodes threads can be bound to.
    public init(isAvailable: Bool, nodesWithProcessors: Set<Int>) {
        self.isAvailable = isAvailable
        self.nodesWithProcessors = nodesWithProcessors
    }

    /// The topology of this machine.
    ///
    /// The corresponding C functions are `numa_available`, `numa_max_node` and `numa_node_to_cpus`; a
    /// node's processors count when `numa_sched_getaffinity` (those the process may run on) has them.
    public static var system: NUMATopology {
        guard numa_available() >= 0 else {
            return NUMATopology(isAvailable: false, nodesWithProcessors: [])
        }
        let processors = numa_allocate_cpumask()
        let allowed = numa_allocate_cpumask()
        defer {
            numa_bitmask_free(processors)
            numa_bitmask_free(allowed)
        }
        guard numa_sched_getaffinity(0, allowed) >= 0 else {
            return NUMATopology(isAvailable: true, nodesWithProcessors: [])
        }
        let processorCount = UInt32(max(numa_num_possible_cpus(), 0))
        var nodes = Set<Int>()
        for node in 0...max(numa_max_node(), 0) where numa_node_to_cpus(node, processors) == 0 {
            let usable = (0..<processorCount).contains {
                numa_bitmask_isbitset(processors, $0) != 0 && numa_bitmask_isbitset(allowed, $0) != 0
            }
            if usable {
                nodes.insert(Int(node))
            }
        }
        return NUMATopology(isAvailable: true, nodesWithProcessors: nodes)
    }
}
