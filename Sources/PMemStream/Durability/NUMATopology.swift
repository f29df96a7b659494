/// What the machine says about its NUMA nodes, as libnuma reports it.
public struct NUMATopology: Sendable, Hashable {
    /// Whether the kernel supports NUMA placement; when it does not, work runs wherever the scheduler puts it.
    public var isAvailable: Bool
    /// The numbers of the nodes with processors the asking thread may run on: the nodes threads can be bound
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

    /// The topology of this machine, as the calling thread sees it: a node counts when it has a processor the
    /// thread may run on.
    ///
    /// The corresponding C functions are `numa_available`, `numa_max_node`, `numa_node_to_cpus` and
    /// `numa_sched_getaffinity`.
    public static var system: NUMATopology {
        guard let nodes = SystemCalls.numaNodesWithProcessors() else {
            return NUMATopology(isAvailable: false, nodesWithProcessors: [])
        }
        return NUMATopology(isAvailable: true, nodesWithProcessors: Set(nodes))
    }
}
