import ArgumentParser
import Glibc

/// `pmemstream-bench`: PMemStream's appends and reads against libpmemlog and the libpmem2 ceiling, in one
/// run, on one file system (DESIGN.md §8; `Docs/Performance.md` explains how to read the output).
///
/// ```
/// swift run -c release pmemstream-bench --granularity cache-line --threads 1,2 --layouts per-thread,one-region
/// ```
@main
struct BenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmemstream-bench",
        abstract: "Benchmark PMemStream against libpmemlog and the libpmem2 ceiling, engines interleaved in one run."
    )

    @Option(help: "Entry sizes in bytes (suffixes K, M).")
    var sizes = CommaSeparatedList(Plan.defaultSizes.map(ByteCount.init))

    @Option(help: "Operations per thread in each iteration (fewer for entries too large for --max-file-size).")
    var count = 10_000

    @Option(help: "The largest file an iteration may create; it caps --count for large entries.")
    var maxFileSize = ByteCount(64 << 20)

    @Option(help: "Timed iterations of each engine in each cell; the tables show the median.")
    var iterations = 10

    @Option(help: "Thread counts to measure (at most the number of cores).")
    var threads = CommaSeparatedList([1, 2])

    @Option(help: "How threads share regions when there are several: per-thread, one-region, or both, comma-separated.")
    var layouts = CommaSeparatedList([RegionLayout.perThread])

    @Flag(help: "All threads append to one region (the same as --layouts one-region).")
    var oneRegion = false

    @Option(help: "Entries per append(contentsOf:), per drain of pmem2-ceiling-batch, per wait of pmemstream-async.")
    var batch = 64

    @Flag(help: "PMemStream engines append to regions recovered by reopening the stream, as after a restart.")
    var recoveredRegions = false

    @Option(help: "Engines, in the order they run: \(EngineKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var engines = CommaSeparatedList(EngineKind.allCases)

    @Option(help: "The file each iteration creates and deletes (default: /dev/shm/pmemstream-bench-<pid>).")
    var path: String?

    @Option(help: "cache-line (PMEM2_FORCE_GRANULARITY=CACHE_LINE, PMEM_IS_PMEM_FORCE=1), page, or inherit.")
    var granularity = GranularityMode.inherit

    @Flag(help: "Print JSON instead of the Markdown tables.")
    var json = false

    @Option(help: "Also write the JSON report to this file.")
    var jsonOutput: String?

    func validate() throws {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if let threads = self.threads.elements.first(where: { $0 < 1 || $0 > cores }) {
            throw ValidationError("\(threads) threads: between 1 and the \(cores) cores (the start barrier spins).")
        }
        guard self.count >= 1, self.iterations >= 1, self.batch >= 1 else {
            throw ValidationError("--count, --iterations and --batch must be at least 1.")
        }
        guard self.sizes.elements.allSatisfy({ $0.value >= 1 }) else {
            throw ValidationError("Entry sizes must be at least 1 byte.")
        }
        let directory = self.filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        if let free = ScratchFile.freeSpace(near: self.filePath), free < 2 * self.maxFileSize.value {
            throw ValidationError(
                "\(directory.joined(separator: "/")) has \(free >> 20) MiB free; --max-file-size needs twice its size."
            )
        }
    }

    mutating func run() async throws {
        self.granularity.apply()
        let plan = Plan(
            sizes: self.sizes.elements.map(\.value),
            configurations: ThreadConfiguration.matrix(
                threads: self.threads.elements,
                layouts: self.oneRegion ? [.oneRegion] : self.layouts.elements
            ),
            engines: self.engines.elements,
            iterations: self.iterations,
            count: self.count,
            maxFileSize: self.maxFileSize.value,
            batchSize: self.batch,
            recoveredRegions: self.recoveredRegions,
            path: self.filePath
        )
        try ScratchFile.removeOnInterrupt(plan.path)
        try ScratchFile.removeOnInterrupt(MachineDescription.probePath(near: plan.path))
        let machine = MachineDescription.current(path: plan.path)
        let index = ResultIndex(try await Session.run(plan))
        let report = JSONReport(machine: machine, plan: plan, index: index)
        if let jsonOutput {
            try ReportOutput.write(try report.render(), toFileAt: jsonOutput)
        }
        try ReportOutput.print(
            self.json ? try report.render() : TableReport(machine: machine, plan: plan, index: index).render()
        )
    }

    /// The file each iteration uses.
    private var filePath: String {
        self.path ?? "/dev/shm/pmemstream-bench-\(getpid())"
    }
}
