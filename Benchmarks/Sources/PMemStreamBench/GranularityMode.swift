import ArgumentParser
import Glibc

/// How persistence is emulated: the environment libpmem2 and libpmem read when they map a file.
///
/// On `/dev/shm` libpmem2 picks page granularity (every persist an `msync`) unless
/// `PMEM2_FORCE_GRANULARITY` says otherwise, and libpmemlog (through libpmem) does the same unless
/// `PMEM_IS_PMEM_FORCE` says otherwise. Both libraries read these variables lazily, at their first mapping,
/// so setting them at start-up is enough.
enum GranularityMode: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Leave the environment as it is.
    case inherit
    /// Emulate persistent memory: cache-line flushes and a fence, as the C project's CI did.
    case cacheLine = "cache-line"
    /// Page granularity: every persist is an `msync`, for libpmem2 and libpmemlog alike.
    case page

    /// Sets the variables for this mode in the process environment.
    func apply() {
        switch self {
        case .inherit:
            break
        case .cacheLine:
            setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1)
            setenv("PMEM_IS_PMEM_FORCE", "1", 1)
        case .page:
            setenv("PMEM2_FORCE_GRANULARITY", "PAGE", 1)
            setenv("PMEM_IS_PMEM_FORCE", "0", 1)
        }
    }

    /// The two variables as the process has them now, for the report.
    static var environmentSummary: String {
        ["PMEM2_FORCE_GRANULARITY", "PMEM_IS_PMEM_FORCE"].map { name in
            "\(name)=\(getenv(name).map { String(cString: $0) } ?? "(unset)")"
        }.joined(separator: " ")
    }
}
