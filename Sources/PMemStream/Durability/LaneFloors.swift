import Synchronization

/// The floors the watermarks are computed from: for each *lane*, a timestamp at or below every timestamp
/// the lane still holds back, or ``none`` (see ``DurabilityTracker``).
///
/// Each region writer has a lane with two floors on a cache line of their own: its *unpublished* floor, for
/// the entries it took timestamps for and has not published, stored only by the writer; and its *queued*
/// floor, for its published entries waiting for group commit, stored under its queue's lock (by the writer
/// when it queues an entry, by a round when it takes the queue). Up to ``ownedCount`` writers have a lane of
/// their own; more share one, behind a lock. A last floor holds the entries a round is flushing. Two
/// writers thus never write the same line for their appends.
struct LaneFloors: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: `words` is written only through its atomics; `shared` is a lock. A value inside the
    // tracker rather than an object of its own: an object would be retained and released around its calls.

    /// A floor that holds nothing back.
    static let none = UInt64.max
    /// How many writers get a lane of their own. A scan reads every lane ever claimed, about 0.6 ns each
    /// (64 B synchronous appends took 278 ns with one lane scanned and 336 with 100); a writer on the shared
    /// lane pays its lock instead, 40 – 100 ns per append alone and far more when writers contend for it.
    static let ownedCount = 64

    /// A writer's place among the lanes.
    struct Lane {
        /// Which lane's line the writer stores: an owned one, or ``LaneFloors/sharedLane``.
        let line: Int
        /// The writer, among those that share a lane.
        let id: UInt64
        /// The unpublished floor this writer last gave, kept by the writer: ``LaneFloors/none`` when it
        /// holds nothing back.
        var value = LaneFloors.none
    }

    // The words: line 0 holds how many owned lanes were ever claimed (scans read that many), line 1 the
    // flushing floor, then one line per lane: its unpublished floor, then its queued floor.
    private static let wordsPerLine = 64 / MemoryLayout<UInt64>.size
    private static let claimedCount = 0
    private static let flushingFloor = 1
    /// The lane of the writers beyond ``ownedCount``.
    static let sharedLane = 2
    private static let firstOwnedLane = 3
    private static let lineCount = firstOwnedLane + ownedCount
    private static let unpublished = 0
    private static let queued = 1

    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let shared = Lock(Claims())

    private struct Claims {
        /// Owned lanes no writer has, lowest last.
        var free: [Int] = (0..<LaneFloors.ownedCount).reversed().map { LaneFloors.firstOwnedLane + $0 }
        /// The unpublished floors of the writers that share ``LaneFloors/sharedLane``, by id.
        var unpublished: [UInt64: UInt64] = [:]
        /// Their queued floors, by id.
        var queued: [UInt64: UInt64] = [:]
        var nextID: UInt64 = 0
    }

    init() {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: Self.lineCount * 64, alignment: 64)
        self.words = memory.bindMemory(to: Atomic<UInt64>.self, capacity: Self.lineCount * Self.wordsPerLine)
        for index in 0..<Self.lineCount * Self.wordsPerLine {
            (self.words + index).initialize(to: Atomic(index == Self.claimedCount ? 0 : Self.none))
        }
    }

    deinit {
        for index in 0..<Self.lineCount * Self.wordsPerLine {
            _ = (self.words + index).move()
        }
        UnsafeMutableRawPointer(self.words).deallocate()
    }

    /// The word `word` of line `line`.
    @inline(__always)
    private func word(_ line: Int, _ word: Int = 0) -> UnsafeMutablePointer<Atomic<UInt64>> {
        self.words + line * Self.wordsPerLine + word
    }

    // MARK: - Lanes of writers

    /// A lane for a new writer: one of its own while one is free, else the shared one.
    ///
    /// The count of claimed lanes is stored before the writer takes its first timestamp (with a
    /// sequentially consistent store), so a scan that finds a timestamp taken reads the lane too.
    borrowing func claim() -> Lane {
        self.shared.withLock { claims in
            defer { claims.nextID += 1 }
            guard let line = claims.free.popLast() else {
                return Lane(line: Self.sharedLane, id: claims.nextID)
            }
            let claimed = UInt64(line - Self.firstOwnedLane + 1)
            if claimed > self.word(Self.claimedCount).pointee.load(ordering: .relaxed) {
                self.word(Self.claimedCount).pointee.store(claimed, ordering: .sequentiallyConsistent)
            }
            return Lane(line: line, id: claims.nextID)
        }
    }

    /// Gives back the lane of a writer that will take no timestamp again and has no entry queued: its region
    /// was freed, or the writer and its queue are gone.
    borrowing func release(_ lane: Lane) {
        guard lane.line != Self.sharedLane else { return }
        self.shared.withLock { $0.free.append(lane.line) }
    }

    /// Stores the writer's unpublished floor when it takes timestamps, with a release store: the clock's
    /// update that follows makes it visible to any scan that finds the timestamps taken.
    @inline(__always)
    borrowing func hold(_ lane: inout Lane, at value: UInt64) {
        self.store(&lane, value, beforeScan: false)
    }

    /// Stores the writer's unpublished floor after it published entries, sequentially consistent: the
    /// writer then scans the other floors (``scan(clock:)``), and of two writers that do so at once, at
    /// least one sees the other's new floor.
    @inline(__always)
    borrowing func advance(_ lane: inout Lane, to value: UInt64) {
        self.store(&lane, value, beforeScan: true)
    }

    @inline(__always)
    private borrowing func store(_ lane: inout Lane, _ value: UInt64, beforeScan: Bool) {
        lane.value = value
        if lane.line == Self.sharedLane {
            self.updateShared(\.unpublished, at: Self.unpublished) { $0[lane.id] = value == Self.none ? nil : value }
        } else if beforeScan {
            self.word(lane.line).pointee.store(value, ordering: .sequentiallyConsistent)
        } else {
            self.word(lane.line).pointee.store(value, ordering: .releasing)
        }
    }

    /// Changes, with `change`, the floors of the writers that share the shared lane, and stores the lowest
    /// of them in word `word` of its line; returns what `change` returns.
    private borrowing func updateShared<Result>(
        _ floors: WritableKeyPath<Claims, [UInt64: UInt64]>,
        at word: Int,
        _ change: (inout [UInt64: UInt64]) -> Result
    ) -> Result {
        self.shared.withLock { claims in
            let result = change(&claims[keyPath: floors])
            let lowest = claims[keyPath: floors].values.min() ?? Self.none
            self.word(Self.sharedLane, word).pointee.store(lowest, ordering: .sequentiallyConsistent)
            return result
        }
    }

    // MARK: - Group commit

    /// Lowers the queued floor of `lane` to `timestamp`; called under the lane's queue lock, before the
    /// entry is published.
    @inline(__always)
    borrowing func queued(_ timestamp: UInt64, in lane: Lane) {
        guard lane.line != Self.sharedLane else {
            self.updateShared(\.queued, at: Self.queued) { $0[lane.id] = min($0[lane.id] ?? timestamp, timestamp) }
            return
        }
        let floor = self.word(lane.line, Self.queued)
        if timestamp < floor.pointee.load(ordering: .relaxed) {
            floor.pointee.store(timestamp, ordering: .sequentiallyConsistent)
        }
    }

    /// The queued floor of `lane` (for the shared lane, the lowest of its writers'), with a sequentially
    /// consistent load: see `DurabilityTracker.publishedQueued(in:next:last:)`.
    @inline(__always)
    borrowing func queuedFloor(of lane: Lane) -> UInt64 {
        self.word(lane.line, Self.queued).pointee.load(ordering: .sequentiallyConsistent)
    }

    /// Moves the queued floor of `lane` to the flushing floor when a round takes the lane's queue; called
    /// under the queue's lock. The flushing floor is lowered first, so the queued entries are always
    /// behind one of the two.
    borrowing func startFlushing(_ lane: Lane) {
        let flushing = self.word(Self.flushingFloor)
        let lower = { (queued: UInt64) in
            if queued < flushing.pointee.load(ordering: .relaxed) {
                flushing.pointee.store(queued, ordering: .sequentiallyConsistent)
            }
        }
        guard lane.line != Self.sharedLane else {
            self.updateShared(\.queued, at: Self.queued) { lower($0.removeValue(forKey: lane.id) ?? Self.none) }
            return
        }
        lower(self.word(lane.line, Self.queued).pointee.load(ordering: .relaxed))
        self.word(lane.line, Self.queued).pointee.store(Self.none, ordering: .sequentiallyConsistent)
    }

    /// Clears the flushing floor once the round's entries are durable.
    borrowing func flushed() {
        self.word(Self.flushingFloor).pointee.store(Self.none, ordering: .sequentiallyConsistent)
    }

    // MARK: - Scans

    /// The lowest unpublished floor, and the lowest of all floors, each at most `clock` (the next
    /// timestamp, loaded before the scan): every timestamp below the first is published, every timestamp
    /// below the second durable as well.
    ///
    /// Each lane's unpublished floor is read before its queued floor, and the flushing floor last: an entry
    /// is queued before it is published, and moved to the flushing floor before its queued floor lets go
    /// of it, so a scan that misses it in one place finds it in the next.
    @inline(__always)
    borrowing func scan(clock: UInt64) -> (published: UInt64, durable: UInt64) {
        var published = clock
        var queued = Self.none
        let claimed = Int(self.word(Self.claimedCount).pointee.load(ordering: .sequentiallyConsistent))
        // The shared lane sits right before the owned ones.
        for line in Self.sharedLane..<Self.firstOwnedLane + claimed {
            let unpublishedFloor = self.word(line, Self.unpublished).pointee.load(ordering: .sequentiallyConsistent)
            published = min(published, unpublishedFloor)
            queued = min(queued, self.word(line, Self.queued).pointee.load(ordering: .sequentiallyConsistent))
        }
        let flushing = self.word(Self.flushingFloor).pointee.load(ordering: .sequentiallyConsistent)
        return (published, min(published, queued, flushing))
    }
}
