import Synchronization

/// The stream-wide timestamp clock and its two watermarks (see `Docs/Durability.md`).
///
/// - **Committed**: every timestamp up to it has been published — its entry is complete in the medium
///   and readers may see it.
/// - **Persisted**: every entry up to it has been flushed and drained; after a power failure, recovery
///   finds the watermark again (from the header's checkpoint and the self-validating entries after it).
///   Always `persisted ≤ committed`.
///
/// Timestamps are handed out by one atomic counter, so they are unique in the stream. Entries publish and
/// become durable in any order; each watermark advances over the contiguous prefix of completed
/// timestamps only.
final class DurabilityTracker: Sendable {
    /// Published entries: visible to readers.
    let committed: Watermark
    /// Durable entries whose watermark is durable in the header.
    let persisted: Watermark

    private let clock: Clock
    private let closed = Atomic(false)
    private let prefixes: Lock<Prefixes>

    /// Starts the clock after the persisted watermark read from the header: timestamps above it were never
    /// persisted, so they are handed out again (the regions' timestamp caps hide their old entries).
    init(persistedTimestamp: UInt64) {
        self.committed = Watermark(persistedTimestamp)
        self.persisted = Watermark(persistedTimestamp)
        self.clock = Clock(next: persistedTimestamp + 1)
        self.prefixes = Lock(
            Prefixes(committed: ContiguousPrefix(persistedTimestamp), durable: ContiguousPrefix(persistedTimestamp))
        )
    }

    /// Hands out `count` consecutive timestamps with one atomic operation.
    ///
    /// - Returns: The first of them.
    func takeTimestamps(_ count: Int) -> UInt64 {
        self.clock.next.add(UInt64(count), ordering: .relaxed).oldValue
    }

    /// The largest timestamp handed out so far (0 when none).
    var lastIssuedTimestamp: UInt64 {
        self.clock.next.load(ordering: .relaxed) - 1
    }

    /// Whether the stream was closed.
    var isClosed: Bool {
        self.closed.load(ordering: .acquiring)
    }

    /// The contiguous prefixes of the published and of the durable timestamps.
    struct Prefixes {
        /// Published entries: complete in the medium, visible to readers.
        var committed: ContiguousPrefix
        /// Durable entries: flushed and drained, each one whole and self-validating.
        var durable: ContiguousPrefix
    }

    /// Records, with `change`, which entries were published and which became durable; then raises
    /// committed and persisted (= the smaller of the durable and committed prefixes) under the lock, so that
    /// no reader ever sees persisted above committed, and resumes the satisfied waiters after it. One lock
    /// for both, however many entries.
    ///
    /// The persisted watermark never passes the committed one: an entry can become durable a moment before
    /// it is published. The header's copy of the watermark is a checkpoint written later (see
    /// `Docs/Format.md`, "Checkpoints").
    func update(_ change: (inout Prefixes) -> Void) {
        self.prefixes.withLock { prefixes in
            change(&prefixes)
            self.committed.raise(to: prefixes.committed.value)
            self.persisted.raise(to: min(prefixes.durable.value, prefixes.committed.value))
            // Orders the raises before the waiter counts that `resumeSatisfied()` reads (see `Watermark.raise`).
            atomicMemoryFence(ordering: .sequentiallyConsistent)
        }
        self.committed.resumeSatisfied()
        self.persisted.resumeSatisfied()
    }

    /// Raises the watermarks to what a read-only stream found another process wrote (see
    /// ``PMemStream/refresh()``): every entry up to `committed` whole in the medium, every entry up to
    /// `persisted` durable. Publishes their progress.
    func advance(committed: UInt64, persisted: UInt64) {
        self.update { prefixes in
            if committed > prefixes.committed.value { prefixes.committed = ContiguousPrefix(committed) }
            if persisted > prefixes.durable.value { prefixes.durable = ContiguousPrefix(persisted) }
        }
        self.committed.publishProgress()
        self.persisted.publishProgress()
    }

    /// Refuses further appends; waiters keep waiting (the stream persists what is under way first).
    func refuseAppends() {
        self.closed.store(true, ordering: .releasing)
    }

    /// Refuses further appends and fails every waiter with ``PMemStreamError/Code/streamClosed``.
    func close() {
        self.closed.store(true, ordering: .releasing)
        let error = PMemStreamError(code: .streamClosed, message: "the stream was closed")
        self.committed.close(with: error)
        self.persisted.close(with: error)
    }
}

/// The next timestamp to hand out, alone on its cache line.
///
/// Every append takes a timestamp with a read-modify-write. Beside the tracker's other fields, which every
/// append reads (the closed flag, the references to the watermarks), the counter's line moved between the
/// cores of two appending threads once for the reads and again for the write. Alone, with two threads each
/// appending 64-byte entries to a region of its own, a synchronous append took 650 – 692 ns against
/// 681 – 884, 590 – 682 in `withIsolation` against 631 – 852 (four alternating runs); one thread was
/// unchanged.
private final class Clock: Sendable {
    // Seven words on either side: whatever the object's alignment, the counter's line holds nothing else.
    private let before: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)
    /// The next timestamp.
    let next: Atomic<UInt64>
    private let after: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)

    init(next: UInt64) {
        self.next = Atomic(next)
    }
}
