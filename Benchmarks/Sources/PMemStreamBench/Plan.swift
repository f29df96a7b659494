/// Everything one invocation of the benchmark measures.
struct Plan: Sendable {
    /// The entry sizes measured when `--sizes` is not given: 8 B to 64 KiB. A goal that covers a range of sizes
    /// is met only when each of these within it was measured (``GoalCheck``).
    static let defaultSizes = [8, 64, 256, 1024, 4096, 65536]

    /// The entry sizes, in bytes.
    let sizes: [Int]
    /// The thread configurations.
    let configurations: [ThreadConfiguration]
    /// The engines, in the order they run within an iteration.
    let engines: [EngineKind]
    /// The timed iterations of every engine in every cell.
    let iterations: Int
    /// The operations per thread, before ``maxFileSize`` caps them.
    let count: Int
    /// The largest file one iteration may create: it caps the operations of large entries.
    let maxFileSize: Int
    /// The entries per batch, drain or wait.
    let batchSize: Int
    /// Whether the PMemStream engines append to regions of an earlier session (see ``Workload/recoveredRegions``).
    let recoveredRegions: Bool
    /// The file each iteration creates and deletes.
    let path: String

    /// The operations per thread for entries of `size` bytes with `threads` threads: ``count``, or fewer
    /// when the file would outgrow ``maxFileSize``.
    func count(entrySize size: Int, threads: Int) -> Int {
        max(1, min(self.count, self.maxFileSize / (threads * Workload.footprint(entrySize: size))))
    }

    /// The number of timed runs in all.
    var totalRuns: Int {
        self.sizes.count * self.configurations.count * self.iterations * self.engines.count
    }
}
