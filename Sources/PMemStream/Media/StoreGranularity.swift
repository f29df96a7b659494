/// The smallest unit a medium makes durable on its own: how much must be flushed to persist a store.
///
/// On persistent memory mapped with `MAP_SYNC` (DAX) it is ``cacheLine``: stores must be flushed from the
/// CPU caches. On an ordinary file it is ``page``: every persist is an `msync`. ``byte`` (eADR, where the
/// caches are in the persistence domain) is used only when `PMEM2_FORCE_GRANULARITY` asks for it.
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
    /// names one; otherwise ``cacheLine`` for a synchronous (`MAP_SYNC`) mapping and ``page`` for any other.
    ///
    /// libpmem2 would choose ``byte`` on a platform with eADR; this never does on its own, so there the
    /// caches are flushed although they need not be, which costs time but never durability.
    ///
    /// - Parameters:
    ///   - synchronousMapping: Whether the kernel mapped the file with `MAP_SYNC`.
    ///   - forced: The value of `PMEM2_FORCE_GRANULARITY`, if it is set.
    init(synchronousMapping: Bool, forced: String?) {
        switch forced?.uppercased() {
        case "BYTE": self = .byte
        case "CACHE_LINE", "CACHELINE": self = .cacheLine
        case "PAGE": self = .page
        default: self = synchronousMapping ? .cacheLine : .page
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
