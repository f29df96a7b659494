// swift-tools-version: 6.2
import PackageDescription

/// Upcoming language features every PMemStream target adopts (STYLE.md rule 1).
let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

/// Debug builds expose the fault-injection seam used by the tests to force `ENOSPC`, `EIO` and `PMEM2_E_*`.
let mockingSettings: [SwiftSetting] = [.define("ENABLE_MOCKING", .when(configuration: .debug))]

let linuxOnly = TargetDependencyCondition.when(platforms: [.linux])

let package = Package(
    name: "PMemStream",
    products: [
        .library(name: "PMemStream", targets: ["PMemStream"]),
        .library(name: "PMemStreamTestKit", targets: ["PMemStreamTestKit"]),
        .executable(name: "pmemstream", targets: ["pmemstream"]),
        .executable(name: "pmemstream-medium-tour", targets: ["MediumTour"]),
        .executable(name: "pmemstream-example-appends", targets: ["ConcurrentAppends"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .systemLibrary(name: "CPMem2", pkgConfig: "libpmem2", providers: [.apt(["libpmem2-dev"])]),
        .systemLibrary(name: "CNuma", pkgConfig: "numa", providers: [.apt(["libnuma-dev"])]),
        .systemLibrary(name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .target(name: "CPMemStreamStores"),
        // Its one-pass checksum and copy stores words as CPMemStreamStores does.
        .target(name: "CPMemStreamCRC", dependencies: ["CPMemStreamStores"]),
        .target(
            name: "PMemStream",
            dependencies: [
                .target(name: "CPMem2", condition: linuxOnly),
                .target(name: "CNuma", condition: linuxOnly),
                .target(name: "CISAL", condition: linuxOnly),
                .target(name: "CPMemStreamCRC"),
                .target(name: "CPMemStreamStores"),
            ],
            swiftSettings: upcomingFeatures + mockingSettings
        ),
        .target(
            name: "PMemStreamTestKit",
            dependencies: ["PMemStream"],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "pmemstream",
            dependencies: [
                "PMemStream",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "MediumTour",
            dependencies: ["PMemStream"],
            path: "Examples/MediumTour",
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "ConcurrentAppends",
            dependencies: ["PMemStream"],
            path: "Examples/ConcurrentAppends",
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "PMemStreamTests",
            dependencies: [
                "PMemStream",
                "PMemStreamTestKit",
                "CPMemStreamStores",
                // Asks the CPU whether a checksum left the vector registers' upper halves in use.
                "CPMemStreamCRC",
                // Restricts a test thread's processors, to check that the persist workers keep within them.
                .target(name: "CNuma", condition: linuxOnly),
            ],
            swiftSettings: upcomingFeatures + mockingSettings
        ),
        // Counts failed `MAP_FIXED` mappings in the integration tests' process (see its header).
        .target(name: "CMappingProbe", path: "Tests/CMappingProbe"),
        .testTarget(
            name: "PMemStreamIntegrationTests",
            dependencies: ["PMemStream", "PMemStreamTestKit", "CMappingProbe"],
            path: "IntegrationTests",
            swiftSettings: upcomingFeatures
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The DocC plugin, only when the documentation is built (`make docs`): users of the library never resolve it.
if Context.environment["PMEMSTREAM_DOCC"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}
