import Synchronization

/// The stream-wide timestamp clock and its two watermarks (see `Docs/Durability.md`).
///
/// - **Committed**: every timestamp up to it has been published — its entry is complete in the medium
///   and readers may see it.
/// - **Persisted**: every entry up to it has been flushed and drained, and the watermark itself is
///   durable in the stream header. Always `persisted ≤ committed`.
///
/// Timestamps are handed out by one atomic counter, so they are unique in the stream. Entries publish and
/// become durable in any order; each watermark advances over the contiguous prefix of completed
/// timestamps only.
final class DurabilityTracker: Sendable {
    /// Published entries: visible to readers.
    let committed: Watermark
    /// Durable entries whose watermark is durable in the header.
    let persisted: Watermark

    private let medium: any PersistentMedium
    private let nextTimestamp: Atomic<UInt64>
    private let closed = Atomic(false)
    private let prefixes: Mutex<(committed: ContiguousPrefix, durable: ContiguousPrefix)>
    /// The watermark value last stored in the header; held while storing so the header never goes back.
    private let storedWatermark: Mutex<UInt64>

    /// Starts the clock after the persisted watermark read from the header: timestamps above it were never
    /// persisted, so they are handed out again (the regions' timestamp caps hide their old entries).
    init(medium: any PersistentMedium, persistedTimestamp: UInt64) {
        self.medium = medium
        self.committed = Watermark(persistedTimestamp)
        self.persisted = Watermark(persistedTimestamp)
        self.nextTimestamp = Atomic(persistedTimestamp + 1)
        self.prefixes = Mutex((ContiguousPrefix(persistedTimestamp), ContiguousPrefix(persistedTimestamp)))
        self.storedWatermark = Mutex(persistedTimestamp)
    }

    /// The persisted watermark as the stream header holds it.
    static func persistedTimestamp(in medium: some PersistentMedium) -> UInt64 {
        medium.loadWord(at: StreamHeader.Field.persistedTimestamp)
    }

    /// Hands out the next timestamp.
    func takeTimestamp() -> UInt64 {
        self.nextTimestamp.add(1, ordering: .relaxed).oldValue
    }

    /// The largest timestamp handed out so far (0 when none).
    var lastIssuedTimestamp: UInt64 {
        self.nextTimestamp.load(ordering: .relaxed) - 1
    }

    /// Whether the stream was closed.
    var isClosed: Bool {
        self.closed.load(ordering: .acquiring)
    }

    /// Records that the entries with these timestamps are complete in the medium; advances the committed
    /// watermark over the contiguous prefix.
    func published(_ timestamps: some Sequence<UInt64>) {
        let committed = self.prefixes.withLock { prefixes in
            for timestamp in timestamps {
                prefixes.committed.complete(timestamp)
            }
            return prefixes.committed.value
        }
        self.committed.advance(to: committed)
    }

    /// Records that the entries with these timestamps are durable; makes the contiguous durable prefix the
    /// persisted watermark: stores it in the header, persists it, then advances ``persisted``.
    func durable(_ timestamps: some Sequence<UInt64>) {
        let durable = self.prefixes.withLock { prefixes in
            for timestamp in timestamps {
                prefixes.durable.complete(timestamp)
            }
            return prefixes.durable.value
        }
        self.storedWatermark.withLock { stored in
            guard durable > stored else { return }
            self.medium.storeWord(durable, at: StreamHeader.Field.persistedTimestamp)
            self.medium.persist(StreamHeader.Field.persistedTimestamp..<StreamHeader.Field.persistedTimestamp + 8)
            stored = durable
        }
        self.persisted.advance(to: durable)
    }

    /// Refuses further appends and fails every waiter with ``PMemStreamError/Code/streamClosed``.
    func close() {
        self.closed.store(true, ordering: .releasing)
        let error = PMemStreamError(code: .streamClosed, message: "the stream was closed")
        self.committed.close(with: error)
        self.persisted.close(with: error)
    }
}
