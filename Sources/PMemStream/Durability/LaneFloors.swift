import Synchronization

/// The floors the watermarks are computed from: for each *lane*, a timestamp at or below every timestamp
/// the lane still holds back, or ``none``; each floor alone on its cache line (see ``DurabilityTracker``).
///
/// Lanes: one per region writer for its unpublished entries (up to ``ownedCount`` writers have a floor of
/// their own; more share one, behind a lock), and two for published entries not yet durable: those queued
/// for group commit and those a round is flushing. A writer's floor is stored only by that writer, so two
/// writers never write the same line for their appends.
struct LaneFloors: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: `words` is written only through its atomics; `shared` is a lock. A value inside the
    // tracker rather than an object of its own: an object would be retained and released around its calls.

    /// A floor that holds nothing back.
    static let none = UInt64.max
    /// How many writers get a floor of their own.
    static let ownedCount = 16

    /// A writer's place among the floors.
    struct Lane {
        /// Which floor the writer stores: an owned one, or ``LaneFloors/sharedFloor``.
        let floor: Int
        /// The writer, among those that share a floor.
        let id: UInt64
        /// The floor this writer last gave, kept by the writer: ``LaneFloors/none`` when it holds nothing back.
        var value = LaneFloors.none
    }

    // The words: line 0 holds how many owned floors were ever claimed (scans read that many), then one line
    // per floor.
    private static let wordsPerLine = 64 / MemoryLayout<UInt64>.size
    private static let claimedCount = 0
    /// Published entries queued for group commit.
    static let queuedFloor = 1
    /// Published entries that a round is flushing.
    static let flushingFloor = 2
    /// The writers beyond ``ownedCount``.
    static let sharedFloor = 3
    private static let firstOwnedFloor = 4
    private static let lineCount = firstOwnedFloor + ownedCount

    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let shared = Lock(Claims())

    private struct Claims {
        /// Owned floors no writer has, lowest last.
        var free: [Int] = (0..<LaneFloors.ownedCount).reversed().map { LaneFloors.firstOwnedFloor + $0 }
        /// The floors given by the writers that share ``LaneFloors/sharedFloor``, by id.
        var sharing: [UInt64: UInt64] = [:]
        var nextID: UInt64 = 0
    }

    init() {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: Self.lineCount * 64, alignment: 64)
        self.words = memory.bindMemory(to: Atomic<UInt64>.self, capacity: Self.lineCount * Self.wordsPerLine)
        for line in 0..<Self.lineCount {
            (self.words + line * Self.wordsPerLine).initialize(to: Atomic(line == Self.claimedCount ? 0 : Self.none))
        }
    }

    deinit {
        for line in 0..<Self.lineCount {
            _ = (self.words + line * Self.wordsPerLine).move()
        }
        UnsafeMutableRawPointer(self.words).deallocate()
    }

    @inline(__always)
    private func word(_ floor: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        self.words + floor * Self.wordsPerLine
    }

    // MARK: - Lanes of writers

    /// A lane for a new writer: a floor of its own while one is free, else the shared one.
    ///
    /// The claim is stored before the writer takes its first timestamp (with a sequentially consistent
    /// store), so a scan that finds a timestamp taken sees the floor too.
    borrowing func claim() -> Lane {
        self.shared.withLock { claims in
            defer { claims.nextID += 1 }
            guard let floor = claims.free.popLast() else {
                return Lane(floor: Self.sharedFloor, id: claims.nextID)
            }
            let claimed = UInt64(floor - Self.firstOwnedFloor + 1)
            if claimed > self.word(Self.claimedCount).pointee.load(ordering: .relaxed) {
                self.word(Self.claimedCount).pointee.store(claimed, ordering: .sequentiallyConsistent)
            }
            return Lane(floor: floor, id: claims.nextID)
        }
    }

    /// Gives back the lane of a writer that holds nothing back.
    borrowing func release(_ lane: Lane) {
        precondition(lane.value == Self.none, "a lane released while it holds timestamps back")
        guard lane.floor != Self.sharedFloor else { return }
        self.shared.withLock { $0.free.append(lane.floor) }
    }

    /// Stores the writer's floor when it takes timestamps, with a release store: the clock's update that
    /// follows makes it visible to any scan that finds the timestamps taken.
    @inline(__always)
    borrowing func hold(_ lane: inout Lane, at value: UInt64) {
        self.store(&lane, value, beforeScan: false)
    }

    /// Stores the writer's floor after it published entries, sequentially consistent: the writer then scans
    /// the other floors (``scan(clock:)``), and of two writers that do so at once, at least one sees the
    /// other's new floor.
    @inline(__always)
    borrowing func advance(_ lane: inout Lane, to value: UInt64) {
        self.store(&lane, value, beforeScan: true)
    }

    @inline(__always)
    private borrowing func store(_ lane: inout Lane, _ value: UInt64, beforeScan: Bool) {
        lane.value = value
        if lane.floor == Self.sharedFloor {
            self.storeShared(lane)
        } else if beforeScan {
            self.word(lane.floor).pointee.store(value, ordering: .sequentiallyConsistent)
        } else {
            self.word(lane.floor).pointee.store(value, ordering: .releasing)
        }
    }

    /// Stores the floor of a writer that shares ``sharedFloor``: the lowest of the sharing writers' floors.
    private func storeShared(_ lane: Lane) {
        self.shared.withLock { claims in
            claims.sharing[lane.id] = lane.value == Self.none ? nil : lane.value
            let lowest = claims.sharing.values.min() ?? Self.none
            self.word(Self.sharedFloor).pointee.store(lowest, ordering: .sequentiallyConsistent)
        }
    }

    // MARK: - Lanes of group commit

    /// Lowers the floor of queued entries to `timestamp`; called under the group commit's queue lock.
    @inline(__always)
    borrowing func queued(_ timestamp: UInt64) {
        if timestamp < self.word(Self.queuedFloor).pointee.load(ordering: .relaxed) {
            self.word(Self.queuedFloor).pointee.store(timestamp, ordering: .sequentiallyConsistent)
        }
    }

    /// Moves the floor of queued entries to the flushing one when a round takes the queue; called under
    /// the group commit's queue lock. The flushing floor is stored first, so the queued entries are
    /// always behind one of them.
    borrowing func startFlushing() {
        let queued = self.word(Self.queuedFloor).pointee.load(ordering: .relaxed)
        self.word(Self.flushingFloor).pointee.store(queued, ordering: .sequentiallyConsistent)
        self.word(Self.queuedFloor).pointee.store(Self.none, ordering: .sequentiallyConsistent)
    }

    /// Clears the flushing floor once the round's entries are durable.
    borrowing func flushed() {
        self.word(Self.flushingFloor).pointee.store(Self.none, ordering: .sequentiallyConsistent)
    }

    // MARK: - Scans

    /// The lowest floor of the writers, and the lowest of all floors, each at most `clock` (the next
    /// timestamp, loaded before the scan): every timestamp below the first is published, every timestamp
    /// below the second durable as well.
    ///
    /// The writers' floors are read before the group commit's, and the queued floor before the flushing
    /// one: an entry is queued before it is published and moved to the flushing floor before the queued
    /// one lets go of it, so a scan that misses it in one place finds it in the next.
    @inline(__always)
    borrowing func scan(clock: UInt64) -> (published: UInt64, durable: UInt64) {
        var published = clock
        let claimed = Int(self.word(Self.claimedCount).pointee.load(ordering: .sequentiallyConsistent))
        for floor in Self.firstOwnedFloor..<Self.firstOwnedFloor + claimed {
            published = min(published, self.word(floor).pointee.load(ordering: .sequentiallyConsistent))
        }
        published = min(published, self.word(Self.sharedFloor).pointee.load(ordering: .sequentiallyConsistent))
        var durable = min(published, self.word(Self.queuedFloor).pointee.load(ordering: .sequentiallyConsistent))
        durable = min(durable, self.word(Self.flushingFloor).pointee.load(ordering: .sequentiallyConsistent))
        return (published, durable)
    }
}
