extension GroupCommit {
    /// The entries a round took, in the order it took them, and the regions they belong to.
    ///
    /// A region is held once per run of consecutive entries of that region, not once per entry: a round
    /// takes each region's queue whole, as one run.
    struct Queue {
        /// The entries, in the order they were taken.
        private(set) var entries: [Queued] = []
        /// The regions of ``entries``, in order: each with how many consecutive entries are its.
        private(set) var runs: [(region: RegionState, count: Int)] = []

        /// Whether no entry is queued.
        var isEmpty: Bool { self.entries.isEmpty }

        /// Adds `entries`, of `region`, as one run.
        mutating func append(contentsOf entries: [Queued], of region: RegionState) {
            guard !entries.isEmpty else { return }
            self.entries.append(contentsOf: entries)
            self.runs.append((region, entries.count))
        }

        /// Empties the queue, keeping its storage for the next round.
        mutating func removeAll() {
            self.entries.removeAll(keepingCapacity: true)
            self.runs.removeAll(keepingCapacity: true)
        }
    }
}
