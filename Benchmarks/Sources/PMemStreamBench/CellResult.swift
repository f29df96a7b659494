/// The measurements of one engine in one cell (entry size × thread configuration).
struct CellResult: Encodable, Sendable {
    /// The engine.
    let engine: EngineKind
    /// The bytes of data per operation.
    let entrySize: Int
    /// The threads.
    let threads: Int
    /// How the threads shared regions.
    let layout: RegionLayout
    /// The operations per thread in each iteration.
    let count: Int
    /// Nanoseconds per operation in each iteration: wall time ÷ operations per thread.
    let samples: [Double]

    /// The median of ``samples``: the figure every table and ratio uses.
    var nanosecondsPerOperation: Double {
        self.samples.median
    }

    /// Operations per second, all threads together.
    var operationsPerSecond: Double {
        Double(self.threads) * 1e9 / self.nanosecondsPerOperation
    }

    /// Megabytes (10^6 bytes) of entry data per second, all threads together.
    var megabytesPerSecond: Double {
        self.operationsPerSecond * Double(self.entrySize) / 1e6
    }

    /// The cell this result belongs to.
    var configuration: ThreadConfiguration {
        ThreadConfiguration(threads: self.threads, layout: self.layout)
    }
}
