/// How a ``PersistentMedium`` copy or fill makes its bytes durable: libpmem2's `PMEM2_F_MEM_*` flags.
///
/// With no flags (``persist``) the bytes are flushed and drained before the call returns: they are durable.
public struct MemoryCopyFlags: OptionSet, Sendable, Hashable {
    /// The flags as libpmem2 spells them.
    public let rawValue: UInt32

    /// Creates flags from libpmem2's bit values.
    ///
    /// - Parameter rawValue: A combination of `PMEM2_F_MEM_*` bits.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// Flush and drain: the bytes are durable when the call returns.
    public static let persist: MemoryCopyFlags = []
    /// Flush but do not drain; a later ``PersistentMedium/drain()`` makes the bytes durable.
    /// The C constant is `PMEM2_F_MEM_NODRAIN`.
    public static let noDrain = MemoryCopyFlags(rawValue: 1 << 0)
    /// Prefer non-temporal stores that bypass the CPU caches. The C constant is `PMEM2_F_MEM_NONTEMPORAL`.
    public static let nonTemporal = MemoryCopyFlags(rawValue: 1 << 1)
    /// Prefer ordinary stores that go through the CPU caches. The C constant is `PMEM2_F_MEM_TEMPORAL`.
    public static let temporal = MemoryCopyFlags(rawValue: 1 << 2)
    /// Neither flush nor drain (implies ``noDrain``); a later flush and drain make the bytes durable.
    /// The C constant is `PMEM2_F_MEM_NOFLUSH`.
    public static let noFlush = MemoryCopyFlags(rawValue: 1 << 5)
}
