/// The session as Markdown: the machine, one table per thread configuration, and the goals of DESIGN.md §8.
struct TableReport {
    let machine: MachineDescription
    let plan: Plan
    let index: ResultIndex

    /// The whole report.
    func render() -> String {
        var lines: [String] = []
        lines.append("# pmemstream-bench")
        lines.append("")
        lines.append(
            "- machine: \(self.machine.cpu) (\(self.machine.cpuDetails)), \(self.machine.cores) cores, \(self.machine.system), Linux \(self.machine.kernel)"
        )
        lines.append("- run: \(self.machine.date), \(self.machine.build) build, path \(self.plan.path)")
        lines.append(
            "- persistence: \(self.machine.environment); libpmem2 granularity on this path: \(self.machine.pmem2Granularity)"
        )
        lines.append(
            "- method: \(self.plan.iterations) iterations, engines interleaved; median ns per operation per thread; "
                + "batches of \(self.plan.batchSize); ratios are time ratios (< 1 is faster than the peer)"
        )
        if self.plan.recoveredRegions {
            lines.append("- PMemStream appends to regions recovered by reopening the stream (`--recovered-regions`)")
        }
        if self.machine.build != "release" {
            lines.append("- **warning: a debug build; these figures mean nothing. Build with `-c release`.**")
        }
        for configuration in self.index.configurations {
            lines.append("")
            lines.append("## \(configuration)")
            lines.append("")
            lines.append(contentsOf: self.table(for: configuration))
        }
        lines.append("")
        lines.append("## Against the goals of DESIGN.md §8")
        lines.append("")
        lines.append("| goal | measured | verdict |")
        lines.append("|---|---|---|")
        for verdict in GoalCheck.evaluate(self.index) {
            lines.append("| \(verdict.goal) | \(verdict.measured) | \(verdict.verdict) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The peers that get a ratio column, in column order.
    private static let peers: [EngineKind] = [.pmemlog, .pmem2Ceiling, .pmem2CeilingBatch, .memcpy]

    private func table(for configuration: ThreadConfiguration) -> [String] {
        let peers = Self.peers.filter { peer in self.index.results.contains { $0.engine == peer } }
        var header = "| size | engine | ops/thread | ns/op | min – max | ops/s | MB/s |"
        var rule = "|--:|---|--:|--:|--:|--:|--:|"
        for peer in peers {
            header += " ÷ \(peer.rawValue) |"
            rule += "--:|"
        }
        var lines = [header, rule]
        for size in self.index.entrySizes {
            for result in self.index.results where result.entrySize == size && result.configuration == configuration {
                let ratios = self.index.ratios(of: result)
                var line = "| \(ByteCount(size)) | \(result.engine.rawValue) | \(result.count) | "
                line += "\(Format.nanoseconds(result.nanosecondsPerOperation)) | "
                line +=
                    "\(Format.nanoseconds(result.samples.min() ?? .nan)) – \(Format.nanoseconds(result.samples.max() ?? .nan)) | "
                line += "\(Format.rate(result.operationsPerSecond)) | \(Format.megabytes(result.megabytesPerSecond)) |"
                for peer in peers {
                    line += " \(ratios[peer.rawValue].map(Format.ratio) ?? "") |"
                }
                lines.append(line)
            }
        }
        return lines
    }
}
