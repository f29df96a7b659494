/// Group commit: makes asynchronously appended entries durable, many per drain, and checkpoints the
/// persisted watermark (see `Docs/Format.md`, "Group commit" and "Checkpoints").
///
/// Asynchronous appends queue their entries here unflushed. A *round* flushes every queued entry, drains
/// once, and marks them durable. A *checkpoint* then stores the persisted watermark in the stream header,
/// persists it, and records each touched region's checkpoint tail, so that recovery after a power failure
/// reads only the entries written since. The persist workers run rounds; so do ``PMemStream/persistCommitted()``
/// and closing the stream.
///
/// The queue is bounded: an asynchronous append waits (back-pressure) while ``capacity`` entries are queued,
/// and resumes when a round has taken them.
///
/// With no persist worker, whoever needs a round runs it: an asynchronous append that finds the queue full,
/// and a wait for persistence (see ``waitPersisted(_:)``). Nothing then waits for a round nobody runs.
final class GroupCommit: Sendable {
    /// An entry waiting for a round.
    struct Queued {
        let timestamp: UInt64
        /// Where the entry starts and ends.
        let start: Int
        let end: Int
        let region: RegionState

        /// The entry and the word after it (its terminator, or the next entry's timestamp), within the region.
        var flushRange: Range<Int> {
            self.start..<min(self.end + 8, self.region.dataEnd)
        }
    }

    private struct State {
        var queued: [Queued] = []
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
        /// Regions with durable entries not yet covered by a checkpoint tail, by identity.
        var touched: [ObjectIdentifier: RegionState] = [:]
        var wake: (@Sendable () -> Void)?
    }

    /// The most entries queued before asynchronous appends wait.
    let capacity: Int
    /// The stream's clock and watermarks.
    let tracker: DurabilityTracker
    /// Whether persist workers run rounds; without them, callers do.
    private let hasWorkers: Bool
    private let medium: any PersistentMedium
    private let state = Lock(State())
    /// The watermark last stored in the header; held while checkpointing.
    private let checkpointed: Lock<UInt64>
    /// Rounds are run one at a time, so the drains of concurrent callers do not interleave their flushes.
    private let roundLock = Lock(())

    init(
        medium: any PersistentMedium,
        tracker: DurabilityTracker,
        checkpoint: UInt64,
        capacity: Int,
        hasWorkers: Bool
    ) {
        self.medium = medium
        self.tracker = tracker
        self.hasWorkers = hasWorkers
        self.checkpointed = Lock(checkpoint)
        self.capacity = max(capacity, 1)
    }

    /// Sets what wakes a persist worker when work is queued.
    func setWakeHandler(_ wake: @escaping @Sendable () -> Void) {
        self.state.withLock { $0.wake = wake }
    }

    // MARK: - Queueing

    /// Waits while the queue is full; with no persist worker, runs a round instead.
    func waitForRoom() async {
        while self.state.withLock({ $0.queued.count >= self.capacity }) {
            guard self.hasWorkers else {
                self.round()
                continue
            }
            await withCheckedContinuation { continuation in
                let waiting = self.state.withLock { state in
                    guard state.queued.count >= self.capacity else { return false }
                    state.roomWaiters.append(continuation)
                    return true
                }
                if !waiting {
                    continuation.resume()
                } else {
                    self.state.withLock { $0.wake }?()
                }
            }
        }
    }

    /// Queues entries for the next round; wakes a worker when the queue was empty.
    func enqueue(_ entries: [Queued]) {
        let wake = self.state.withLock { state -> (@Sendable () -> Void)? in
            let wasEmpty = state.queued.isEmpty
            state.queued.append(contentsOf: entries)
            return wasEmpty ? state.wake : nil
        }
        wake?()
    }

    /// Notes that a region has durable entries for the next checkpoint.
    func touch(_ region: RegionState) {
        self.state.withLock { $0.touched[ObjectIdentifier(region)] = region }
    }

    // MARK: - Rounds

    /// Returns when the entry with `timestamp`, and every earlier one, is persisted.
    ///
    /// With no persist worker the caller runs the round: once every entry up to `timestamp` is committed,
    /// each is either durable already (a synchronous append publishes only after its drain) or queued
    /// here (an asynchronous one is queued before it is published), so one round covers them all.
    ///
    /// - Throws: ``PMemStreamError/Code/cancelled``, ``PMemStreamError/Code/streamClosed``.
    @inline(__always)
    func waitPersisted(_ timestamp: UInt64) async throws(PMemStreamError) {
        // Usually true at once (a synchronous append): answered without an async call.
        guard self.tracker.persisted.value < timestamp else { return }
        try await self.waitUntilPersisted(timestamp)
    }

    /// ``waitPersisted(_:)`` once the watermark was found below `timestamp`.
    private func waitUntilPersisted(_ timestamp: UInt64) async throws(PMemStreamError) {
        if !self.hasWorkers, self.tracker.persisted.value < timestamp {
            try await self.tracker.committed.wait(until: timestamp)
            if self.tracker.persisted.value < timestamp {
                self.round()
            }
        }
        try await self.tracker.persisted.wait(until: timestamp)
    }

    /// The persisted watermark the stream header holds.
    var checkpointedWatermark: UInt64 {
        self.checkpointed.withLock { $0 }
    }

    /// Runs one round and then a checkpoint, and publishes the watermarks' progress.
    func round() {
        self.roundLock.withLock { _ in
            self.flushQueued()
            self.checkpoint()
        }
        self.tracker.committed.publishProgress()
        self.tracker.persisted.publishProgress()
    }

    /// Flushes every queued entry, drains once, marks them durable. One persist point.
    private func flushQueued() {
        let (taken, waiters) = self.state.withLock { state in
            defer {
                state.queued.removeAll(keepingCapacity: true)
                state.roomWaiters.removeAll()
            }
            return (state.queued, state.roomWaiters)
        }
        for waiter in waiters {
            waiter.resume()
        }
        guard !taken.isEmpty else { return }
        // The ranges first, then all flushes in one call and the drain: nothing between a flush and the
        // drain may retain or release (see `PersistentMedium.flush(_:)`).
        let ranges = taken.map(\.flushRange)
        self.medium.flush(ranges)
        self.medium.drain()
        var firstTouches: [RegionState] = []
        for entry in taken where entry.region.recordDurable(timestamp: entry.timestamp, end: entry.end) {
            firstTouches.append(entry.region)
        }
        for region in firstTouches {
            self.touch(region)
        }
        self.tracker.update { prefixes in
            for entry in taken {
                prefixes.durable.complete(entry.timestamp)
            }
        }
    }

    /// Stores the persisted watermark in the header and persists it; then stores the checkpoint tail of
    /// every touched region, flushes them, and drains once. Two persist points when the watermark moved.
    ///
    /// The order matters: a checkpoint tail promises that every entry before it is at or below the
    /// header's watermark, so the watermark must be durable first.
    private func checkpoint() {
        let watermark = self.tracker.persisted.value
        self.checkpointed.withLock { stored in
            guard watermark > stored else { return }
            let field = StreamHeader.Field.persistedTimestamp
            self.medium.storeWord(watermark, at: field)
            self.medium.persist(field..<field + 8)
            stored = watermark

            let touched = self.state.withLock { state in
                defer { state.touched.removeAll() }
                return Array(state.touched.values)
            }
            var wroteTail = false
            for region in touched {
                let (tail, pending) = region.checkpointTail(upTo: watermark)
                if let tail, region.storeCheckpointTail(tail) {
                    wroteTail = true
                }
                if pending {
                    self.touch(region)
                }
            }
            if wroteTail {
                self.medium.drain()
            }
        }
    }
}
