/// Where the persist workers run: on the NUMA node of the persistent memory, on a chosen node, or anywhere.
public struct PersistPlacement: Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable {
        case automatic
        case node(Int)
        case unbound
    }

    private let kind: Kind

    /// On the medium's NUMA node when the platform reports it and NUMA is available; anywhere otherwise.
    ///
    /// As with ``node(_:)``, the workers keep to the processors the thread opening the stream may run on.
    public static let automatic = PersistPlacement(kind: .automatic)
    /// Anywhere the scheduler puts them.
    public static let unbound = PersistPlacement(kind: .unbound)

    /// On NUMA node `node`, when it has processors this process may run on; anywhere otherwise.
    ///
    /// The workers then run on those of the node's processors that the thread opening the stream may run
    /// on, never on others: under `taskset` or a cpuset they keep to the process's processors.
    ///
    /// - Parameter node: The node's number.
    /// - Returns: The placement.
    public static func node(_ node: Int) -> PersistPlacement {
        PersistPlacement(kind: .node(node))
    }

    /// `automatic`, `unbound` or `node N`.
    public var description: String {
        switch self.kind {
        case .automatic: "automatic"
        case .unbound: "unbound"
        case .node(let node): "node \(node)"
        }
    }

    /// The node to bind the workers to, given the medium's node and the machine's topology, and why.
    ///
    /// This is the plan. The workers then bind themselves, which can still fail; the stream's
    /// ``PMemStream/persistPlacement`` reports the outcome.
    ///
    /// - Parameters:
    ///   - mediumNode: The medium's NUMA node, when known.
    ///   - topology: The machine's NUMA topology.
    /// - Returns: The node to bind to (`nil`: do not bind) and the reason, for logs and the CLI.
    public func resolve(mediumNode: Int?, topology: NUMATopology) -> ResolvedPlacement {
        let wanted: Int
        switch self.kind {
        case .unbound:
            return ResolvedPlacement(node: nil, reason: "unbound by configuration")
        case .node(let node):
            wanted = node
        case .automatic:
            guard let mediumNode else {
                return ResolvedPlacement(
                    node: nil,
                    reason: "unbound: the medium's NUMA node is unknown (not a DAX device)"
                )
            }
            wanted = mediumNode
        }
        guard topology.isAvailable else {
            return ResolvedPlacement(node: nil, reason: "unbound: NUMA is not available on this machine")
        }
        guard topology.nodesWithProcessors.contains(wanted) else {
            return ResolvedPlacement(
                node: nil,
                reason: "unbound: NUMA node \(wanted) has no processor this process may run on"
            )
        }
        return ResolvedPlacement(node: wanted, reason: "bound to NUMA node \(wanted)")
    }
}

/// Where the persist workers run, and why.
///
/// ``PersistPlacement/resolve(mediumNode:topology:)`` gives the plan; ``PMemStream/persistPlacement`` gives
/// what the workers ended up with once they had bound themselves. When binding fails, that one says so and
/// why: `unbound: binding to NUMA node 1 failed: numa_sched_setaffinity: Invalid argument`, for example (or
/// `partly bound: binding 1 of 2 persist workers to NUMA node 1 failed: …` when only some failed).
public struct ResolvedPlacement: Sendable, Hashable, CustomStringConvertible {
    /// The NUMA node the workers run on, or `nil` when they are not all bound to one.
    public let node: Int?
    /// Why: for logs and the CLI.
    public let reason: String

    /// The reason.
    public var description: String {
        self.reason
    }
}

// MARK: - Outcome

extension ResolvedPlacement {
    /// This placement as the workers meant to take it found it: when binding any of them to the node failed,
    /// not bound, saying which failed and why.
    ///
    /// - Parameter workers: Where each worker ended up.
    /// - Returns: This placement, or the failure's.
    func confirmed(by workers: [WorkerPlacement]) -> ResolvedPlacement {
        let failures = workers.compactMap(\.bindingFailure)
        guard let node = self.node, let failure = failures.first else { return self }
        let reason =
            failures.count == workers.count
            ? "unbound: binding to NUMA node \(node) failed: \(failure.message)"
            : "partly bound: binding \(failures.count) of \(workers.count) persist workers to NUMA node \(node) "
                + "failed: \(failure.message)"
        return ResolvedPlacement(node: nil, reason: reason)
    }
}
