/// Runs a ``Plan``: every cell in turn, and within a cell the engines interleaved (A B C, A B C, …) so
/// that drift of the machine touches all of them alike.
enum Session {
    /// Measures every engine of the plan in every cell.
    ///
    /// `@concurrent`, so that neither the set-up nor the timed loops run on the main actor.
    /// - Returns: One result per engine and cell.
    @concurrent
    static func run(_ plan: Plan) async throws -> [CellResult] {
        var progress = Progress(total: plan.totalRuns)
        var results: [CellResult] = []
        for size in plan.sizes {
            for configuration in plan.configurations {
                let count = plan.count(entrySize: size, threads: configuration.threads)
                let workload = Workload(
                    entrySize: size,
                    count: count,
                    configuration: configuration,
                    batchSize: plan.batchSize,
                    recoveredRegions: plan.recoveredRegions,
                    path: plan.path,
                    payload: Payload(entrySize: size, count: count, seed: UInt64(size) &+ 0x5EED)
                )
                let cell = "\(ByteCount(size)) · \(configuration) · \(count) ops/thread"
                var samples = Array(repeating: [Double](), count: plan.engines.count)
                for iteration in 1...plan.iterations {
                    for (index, kind) in plan.engines.enumerated() {
                        progress.starting(cell: cell, engine: kind, iteration: iteration, of: plan.iterations)
                        let nanoseconds = try await Self.measure(kind, workload)
                        samples[index].append(Double(nanoseconds) / Double(count))
                    }
                }
                for (index, kind) in plan.engines.enumerated() {
                    results.append(
                        CellResult(
                            engine: kind,
                            entrySize: size,
                            threads: configuration.threads,
                            layout: configuration.layout,
                            count: count,
                            samples: samples[index]
                        )
                    )
                }
            }
        }
        progress.finish()
        return results
    }

    /// One timed iteration of one engine, started with its file out of the caches and its data in them (see
    /// ``CacheEviction``), finished (its stream or pool closed, its file deleted) even when its timed loop
    /// throws, and its file deleted when anything else fails.
    private static func measure(_ kind: EngineKind, _ workload: Workload) async throws -> UInt64 {
        do {
            let run = try await kind.engine.prepare(workload)
            CacheEviction.evict()
            workload.payload.warm()
            run.warm()
            let nanoseconds: UInt64
            do {
                nanoseconds = try await Stopwatch.time(run, threads: workload.threads)
            } catch {
                // The loop's error is the one to report; a failure to finish after it would only hide it.
                try? await run.finish()
                throw error
            }
            try await run.finish()
            return nanoseconds
        } catch {
            try? ScratchFile.remove(workload.path)
            throw BenchmarkError(
                "\(kind.rawValue), \(ByteCount(workload.entrySize)), \(workload.configuration): \(error)"
            )
        }
    }
}
