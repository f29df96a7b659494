import ArgumentParser

/// The engines the benchmark knows, by the names the command line and the tables use.
enum EngineKind: String, CaseIterable, Encodable, Sendable, ExpressibleByArgument {
    case pmemlog
    case pmem2Ceiling = "pmem2-ceiling"
    case pmem2CeilingBatch = "pmem2-ceiling-batch"
    case pmemstreamSync = "pmemstream-sync"
    case pmemstreamSyncIsolated = "pmemstream-sync-isolated"
    case pmemstreamAsync = "pmemstream-async"
    case pmemstreamBatch = "pmemstream-batch"
    case pmemstreamIterate = "pmemstream-iterate"
    case memcpy

    /// The engine that does the work.
    var engine: any Engine {
        switch self {
        case .pmemlog: PMemLogEngine()
        case .pmem2Ceiling: Pmem2CeilingEngine(batched: false)
        case .pmem2CeilingBatch: Pmem2CeilingEngine(batched: true)
        case .pmemstreamSync: PMemStreamAppendEngine(mode: .synchronous)
        case .pmemstreamSyncIsolated: PMemStreamAppendEngine(mode: .synchronousIsolated)
        case .pmemstreamAsync: PMemStreamAppendEngine(mode: .asynchronous)
        case .pmemstreamBatch: PMemStreamBatchEngine()
        case .pmemstreamIterate: PMemStreamIterateEngine()
        case .memcpy: MemcpyEngine()
        }
    }

    /// Whether the engine reads (its peer is ``memcpy``) rather than appends (its peers are ``pmemlog`` and
    /// the ceilings).
    var reads: Bool {
        self == .pmemstreamIterate || self == .memcpy
    }

    /// Whether the engine makes entries durable per batch rather than one by one; its fair ceiling is
    /// ``pmem2CeilingBatch``.
    var batches: Bool {
        self == .pmemstreamBatch || self == .pmemstreamAsync || self == .pmem2CeilingBatch
    }
}
