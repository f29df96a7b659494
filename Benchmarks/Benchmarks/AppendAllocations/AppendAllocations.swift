import Benchmark
import Glibc
import PMemStream

/// Heap allocations per append in steady state (DESIGN.md §8: the goal is zero), counted by
/// package-benchmark's malloc interposer (`mallocCountTotal`: malloc, calloc, realloc and aligned
/// allocations of every thread while an iteration runs).
///
/// Every iteration is one call: one `append(_:)`, one `appendAsync(_:)` (its group commit runs on the
/// stream's persist worker, whose allocations count too), or one `append(contentsOf:)` of a batch. The stream, the
/// region and the writer are made in `setup`, and the warm-up iterations take the first appends, so that
/// only the steady state is counted. A control benchmark that does nothing shows what the harness itself
/// costs (0 expected).
let benchmarks: @Sendable () -> Void = {
    Benchmark(
        "control: empty iteration",
        configuration: .init(metrics: AllocationFixture.metrics, maxDuration: .seconds(1), maxIterations: 10_000)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(benchmark.currentIteration)
        }
    }

    for size in [8, 64, 4096] {
        appendBenchmark(
            "pmemstream-sync append(_:) \(size) B",
            entrySize: size,
            iterations: size <= 64 ? 20_000 : 5_000
        ) {
            blackHole(try await $0.writer.append($0.entry))
        }
    }
    appendBenchmark("pmemstream-async appendAsync(_:) 64 B", entrySize: 64, iterations: 20_000) {
        blackHole(try await $0.writer.appendAsync($0.entry))
    }
    appendBenchmark(
        "pmemstream-batch append(contentsOf:) 64 × 64 B",
        entrySize: 64,
        entriesPerCall: 64,
        iterations: 2_000
    ) {
        blackHole(try await $0.writer.append(contentsOf: $0.batch))
    }
}

/// Registers a benchmark whose every iteration is one `call` on a fixture made in `setup`.
///
/// - Parameters:
///   - name: The benchmark's name.
///   - entrySize: The bytes of each entry.
///   - entriesPerCall: The entries one call appends; the fixture's region holds them all.
///   - iterations: The most iterations after the warm-up.
///   - call: One measured call; an error fails the benchmark rather than being counted in its place.
func appendBenchmark(
    _ name: String,
    entrySize: Int,
    entriesPerCall: Int = 1,
    iterations: Int,
    call: @escaping @Sendable (AllocationFixture) async throws -> Void
) {
    let configuration = AllocationFixture.configuration(iterations: iterations)
    Benchmark(name, configuration: configuration) { benchmark, fixture in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await call(fixture)
        }
        benchmark.stopMeasurement()
    } setup: {
        try await AllocationFixture(
            name: name,
            entrySize: entrySize,
            entriesPerCall: entriesPerCall,
            calls: iterations + configuration.warmupIterations + 10
        )
    } teardown: {
        AllocationFixture.remove(name: name)
    }
}

/// A stream with one region and its writer, in a file of its own in `/dev/shm`.
final class AllocationFixture: Sendable {
    /// What every benchmark of the suite measures.
    static let metrics: [BenchmarkMetric] = [.mallocCountTotal, .wallClock, .throughput]

    /// The configuration of a benchmark of `iterations` calls.
    static func configuration(iterations: Int) -> Benchmark.Configuration {
        .init(metrics: Self.metrics, warmupIterations: 100, maxDuration: .seconds(2), maxIterations: iterations)
    }

    let stream: PMemStream
    let writer: RegionWriter
    /// The entry every append writes.
    let entry: [UInt8]
    /// The entries of one call that appends several.
    let batch: [[UInt8]]

    /// Creates the stream with room for `calls` calls of `entriesPerCall` entries of `entrySize` bytes.
    init(name: String, entrySize: Int, entriesPerCall: Int, calls: Int) async throws {
        Self.remove(name: name)
        let footprint = (24 + entrySize + 7) & ~7
        let regionSize = calls * entriesPerCall * footprint
        let medium = try Pmem2Mapping(
            path: Self.path(name),
            size: regionSize + (64 << 10),
            options: .init(prefault: true)
        )
        self.stream = try PMemStream(medium: medium)
        let region = try await self.stream.allocateRegion(size: regionSize)
        self.writer = try await self.stream.writer(for: region)
        self.entry = (0..<entrySize).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        self.batch = Array(repeating: self.entry, count: entriesPerCall)
    }

    /// Deletes the file of the benchmark `name`.
    static func remove(name: String) {
        _ = unlink(Self.path(name))
    }

    /// The file of the benchmark `name`: its letters and digits, in `/dev/shm`.
    private static func path(_ name: String) -> String {
        let safe = String(name.map { $0.isLetter || $0.isNumber ? $0 : "-" })
        return "/dev/shm/pmemstream-allocations-\(safe)-\(getpid())"
    }
}
