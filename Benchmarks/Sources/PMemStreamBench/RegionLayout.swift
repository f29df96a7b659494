import ArgumentParser

/// Where the threads of a multi-threaded run append: each to its own region, or all to one region.
enum RegionLayout: String, CaseIterable, Encodable, Sendable, ExpressibleByArgument {
    /// One region (and one writer) per thread, like the C benchmark's `--concurrency`.
    case perThread = "per-thread"
    /// All threads append to the same region through its one writer.
    case oneRegion = "one-region"

    /// How the layout reads in a table heading.
    var label: String {
        switch self {
        case .perThread: "one region per thread"
        case .oneRegion: "all threads on one region"
        }
    }
}
