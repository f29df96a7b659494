/// The results of a session, looked up by engine and cell, and compared with each other.
struct ResultIndex {
    private struct Key: Hashable {
        let engine: EngineKind
        let entrySize: Int
        let configuration: ThreadConfiguration
    }

    /// Every result, in the order measured.
    let results: [CellResult]
    private let byKey: [Key: CellResult]

    /// An index of `results`.
    init(_ results: [CellResult]) {
        self.results = results
        self.byKey = Dictionary(
            results.map { (Key(engine: $0.engine, entrySize: $0.entrySize, configuration: $0.configuration), $0) },
            uniquingKeysWith: { _, last in last }
        )
    }

    /// The result of `engine` for entries of `entrySize` bytes in `configuration`.
    func result(_ engine: EngineKind, entrySize: Int, _ configuration: ThreadConfiguration) -> CellResult? {
        self.byKey[Key(engine: engine, entrySize: entrySize, configuration: configuration)]
    }

    /// `result`'s time per operation divided by `reference`'s in the same cell: 0.8 means it takes 0.8 of
    /// the reference's time (and has 1.25 times its throughput).
    func timeRatio(_ result: CellResult, to reference: EngineKind) -> Double? {
        self.result(reference, entrySize: result.entrySize, result.configuration).map {
            result.nanosecondsPerOperation / $0.nanosecondsPerOperation
        }
    }

    /// The peers each result is compared with: the ceilings and pmemlog for appends (the batched ceiling
    /// only for engines that batch), memcpy for reads.
    static func references(for engine: EngineKind) -> [EngineKind] {
        if engine.reads {
            return [.memcpy]
        }
        return engine.batches ? [.pmemlog, .pmem2Ceiling, .pmem2CeilingBatch] : [.pmemlog, .pmem2Ceiling]
    }

    /// Every ratio of `result` to its references that this session measured, by reference name.
    func ratios(of result: CellResult) -> [String: Double] {
        var ratios: [String: Double] = [:]
        for reference in Self.references(for: result.engine) {
            ratios[reference.rawValue] = self.timeRatio(result, to: reference)
        }
        return ratios
    }

    /// The entry sizes measured, in order.
    var entrySizes: [Int] {
        var sizes: [Int] = []
        for result in self.results where !sizes.contains(result.entrySize) {
            sizes.append(result.entrySize)
        }
        return sizes
    }

    /// The thread configurations measured, in order.
    var configurations: [ThreadConfiguration] {
        var configurations: [ThreadConfiguration] = []
        for result in self.results where !configurations.contains(result.configuration) {
            configurations.append(result.configuration)
        }
        return configurations
    }
}
