import Synchronization

/// Group commit: makes asynchronously appended entries durable, many per drain, and checkpoints the
/// persisted watermark (see `Docs/Format.md`, "Group commit" and "Checkpoints").
///
/// Asynchronous appends queue their entries unflushed, each in its region's ``RegionQueue``, which is listed
/// here when it gets its first entry. A *round* takes every listed queue, flushes their entries, drains
/// once, and marks them durable. A *checkpoint* then stores the persisted watermark in the stream header,
/// persists it, and records each touched region's checkpoint tail, so that recovery after a power failure
/// reads only the entries written since. The persist workers run rounds; so do ``PMemStream/persistCommitted()``
/// and closing the stream.
///
/// The queues are bounded together: an asynchronous append waits (back-pressure) while ``capacity`` entries
/// are counted as queued, and resumes when a round has taken them. Each region's queue adds to the count
/// once per ``countingChunk`` entries, not at every append (a shared line that two writers' cores passed
/// back and forth), so each may hold up to a chunk less one beyond the bound.
///
/// A task that waits for persistence, once every entry up to its timestamp is published, runs the round
/// itself when the medium is flushed by cache line: at once if none is under way, else once the one under
/// way ends, spinning for a while meanwhile. Otherwise a persist worker is woken: when somebody waits for
/// persistence (and then for every entry queued while anybody does), when ``wakeThreshold`` entries are
/// counted as queued, and when the queue is full; else it runs its round when its interval passes. Waking a thread costs a system call and two context switches, far more than an
/// asynchronous append or a drain, so a writer that nobody waits for does not pay one per append, and a
/// waiter pays none when it can run the round.
///
/// With no persist worker, whoever needs a round runs it: an asynchronous append that finds the queue full,
/// and a wait for persistence (see ``waitPersisted(_:)``). Nothing then waits for a round nobody runs.
final class GroupCommit: Sendable {
    /// An entry waiting for a round; its region is kept by its ``RegionQueue``, then by the round's ``Queue``.
    struct Queued {
        let timestamp: UInt64
        /// Where the entry ends.
        let end: Int
        /// What the round flushes: the entry and the word after it (its terminator, or the next entry's
        /// timestamp), within the region; or, when part of the entry's data was flushed as it was copied
        /// (its streamed lines), the entry up to them, then the rest of it and the word after it.
        let flushRange: Range<Int>
        let restRange: Range<Int>

        /// - Parameter streamedLines: The whole lines of the entry's data that were flushed as they were
        ///   copied; `nil` when none were.
        init(timestamp: UInt64, start: Int, end: Int, region: RegionState, streamedLines: Range<Int>? = nil) {
            self.timestamp = timestamp
            self.end = end
            let wordAfterEnd = min(end + 8, region.dataEnd)
            if let streamedLines {
                self.flushRange = start..<streamedLines.lowerBound
                self.restRange = streamedLines.upperBound..<wordAfterEnd
            } else {
                self.flushRange = start..<wordAfterEnd
                self.restRange = wordAfterEnd..<wordAfterEnd
            }
        }
    }

    private struct State {
        /// The region queues with entries for the next round.
        var listed: [RegionQueue] = []
        /// Asynchronous appends waiting for room, by the number each took.
        var roomWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextRoomWaiterID: UInt64 = 0
        /// Regions with durable entries not yet covered by a checkpoint tail, by identity.
        var touched: [ObjectIdentifier: RegionState] = [:]
        var wake: (@Sendable () -> Void)?
        /// How many tasks wait for persistence while there are persist workers.
        var persistWaiters = 0
    }

    /// What a round reuses from one to the next, so that it allocates nothing in steady state.
    private struct RoundBuffers {
        /// The region queues the round takes; swapped with the list.
        var listed: [RegionQueue] = []
        /// The entries the round took from them.
        var taken = Queue()
        /// Their flush ranges.
        var ranges: [Range<Int>] = []
        /// The regions a checkpoint stores the tails of; taken from ``State/touched``.
        var touched: [RegionState] = []
        /// Set by ``finalRound()``: the stream is closed, and no round writes to the medium again.
        var isFinished = false
    }

    /// The most entries queued before asynchronous appends wait.
    let capacity: Int
    /// How many entries a region's queue adds to the count at a time: at most 1/256 of ``capacity``, and at
    /// most 64 (at the default capacity, 16 384 entries, 64).
    let countingChunk: Int
    /// How many queued entries wake a persist worker when nobody waits for persistence.
    let wakeThreshold: Int
    /// The stream's clock and watermarks.
    let tracker: DurabilityTracker
    /// Whether persist workers run rounds; without them, callers do.
    private let hasWorkers: Bool
    /// Whether a task that waits for persistence may run a round itself although there are workers: only
    /// when flushes are cache-line flushes. With page granularity every flushed range is an `msync`, and a
    /// round of many entries would hold a thread of the cooperative pool in system calls.
    private let callerRunsRounds: Bool
    private let medium: any PersistentMedium
    private let state = Lock(State())
    /// The watermark last stored in the header; held while checkpointing.
    private let checkpointed: Lock<UInt64>
    /// Rounds are run one at a time, so the drains of concurrent callers do not interleave their flushes.
    private let roundLock = Lock(RoundBuffers())
    /// How many entries are queued, in all region queues, counted in chunks (see ``countingChunk``).
    private let queuedCount = Atomic(0)

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
        self.callerRunsRounds = medium.granularity != .page
        self.checkpointed = Lock(checkpoint)
        self.capacity = max(capacity, 1)
        self.countingChunk = min(max(self.capacity / 256, 1), 64)
        self.wakeThreshold = min(self.capacity, 256)
    }

    /// Sets what wakes a persist worker when work is queued.
    func setWakeHandler(_ wake: @escaping @Sendable () -> Void) {
        self.state.withLock { $0.wake = wake }
    }

    // MARK: - Queueing

    /// Whether the queue is full, as last seen: asynchronous appends call ``waitForRoom()`` only when it is.
    var isFull: Bool {
        self.queuedCount.load(ordering: .relaxed) >= self.capacity
    }

    /// Waits while the queue is full; with no persist worker, runs a round instead. Returns early when the
    /// task is cancelled (the caller checks).
    func waitForRoom() async {
        while !Task.isCancelled, self.isFull {
            guard self.hasWorkers else {
                self.round()
                continue
            }
            let id = self.state.withLock { state in
                defer { state.nextRoomWaiterID += 1 }
                return state.nextRoomWaiterID
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    // Cancellation is looked at under the lock the handler takes: either the handler finds
                    // the waiter registered, or the waiter sees the task cancelled.
                    let waiting = self.state.withLock { state in
                        guard self.isFull, !Task.isCancelled else { return false }
                        state.roomWaiters[id] = continuation
                        return true
                    }
                    if !waiting {
                        continuation.resume()
                    } else {
                        self.state.withLock { $0.wake }?()
                    }
                }
            } onCancel: {
                self.state.withLock { $0.roomWaiters.removeValue(forKey: id) }?.resume()
            }
        }
    }

    /// Queues an entry in its region's queue for the next round, before it is published; wakes a worker
    /// when it is the first entry since the last round and somebody waits for persistence (the first
    /// region listed, not every region: each wake is a round), or when ``wakeThreshold`` entries are counted
    /// as queued. Entries not counted yet, less than a chunk per region, wake nobody: a worker's round, at its
    /// interval, takes them.
    ///
    /// The count of queued entries is raised after the entries are queued, a chunk at a time, and lowered
    /// after a round took them, so it may lag by the entries being queued at that moment and by less than
    /// a chunk per region: the bound and the threshold hold within that many entries.
    func enqueue(_ entry: Queued, in queue: RegionQueue) {
        let (listing, counting) = queue.append(entry)
        var reachesThreshold = false
        if counting > 0 {
            let count = self.queuedCount.wrappingAdd(counting, ordering: .relaxed).newValue
            reachesThreshold = count >= self.wakeThreshold && count - counting < self.wakeThreshold
        }
        guard listing || reachesThreshold else { return }
        let wake = self.state.withLock { state -> (@Sendable () -> Void)? in
            var wakes = reachesThreshold
            if listing {
                state.listed.append(queue)
                wakes = wakes || (state.listed.count == 1 && state.persistWaiters > 0)
            }
            return wakes ? state.wake : nil
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

    /// ``waitPersisted(_:)`` for the entry with `timestamp` that the caller has just written and published:
    /// the wait ignores cancellation — the entry stays in the stream whatever happens to the caller, which
    /// would append it twice if it retried on an error — and a stream closed after it persisted the entry is
    /// no error.
    ///
    /// - Throws: ``PMemStreamError/Code/streamClosed`` only when the stream closed with the entry not persisted.
    @inline(__always)
    func waitPersisted(written timestamp: UInt64) async throws(PMemStreamError) {
        guard self.tracker.persisted.value < timestamp else { return }
        do {
            try await self.waitUntilPersisted(timestamp, cancellable: false)
        } catch {
            guard self.tracker.persisted.value >= timestamp else { throw error }
        }
    }

    /// ``waitPersisted(_:)`` once the watermark was found below `timestamp`.
    ///
    /// With persist workers, a caller whose entries are all published runs the round itself when the medium
    /// is flushed by cache line (see ``callerRunsRounds``): a drain costs far less than waking a worker and
    /// being resumed by it (two context switches). When another round is under way, it spins (see
    /// ``roundOnceIdle(until:)``) rather than suspend. Otherwise the caller is counted as a waiter for as long
    /// as it waits, and a worker is woken if entries are queued: until the count drops to zero, every entry
    /// queued into an empty queue wakes one as well.
    private func waitUntilPersisted(_ timestamp: UInt64, cancellable: Bool = true) async throws(PMemStreamError) {
        if self.hasWorkers, self.callerRunsRounds, self.tracker.upToDateCommitted >= timestamp,
            self.roundOnceIdle(until: timestamp)
        {
            return
        }
        guard self.hasWorkers else {
            try await self.tracker.waitCommitted(until: timestamp, cancellable: cancellable)
            if self.tracker.persisted.value < timestamp {
                self.round()
            }
            try await self.tracker.waitPersisted(until: timestamp, cancellable: cancellable)
            return
        }
        let wake = self.state.withLock { state -> (@Sendable () -> Void)? in
            state.persistWaiters += 1
            return state.listed.isEmpty ? nil : state.wake
        }
        wake?()
        defer {
            self.state.withLock { $0.persistWaiters -= 1 }
        }
        try await self.tracker.waitPersisted(until: timestamp, cancellable: cancellable)
    }

    /// The persisted watermark the stream header holds.
    var checkpointedWatermark: UInt64 {
        self.checkpointed.withLock { $0 }
    }

    /// Runs one round and then a checkpoint, and publishes the watermarks' progress; does nothing once the
    /// stream is closed (see ``finalRound()``).
    func round() {
        self.roundLock.withLock { self.run(using: &$0) }
        self.publishProgress()
    }

    /// Runs a round for the caller whose entries up to `timestamp` are all published, so are each durable
    /// already or queued: one round that starts now covers them. While another round is under way, the
    /// caller spins with a ``SpinBackoff`` until that round has made them durable or ends, and then runs its
    /// own if it still needs one. Suspending instead and being resumed by the other round costs a task
    /// switch per wait: on an AMD EPYC (family 26), two threads appending 64 B entries asynchronously to a
    /// region each, each waiting every 64 entries, took 423 – 505 ns per entry so and 298 – 373 ns spinning,
    /// against one thread's 160 – 175 (Docs/Performance.md, twenty-first pass).
    ///
    /// - Returns: Whether the entries are persisted: `false` once the spin budget is spent.
    private func roundOnceIdle(until timestamp: UInt64) -> Bool {
        var backoff = SpinBackoff()
        repeat {
            if self.roundIfIdle() || self.tracker.persisted.value >= timestamp {
                return self.tracker.persisted.value >= timestamp
            }
        } while backoff.pause()
        return false
    }

    /// Runs ``round()`` unless a round is under way already.
    ///
    /// - Returns: Whether it ran one.
    private func roundIfIdle() -> Bool {
        guard self.roundLock.withLockIfAvailable({ self.run(using: &$0) }) != nil else { return false }
        self.publishProgress()
        return true
    }

    /// A round and a checkpoint, with the round lock held; nothing once the stream is closed.
    private func run(using buffers: inout RoundBuffers) {
        guard !buffers.isFinished else { return }
        self.flushQueued(using: &buffers)
        self.checkpoint(using: &buffers)
    }

    /// Publishes the watermarks' progress to their streams.
    private func publishProgress() {
        self.tracker.committed.publishProgress()
        self.tracker.persisted.publishProgress()
    }

    /// The last round, when the stream closes: persists everything committed, checkpoints it, and makes every
    /// later ``round()`` do nothing, so that nothing writes to the medium after the stream is closed — by
    /// then another process may have it open for writing.
    func finalRound() {
        self.round()
        self.roundLock.withLock { $0.isFinished = true }
    }

    /// Flushes every queued entry, drains once, marks them durable. One persist point.
    ///
    /// The list of region queues is swapped with `buffers.listed`, and their entries moved to
    /// `buffers.taken`, both emptied by the previous round, so nothing allocates in steady state.
    private func flushQueued(using buffers: inout RoundBuffers) {
        self.state.withLock { swap(&$0.listed, &buffers.listed) }
        var counted = 0
        for queue in buffers.listed {
            counted += queue.take(into: &buffers.taken)
        }
        buffers.listed.removeAll(keepingCapacity: true)
        // Room first, then the waiters: one that checks for room after this sees it.
        self.queuedCount.wrappingSubtract(counted, ordering: .relaxed)
        let waiters = self.state.withLock { state in
            defer { state.roomWaiters.removeAll() }
            return state.roomWaiters
        }
        for waiter in waiters.values {
            waiter.resume()
        }
        guard !buffers.taken.isEmpty else {
            // Nothing to flush; the watermarks are raised over what synchronous appends made durable without
            // raising them (see `DurabilityTracker.publishedDurable(in:next:last:)`), for the checkpoint.
            self.tracker.advanceWatermarks()
            return
        }
        // The ranges first, then all flushes in one call and the drain: nothing between a flush and the
        // drain may retain or release (see `PersistentMedium.flush(_:)`).
        for entry in buffers.taken.entries {
            Self.addFlush(entry.flushRange, to: &buffers.ranges)
            if !entry.restRange.isEmpty {
                Self.addFlush(entry.restRange, to: &buffers.ranges)
            }
        }
        self.medium.flush(buffers.ranges)
        self.medium.drain()
        self.recordDurable(buffers.taken)
        self.tracker.floors.flushed()
        self.tracker.advanceWatermarks()
        // Emptied in place, with no other reference to them: they keep their storage for the next round.
        buffers.taken.removeAll()
        buffers.ranges.removeAll(keepingCapacity: true)
    }

    /// Adds `range` to the ranges a round flushes, merged into the last one when the two overlap or touch.
    /// Consecutive entries of a region share lines (an entry's range ends with the word after it, the next
    /// entry's first), which were flushed twice per round unmerged. Merged, asynchronous appends of 64 B took
    /// 329 – 361 ns against 433 – 438 on an Intel Xeon (family 6, model 207), 1 KiB 629 – 663 against 697 –
    /// 701 (Docs/Performance.md, twentieth pass).
    private static func addFlush(_ range: Range<Int>, to ranges: inout [Range<Int>]) {
        guard let last = ranges.last, range.lowerBound >= last.lowerBound, range.lowerBound <= last.upperBound else {
            ranges.append(range)
            return
        }
        ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
    }

    /// Records the entries durable in their regions, for the next checkpoint tails: for each run of
    /// consecutive entries of one region, only the one with the largest timestamp. That is enough, and it
    /// takes each region's lock once per run: within a region timestamps increase with the offset, so that
    /// entry ends furthest, and a checkpoint tail at its end holds every smaller timestamp of the run.
    private func recordDurable(_ taken: Queue) {
        taken.entries.withUnsafeBufferPointer { entries in
            var start = 0
            for (region, count) in taken.runs {
                var latest = entries[start]
                for entry in entries[start..<start + count] where entry.timestamp > latest.timestamp {
                    latest = entry
                }
                start += count
                if region.recordDurable(timestamp: latest.timestamp, end: latest.end) {
                    self.touch(region)
                }
            }
        }
    }

    /// Stores the persisted watermark in the header and persists it; then stores the checkpoint tail of
    /// every touched region, flushes them, and drains once. Two persist points when the watermark moved.
    ///
    /// The order matters: a checkpoint tail promises that every entry before it is at or below the
    /// header's watermark, so the watermark must be durable first.
    private func checkpoint(using buffers: inout RoundBuffers) {
        let watermark = self.tracker.persisted.value
        self.checkpointed.withLock { stored in
            guard watermark > stored else { return }
            let field = StreamHeader.Field.persistedTimestamp
            self.medium.storeWord(watermark, at: field)
            self.medium.persist(field..<field + 8)
            stored = watermark

            self.state.withLock { state in
                buffers.touched.append(contentsOf: state.touched.values)
                state.touched.removeAll(keepingCapacity: true)
            }
            defer { buffers.touched.removeAll(keepingCapacity: true) }
            var wroteTail = false
            for region in buffers.touched {
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
