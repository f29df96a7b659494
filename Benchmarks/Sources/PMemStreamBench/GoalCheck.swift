/// Checks a session's results against the goals of DESIGN.md §8, which are all ratios within one run.
enum GoalCheck {
    private static let single = ThreadConfiguration(threads: 1, layout: .perThread)

    /// A verdict for every goal; goals the session lacks the engines or cells for are "not measured".
    static func evaluate(_ index: ResultIndex) -> [GoalVerdict] {
        let sizes = index.entrySizes
        var verdicts: [GoalVerdict] = []
        for engine in [EngineKind.pmemstreamSync, .pmemstreamSyncIsolated] {
            verdicts.append(
                self.worst(
                    goal: "\(engine.rawValue) takes ≤ 0.8× the time of pmemlog, every size 8 B – 4 KiB (1 thread)",
                    sizes: sizes,
                    covering: 8...4096,
                    limit: 0.8,
                    higherIsBetter: false
                ) { self.timeRatio(index, engine, to: .pmemlog, $0) }
            )
            verdicts.append(
                self.worst(
                    goal: "\(engine.rawValue) takes ≤ 1.5× the time of pmem2-ceiling at 64 B (1 thread)",
                    sizes: sizes,
                    covering: 64...64,
                    limit: 1.5,
                    higherIsBetter: false
                ) { self.timeRatio(index, engine, to: .pmem2Ceiling, $0) }
            )
        }
        for engine in [EngineKind.pmemstreamAsync, .pmemstreamBatch] {
            verdicts.append(
                self.worst(
                    goal: "\(engine.rawValue) takes ≤ 3× the time per entry of pmem2-ceiling-batch at 64 B (1 thread)",
                    sizes: sizes,
                    covering: 64...64,
                    limit: 3,
                    higherIsBetter: false
                ) { self.timeRatio(index, engine, to: .pmem2CeilingBatch, $0) }
            )
            verdicts.append(
                self.worst(
                    goal: "\(engine.rawValue) has ≥ 0.7× the bandwidth of pmem2-ceiling-batch from 4 KiB up (1 thread)",
                    sizes: sizes,
                    covering: 4096...,
                    limit: 0.7,
                    higherIsBetter: true
                ) { self.timeRatio(index, .pmem2CeilingBatch, to: engine, $0) }
            )
        }
        for engine in [EngineKind.pmemstreamSync, .pmemstreamAsync, .pmemstreamBatch] {
            for layout in [RegionLayout.oneRegion, .perThread] {
                let two = ThreadConfiguration(threads: 2, layout: layout)
                verdicts.append(
                    self.worst(
                        goal: "\(engine.rawValue), 2 threads (\(layout.label)): aggregate throughput ≥ 1 thread's",
                        sizes: sizes,
                        covering: 1...,
                        limit: 1,
                        higherIsBetter: true
                    ) { size in
                        guard let many = index.result(engine, entrySize: size, two),
                            let one = index.result(engine, entrySize: size, self.single)
                        else { return nil }
                        return many.operationsPerSecond / one.operationsPerSecond
                    }
                )
            }
        }
        for layout in [RegionLayout.perThread, .oneRegion] {
            let two = ThreadConfiguration(threads: 2, layout: layout)
            verdicts.append(
                self.worst(
                    goal: "check, not a goal: pmem2-ceiling with 2 threads (\(layout.label)) keeps ≥ 0.75× of its "
                        + "per-thread speed up to 4 KiB; if not, the cores were busy and the 2-thread rows mean little",
                    sizes: sizes,
                    covering: ...4096,
                    limit: 0.75,
                    higherIsBetter: true
                ) { size in
                    guard let many = index.result(.pmem2Ceiling, entrySize: size, two),
                        let one = index.result(.pmem2Ceiling, entrySize: size, self.single)
                    else { return nil }
                    return one.nanosecondsPerOperation / many.nanosecondsPerOperation
                }
            )
        }
        verdicts.append(
            self.worst(
                goal: "pmemstream-iterate (checksums verified) has ≥ 0.5× the bandwidth of memcpy (1 thread)",
                sizes: sizes,
                covering: 1...,
                limit: 0.5,
                higherIsBetter: true
            ) { self.timeRatio(index, .memcpy, to: .pmemstreamIterate, $0) }
        )
        return verdicts
    }

    /// `engine`'s time per operation over `reference`'s, one thread.
    private static func timeRatio(_ index: ResultIndex, _ engine: EngineKind, to reference: EngineKind, _ size: Int)
        -> Double?
    {
        index.result(engine, entrySize: size, self.single).flatMap { index.timeRatio($0, to: reference) }
    }

    /// The verdict from the worst ratio over the sizes measured within the goal's range.
    ///
    /// The goal is met only when each default size in its range (``Plan/defaultSizes``) has a ratio and no
    /// ratio misses `limit`; sizes outside the defaults count when they were measured.
    /// - Parameters:
    ///   - goal: The goal's text.
    ///   - sizes: The sizes the session measured.
    ///   - range: The sizes the goal covers.
    ///   - limit: The ratio the goal allows.
    ///   - higherIsBetter: Whether ratios above `limit` meet the goal, rather than those below.
    ///   - ratio: The ratio at a size, or `nil` when the session lacks the engines or cells for it.
    private static func worst(
        goal: String,
        sizes: [Int],
        covering range: some RangeExpression<Int>,
        limit: Double,
        higherIsBetter: Bool,
        ratio: (Int) -> Double?
    ) -> GoalVerdict {
        let measured = sizes.filter(range.contains).compactMap { size in ratio(size).map { (size: size, ratio: $0) } }
        let unmeasured = Plan.defaultSizes.filter { size in
            range.contains(size) && !measured.contains { $0.size == size }
        }
        guard !measured.isEmpty else {
            return GoalVerdict(
                goal: goal,
                measured: "–",
                measuredSizes: [],
                unmeasuredSizes: unmeasured,
                outcome: .notMeasured
            )
        }
        let worst = higherIsBetter ? measured.min { $0.ratio < $1.ratio }! : measured.max { $0.ratio < $1.ratio }!
        let met = higherIsBetter ? worst.ratio >= limit : worst.ratio <= limit
        let all = measured.map { "\(ByteCount($0.size)): \(Format.ratio($0.ratio))" }.joined(separator: ", ")
        let summary =
            measured.count == 1 ? all : "worst \(Format.ratio(worst.ratio)) at \(ByteCount(worst.size)) (\(all))"
        return GoalVerdict(
            goal: goal,
            measured: summary,
            measuredSizes: measured.map(\.size),
            unmeasuredSizes: unmeasured,
            outcome: !met ? .notMet : unmeasured.isEmpty ? .met : .metWhereMeasured
        )
    }
}
