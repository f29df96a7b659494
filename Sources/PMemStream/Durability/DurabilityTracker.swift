import Synchronization

/// The stream-wide timestamp clock and its two watermarks (see `Docs/Durability.md`).
///
/// - **Committed**: every timestamp up to it has been published — its entry is complete in the medium and
///   readers may see it.
/// - **Persisted**: every entry up to it has been flushed and drained; after a power failure, recovery
///   finds the watermark again (from the header's checkpoint and the self-validating entries after it).
///   Always `persisted ≤ committed`.
///
/// Timestamps are handed out by one atomic counter, so they are unique in the stream. Entries publish and
/// become durable in any order; each watermark advances over the contiguous prefix of completed
/// timestamps only.
///
/// That prefix is computed, not kept: every floor of ``LaneFloors`` — a writer's unpublished and queued
/// floors, the round's flushing floor — is at or below the timestamps it still holds back, and every
/// timestamp below the lowest floor and below the clock is done. A writer holds its floor before it takes
/// timestamps and raises it after it publishes; then it scans the floors and raises the watermarks
/// (``advanceWatermarks()``). Two writers on two threads thus share no lock on the append path, and write
/// no common line but the clock, the watermarks (an asynchronous append only in the cases below), and the
/// group commit's count of queued entries once per chunk of a region's entries.
///
/// An asynchronous append raises its floor and scans only when a task waits for the committed watermark
/// or a round took its entry already (``publishedQueued(in:next:last:)``); a synchronous append alone in its
/// region scans but raises the watermarks only when a task waits for one (``publishedDurable(in:next:last:)``).
/// A scan reads every other writer's lane, and raising writes the watermarks: lines that moved between the
/// cores of two writers at every append. The watermarks may therefore lag behind the appends; whoever
/// needs them up to date raises them first (``upToDateCommitted``, ``upToDatePersisted``,
/// ``waitCommitted(until:followsNudgesSince:cancellable:)``, ``waitPersisted(until:cancellable:)``), and so
/// does every group-commit round, before its checkpoint.
final class DurabilityTracker: Sendable {
    /// Published entries: visible to readers. May lag behind appends: read
    /// ``upToDateCommitted`` and wait with ``waitCommitted(until:followsNudgesSince:cancellable:)``.
    let committed: Watermark
    /// Durable entries whose watermark is durable in the header. May lag behind synchronous appends: read
    /// ``upToDatePersisted`` and wait with ``waitPersisted(until:cancellable:)``.
    let persisted: Watermark

    private let clock: Clock
    private let closed = Atomic(false)
    /// The lanes' floors.
    let floors = LaneFloors()

    /// Starts the clock after the persisted watermark read from the header: timestamps above it were never
    /// persisted, so they are handed out again (the regions' timestamp caps hide their old entries).
    init(persistedTimestamp: UInt64) {
        self.committed = Watermark(persistedTimestamp)
        self.persisted = Watermark(persistedTimestamp)
        self.clock = Clock(next: persistedTimestamp + 1)
    }

    /// Hands out `count` consecutive timestamps with one atomic operation, to the writer of `lane`.
    ///
    /// A writer that held nothing back first holds its floor at a value the clock had: at or below the
    /// first timestamp it gets. The clock's update releases that store, so a scan that loads the clock
    /// past these timestamps sees the floor. When other writers took timestamps in between, the floor held
    /// theirs back too, and they may have published them and scanned meanwhile: the writer then raises its
    /// floor to its first timestamp as after a publication, and scans.
    ///
    /// The addition wraps rather than checks for overflow (a 64-bit clock that counts appends does not
    /// reach it): one `lock xadd`, where the checked one is a compare-and-exchange loop.
    ///
    /// - Returns: The first of them.
    @inline(__always)
    func takeTimestamps(_ count: Int, in lane: inout LaneFloors.Lane) -> UInt64 {
        guard lane.value == LaneFloors.none else {
            return self.clock.next.wrappingAdd(UInt64(count), ordering: .sequentiallyConsistent).oldValue
        }
        let held = self.clock.next.load(ordering: .relaxed)
        self.floors.hold(&lane, at: held)
        let first = self.clock.next.wrappingAdd(UInt64(count), ordering: .sequentiallyConsistent).oldValue
        if first != held {
            self.published(in: &lane, next: first)
        }
        return first
    }

    /// Raises the floor of `lane` to `next`, the writer's first unpublished timestamp (``LaneFloors/none``
    /// when it has none), once its entries below are published; then raises the watermarks.
    func published(in lane: inout LaneFloors.Lane, next: UInt64) {
        self.floors.advance(&lane, to: next)
        self.advanceWatermarks()
    }

    /// Raises the floor of `lane` to `next` once its entries up to `last` are published, as
    /// ``published(in:next:)``, for a writer whose newly published entries were all queued for group commit
    /// first; scans and raises the watermarks only when a task waits for the committed watermark, or when a
    /// round took the entries from the queue since they were queued.
    ///
    /// The floor's store and the loads after it are sequentially consistent, and so are the stores and scans
    /// they are paired with:
    /// - A waiter stores the waiter count and then scans (see
    ///   ``waitCommitted(until:followsNudgesSince:cancellable:)``): of a writer and a waiter at once, at least
    ///   one sees the other, and raises the committed watermark for the waiter.
    /// - A round that takes the queue stores the lane's queued floor, flushes, drains and then scans. When
    ///   the writer still finds its entries' queued floor (at or below `last`), that round, or the one that
    ///   takes whatever else holds the floor down, has yet to scan, and will see the writer's floor. When it
    ///   finds the floor above `last`, the round may have scanned before the writer's floor moved, while the
    ///   floor still held the entries back from both watermarks: the writer scans.
    func publishedQueued(in lane: inout LaneFloors.Lane, next: UInt64, last: UInt64) {
        self.floors.advance(&lane, to: next)
        if self.committed.hasWaiters || self.floors.queuedFloor(of: lane) > last {
            self.advanceWatermarks()
        }
    }

    /// Raises the floor of `lane` to `next` once its entries up to `last` are published, as
    /// ``published(in:next:)``, for a writer whose newly published entries were drained before: scans, but
    /// raises the watermarks only when a task waits for one of them.
    ///
    /// As in ``publishedQueued(in:next:last:)``, the floor's store and the loads of the waiter counts are
    /// sequentially consistent, and so are a waiter's store of its count and its scan: of a writer and a
    /// waiter at once, at least one sees the other.
    ///
    /// - Returns: Whether every entry up to `last` is durable: the caller's append then returns at once.
    func publishedDurable(in lane: inout LaneFloors.Lane, next: UInt64, last: UInt64) -> Bool {
        self.floors.advance(&lane, to: next)
        if self.committed.hasWaiters || self.persisted.hasWaiters {
            self.advanceWatermarks()
            return self.persisted.value >= last
        }
        let (_, durable) = self.floors.scan(clock: self.clock.next.load(ordering: .sequentiallyConsistent))
        return durable > last
    }

    /// The committed watermark, raised first over every entry published so far.
    var upToDateCommitted: UInt64 {
        self.advanceWatermarks()
        return self.committed.value
    }

    /// The persisted watermark, raised first over every entry durable so far.
    var upToDatePersisted: UInt64 {
        self.advanceWatermarks()
        return self.persisted.value
    }

    /// Returns when the committed watermark reaches `target`, as ``Watermark/wait(until:followsNudgesSince:cancellable:afterRegistering:)``,
    /// raising it once the waiter is registered: an asynchronous append that published before the
    /// registration did not raise it (see ``publishedQueued(in:next:last:)``).
    func waitCommitted(
        until target: UInt64,
        followsNudgesSince nudgeCount: UInt64? = nil,
        cancellable: Bool = true
    ) async throws(PMemStreamError) {
        try await self.committed.wait(
            until: target,
            followsNudgesSince: nudgeCount,
            cancellable: cancellable,
            afterRegistering: self.advanceWatermarks
        )
    }

    /// Returns when the persisted watermark reaches `target`, as
    /// ``Watermark/wait(until:followsNudgesSince:cancellable:afterRegistering:)``, raising it once the waiter
    /// is registered: a synchronous append that published before the registration did not raise it (see
    /// ``publishedDurable(in:next:last:)``).
    func waitPersisted(until target: UInt64, cancellable: Bool = true) async throws(PMemStreamError) {
        try await self.persisted.wait(until: target, cancellable: cancellable, afterRegistering: self.advanceWatermarks)
    }

    /// Raises committed and persisted to what the floors allow, committed first, so that no reader ever
    /// sees persisted above committed; then resumes the waiters they satisfy.
    ///
    /// The clock is loaded before the floors: a timestamp below it was taken before, and its writer's floor
    /// held it back from then until it was published.
    func advanceWatermarks() {
        let next = self.clock.next.load(ordering: .sequentiallyConsistent)
        let (published, durable) = self.floors.scan(clock: next)
        let committedMoved = self.committed.raise(to: published - 1)
        let persistedMoved = self.persisted.raise(to: durable - 1)
        if committedMoved {
            self.committed.resumeSatisfied()
        }
        if persistedMoved {
            self.persisted.resumeSatisfied()
        }
    }

    /// The largest timestamp handed out so far (0 when none).
    var lastIssuedTimestamp: UInt64 {
        self.clock.next.load(ordering: .relaxed) - 1
    }

    /// Whether the stream was closed.
    var isClosed: Bool {
        self.closed.load(ordering: .acquiring)
    }

    /// Raises the watermarks to what a read-only stream found another process wrote (see
    /// ``PMemStream/refresh()``): every entry up to `committed` whole in the medium, every entry up to
    /// `persisted` durable. Publishes their progress.
    func advance(committed: UInt64, persisted: UInt64) {
        if self.committed.raise(to: committed) {
            self.committed.resumeSatisfied()
        }
        if self.persisted.raise(to: min(persisted, committed)) {
            self.persisted.resumeSatisfied()
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
