import Glibc

/// Pushes the prepared file's lines out of the CPU caches before an iteration is timed, for every engine
/// (the session then reads the entries to append back in, see ``Payload/warm()``).
///
/// A fresh file on `/dev/shm` has its pages zeroed by the kernel when it is allocated, which leaves every
/// line of it dirty in the caches; on persistent memory new blocks are zeroed with non-temporal stores and
/// a log's tail is not cached. Non-temporal stores into cached lines wait for those lines to be evicted, so
/// without this a PMemStream append measured 272 – 277 ns at 64 B instead of 220 – 226, while the engines
/// that store through the caches (the ceilings, libpmemlog at small sizes) kept their times.
enum CacheEviction {
    /// Twice this machine's 32 MiB last-level cache.
    static let byteCount = 64 << 20

    /// The buffer read through the caches; allocated and faulted in once.
    nonisolated(unsafe) private static let buffer: UnsafeMutableRawPointer = {
        // `nonisolated(unsafe)`: written once, here; `evict()` only reads it.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 4096)
        memset(buffer, 0, byteCount)
        return buffer
    }()

    /// Reads a word of every line of the buffer: the caches then hold its clean lines, and every other line,
    /// the file's among them, was written back and evicted before the timing starts.
    static func evict() {
        var sum: UInt64 = 0
        for offset in stride(from: 0, to: Self.byteCount, by: 64) {
            sum &+= Self.buffer.load(fromByteOffset: offset, as: UInt64.self)
        }
        Sink.consume(sum)
    }
}
