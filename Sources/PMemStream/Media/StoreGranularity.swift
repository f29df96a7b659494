/// The smallest unit a medium makes durable on its own: how much must be flushed to persist a store.
///
/// libpmem2 reports it for every mapping. On real persistent memory with eADR it is ``byte``; on persistent
/// memory with ADR it is ``cacheLine`` (stores must be flushed from the CPU caches); on an ordinary file
/// it is ``page`` (every persist is an `msync`).
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
