/// Byte-addressable memory whose contents survive a power failure once flushed and drained.
///
/// A medium is what a stream lives on. ``Pmem2Mapping`` maps a file or a DAX device through libpmem2;
/// the `PMemStreamTestKit` library's `SimulatedMedium` keeps the bytes in DRAM and models a power failure
/// exactly, for crash tests. Offsets are relative to ``baseAddress`` and must lie within ``size``.
///
/// The durability contract is libpmem2's: a store is durable once it has been flushed
/// (``flush(_:)-(Range<Int>)``, or a copy without ``MemoryCopyFlags/noFlush``) and a drain (``drain()``) has
/// followed. An aligned 8-byte store is atomic: after a power failure it holds its old or its new value, never a mix. Nothing else is
/// atomic, so a larger range that was written but not drained may come back torn.
///
/// - Important: Conforming types are shared between the stream actor, its writers and persist workers,
///   which touch disjoint ranges at the same time. Every requirement must be safe to call concurrently for
///   disjoint ranges.
public protocol PersistentMedium: AnyObject, Sendable {
    /// The address of byte 0 of the medium in this process: the same for the medium's whole life (streams
    /// keep it), and valid while the medium is alive.
    var baseAddress: UnsafeMutableRawPointer { get }
    /// The number of bytes the medium holds.
    var size: Int { get }
    /// What a flush must cover to make a store durable.
    var granularity: StoreGranularity { get }
    /// The NUMA node the memory belongs to, when the platform reports it (DAX devices); `nil` otherwise.
    var numaNode: Int? { get }

    /// Flushes and drains a range: when the call returns, the bytes in it are durable.
    ///
    /// The corresponding C function is the one `pmem2_get_persist_fn` returns.
    /// - Parameter range: The byte offsets to make durable.
    func persist(_ range: Range<Int>)

    /// Starts writing a range back to the medium; a following ``drain()`` waits for it.
    ///
    /// The corresponding C function is the one `pmem2_get_flush_fn` returns.
    /// - Parameter range: The byte offsets to write back.
    func flush(_ range: Range<Int>)

    /// Starts writing several ranges back to the medium; a following ``drain()`` waits for all of them.
    ///
    /// Equivalent to calling ``flush(_:)`` for each range. On some CPUs an atomic operation issued after a
    /// cache-line flush waits for that flush to complete, and reference counting is such an operation, so
    /// an implementation should flush the ranges without retaining or releasing anything in between.
    /// - Parameter ranges: The byte offsets to write back.
    func flush(_ ranges: [Range<Int>])

    /// Waits until every flush issued before it has reached the medium: one persist point.
    ///
    /// The corresponding C function is the one `pmem2_get_drain_fn` returns.
    func drain()

    /// Copies bytes into the medium and makes them durable as `flags` say.
    ///
    /// The corresponding C function is the one `pmem2_get_memcpy_fn` returns.
    /// - Parameters:
    ///   - offset: Where the bytes go.
    ///   - source: The bytes to copy; it must not overlap the medium's range being written.
    ///   - flags: Whether to flush and drain, and which kind of stores to prefer.
    func copy(toOffset offset: Int, from source: UnsafeRawBufferPointer, flags: MemoryCopyFlags)

    /// Sets a range of the medium to one byte value and makes it durable as `flags` say.
    ///
    /// The corresponding C function is the one `pmem2_get_memset_fn` returns.
    /// - Parameters:
    ///   - range: The byte offsets to set.
    ///   - value: The byte to store.
    ///   - flags: Whether to flush and drain, and which kind of stores to prefer.
    func fill(_ range: Range<Int>, with value: UInt8, flags: MemoryCopyFlags)

    /// Makes a range durable all the way to the medium and reports any error the platform sees on the way.
    ///
    /// Slower than ``persist(_:)``; the stream calls it where it must know that a step reached the medium
    /// (after formatting, when closing).
    /// The corresponding C function is `pmem2_deep_flush` (for a page-granular ``Pmem2Mapping``, `msync`).
    /// - Parameter range: The byte offsets to make durable.
    /// - Throws: ``PMemStreamError/Code/ioError`` when the medium failed to store the range.
    func deepFlush(_ range: Range<Int>) throws(PMemStreamError)

    /// Claims the medium for the one stream that writes it, before that stream writes anything; the claim
    /// lasts until ``endWriting()``.
    ///
    /// - Throws: A ``Pmem2Mapping`` refuses a second claim, and one whose file another process writes, with
    ///   ``PMemStreamError/Code/streamInUse``, and a claim of a read-only mapping with
    ///   ``PMemStreamError/Code/readOnlyStream``.
    func beginWriting() throws(PMemStreamError)

    /// Gives back the claim of ``beginWriting()``: the stream was closed and writes no more, though the
    /// medium may still be read. A ``Pmem2Mapping`` releases the file's writer's lock here, so that the file
    /// can be opened for writing again at once.
    func endWriting()
}

extension PersistentMedium {
    /// Does nothing: a medium that keeps no claim accepts every writer.
    public func beginWriting() throws(PMemStreamError) {}

    /// Does nothing: a medium that keeps no claim has nothing to give back.
    public func endWriting() {}

    /// Flushes each range in turn with ``flush(_:)-(Range<Int>)``.
    public func flush(_ ranges: [Range<Int>]) {
        for range in ranges {
            self.flush(range)
        }
    }
}
