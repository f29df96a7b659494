// swift-tools-version: 6.2
import PackageDescription

/// Upcoming language features every target adopts, as in the library (STYLE.md rule 1).
let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

/// The benchmarks of PMemStream against its peers, in a package of their own so that the library never
/// links libpmemlog (STYLE.md rule 20). See `Docs/Performance.md`.
let package = Package(
    name: "PMemStreamBenchmarks",
    products: [
        .executable(name: "pmemstream-bench", targets: ["PMemStreamBench"])
    ],
    dependencies: [
        .package(name: "PMemStream", path: "../"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .systemLibrary(name: "CPMemLog", pkgConfig: "libpmemlog", providers: [.apt(["libpmemlog-dev"])]),
        .systemLibrary(name: "CPMem2Bench", pkgConfig: "libpmem2", providers: [.apt(["libpmem2-dev"])]),
        // Deletes the benchmark's files when SIGINT or SIGTERM ends it, from a C signal handler.
        .target(name: "CPMemStreamBenchSignals"),
        .executableTarget(
            name: "PMemStreamBench",
            dependencies: [
                "CPMemLog",
                "CPMem2Bench",
                "CPMemStreamBenchSignals",
                .product(name: "PMemStream", package: "PMemStream"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "AppendAllocations",
            dependencies: [
                .product(name: "PMemStream", package: "PMemStream"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/AppendAllocations",
            swiftSettings: upcomingFeatures,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
