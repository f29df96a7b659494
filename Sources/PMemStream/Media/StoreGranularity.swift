/// The smallest unit a medium makes durable on its own: how much must be flushed to persist a store.
///
/// On persistent memory mapped with `MAP_SYNC` (DAX) it is ``cacheLine``: stores must be flushed from the
/// CPU caches; or ``byte`` on a platform with eADR, where the caches are in the persistence domain. On an
/// ordinary file it is ``page``: every persist is an `msync`.
public enum StoreGranularity: Sendable, Hashable, CustomStringConvertible {
    /// Every store is durable once it leaves the CPU: no flush needed. The C constant is `PMEM2_GRANULARITY_BYTE`.
    case byte
    /// Stores are durable after a cache-line flush and a drain. The C constant is `PMEM2_GRANULARITY_CACHE_LINE`.
    case cacheLine
    /// Stores are durable after the page is written back (`msync`). The C constant is `PMEM2_GRANULARITY_PAGE`.
    case page

    /// `byte`, `cache line` or `page`.
    public var description: String {
        switch self {
        case .byte: "byte"
        case .cacheLine: "cache line"
        case .page: "page"
        }
    }
}

extension StoreGranularity {
    /// The granularity of a mapping of a file, as libpmem2 chooses it: the one the environment variable
    /// `PMEM2_FORCE_GRANULARITY` names (`BYTE`, `CACHE_LINE` or `CACHELINE`, `PAGE`, in any case) when it
    /// names one; otherwise, for a synchronous (`MAP_SYNC`) mapping, ``byte`` when the CPU caches are in the
    /// persistence domain (eADR) and ``cacheLine`` when they are not; and ``page`` for any other mapping.
    ///
    /// - Parameters:
    ///   - synchronousMapping: Whether the kernel mapped the file with `MAP_SYNC`.
    ///   - cachesArePersistent: Whether the platform has eADR (see ``SystemCalls/cachesArePersistent(devices:)``).
    ///   - forced: The value of `PMEM2_FORCE_GRANULARITY`, if it is set.
    init(synchronousMapping: Bool, cachesArePersistent: Bool, forced: String?) {
        switch forced?.uppercased() {
        case "BYTE": self = .byte
        case "CACHE_LINE", "CACHELINE": self = .cacheLine
        case "PAGE": self = .page
        default: self = synchronousMapping ? (cachesArePersistent ? .byte : .cacheLine) : .page
        }
    }

    /// Whether a store is durable after as small a flush as with `other`: byte before cache line before page.
    func isAtLeastAsFine(as other: StoreGranularity) -> Bool {
        self.rank <= other.rank
    }

    private var rank: Int {
        switch self {
        case .byte: 0
        case .cacheLine: 1
        case .page: 2
        }
    }
}
