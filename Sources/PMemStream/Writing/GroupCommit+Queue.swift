extension GroupCommit {
    /// Entries waiting for a round, in the order they were queued, and the regions they belong to.
    ///
    /// A region is held once per run of consecutive entries of that region, not once per entry: queueing an
    /// entry of the region queued last retains nothing, and a round releases one reference per run.
    struct Queue {
        /// The entries, in the order they were queued.
        private(set) var entries: [Queued] = []
        /// The regions of ``entries``, in order: each with how many consecutive entries are its.
        private(set) var runs: [(region: RegionState, count: Int)] = []
        /// The region of the last run, compared by identity without a reference-count operation.
        private var lastRegion: ObjectIdentifier?

        /// How many entries are queued.
        var count: Int { self.entries.count }

        /// Whether no entry is queued.
        var isEmpty: Bool { self.entries.isEmpty }

        /// Queues `entry`, of `region`.
        mutating func append(_ entry: Queued, of region: RegionState) {
            self.entries.append(entry)
            if self.lastRegion == ObjectIdentifier(region) {
                self.runs[self.runs.count - 1].count += 1
            } else {
                self.runs.append((region, 1))
                self.lastRegion = ObjectIdentifier(region)
            }
        }

        /// Empties the queue, keeping its storage for the next round.
        mutating func removeAll() {
            self.entries.removeAll(keepingCapacity: true)
            self.runs.removeAll(keepingCapacity: true)
            self.lastRegion = nil
        }
    }
}
