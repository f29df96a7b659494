/// The data the engines append: a pool of distinct random entries, reused in turn.
///
/// The pool holds at most `count` entries and about 4 MiB, so that large entries do not need a buffer of
/// `count × size` bytes; every engine appends exactly the same bytes in the same order. The pool exists
/// twice: back to back in one buffer, which the C engines read through raw pointers, and as one `[UInt8]`
/// per entry, which PMemStream's API takes.
///
/// The C engines must not touch the arrays in their loops: retaining an array is an atomic
/// read-modify-write, and on the machines we measured an atomic after a cache-line flush waits for the
/// flush as a drain would (see `Docs/Performance.md`).
struct Payload: Sendable {
    /// The bytes of each entry.
    let entrySize: Int
    /// The number of distinct entries.
    let poolCount: Int
    /// The entries back to back, `entrySize` bytes apart (at least one byte, for empty entries).
    private let contiguous: [UInt8]
    /// The same entries as arrays.
    let entries: [[UInt8]]

    /// Random entries of `entrySize` bytes for a run of `count` operations; the same seed gives the same bytes.
    init(entrySize: Int, count: Int, seed: UInt64) {
        let poolCount = max(1, min(count, (4 << 20) / max(entrySize, 1)))
        var generator = SplitMix64(seed: seed)
        let contiguous = (0..<max(poolCount * entrySize, 1)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        self.entrySize = entrySize
        self.poolCount = poolCount
        self.contiguous = contiguous
        self.entries = (0..<poolCount).map { Array(contiguous[$0 * entrySize..<($0 + 1) * entrySize]) }
    }

    /// The data of operation `index`, as an array.
    @inline(__always)
    func entry(_ index: Int) -> [UInt8] {
        self.entries[index % self.poolCount]
    }

    /// Operations `0..<count` cut into batches of `batchSize` arrays; the last may be shorter.
    func batches(count: Int, batchSize: Int) -> [[[UInt8]]] {
        stride(from: 0, to: count, by: batchSize).map { start in
            (start..<min(start + batchSize, count)).map(self.entry)
        }
    }

    /// Reads every line of the entries, in both forms, back into the caches (after ``CacheEviction/evict()``):
    /// an application appends data it has just made.
    func warm() {
        var sum = 0
        self.contiguous.withUnsafeBytes { bytes in
            for offset in stride(from: 0, to: bytes.count, by: 64) {
                sum &+= Int(bytes[offset])
            }
        }
        for entry in self.entries {
            entry.withUnsafeBytes { bytes in
                for offset in stride(from: 0, to: bytes.count, by: 64) {
                    sum &+= Int(bytes[offset])
                }
            }
        }
        Sink.consume(sum)
    }

    /// Calls `body` with the address of the contiguous entries; entry `slot` (below ``poolCount``) starts
    /// `slot × entrySize` bytes after it.
    func withContiguousEntries<R>(_ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        try self.contiguous.withUnsafeBytes { try body($0.baseAddress!) }
    }
}
