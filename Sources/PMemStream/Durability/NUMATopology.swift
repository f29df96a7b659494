#if os(Linux)
    import CNuma
#endif

/// What the machine says about its NUMA nodes, as libnuma reports it.
public struct NUMATopology: Sendable, Hashable {
    /// Whether the kernel supports NUMA placement; when it does not, work runs wherever the scheduler puts it.
    public var isAvailable: Bool
    /// The number of memory nodes configured on the machine (1 when NUMA is unavailable).
    public var nodeCount: Int

    /// Creates a topology; tests use this to describe machines other than the one they run on.
    ///
    /// - Parameters:
    ///   - isAvailable: Whether NUMA placement is supported.
    ///   - nodeCount: The number of memory nodes.
    public init(isAvailable: Bool, nodeCount: Int) {
        self.isAvailable = isAvailable
        self.nodeCount = nodeCount
    }

    /// The topology of this machine.
    ///
    /// The corresponding C functions are `numa_available` and `numa_num_configured_nodes`.
    public static var system: NUMATopology {
        guard numa_available() >= 0 else {
            return NUMATopology(isAvailable: false, nodeCount: 1)
        }
        return NUMATopology(isAvailable: true, nodeCount: max(Int(numa_num_configured_nodes()), 1))
    }
}
