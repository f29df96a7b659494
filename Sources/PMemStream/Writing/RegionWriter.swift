import Synchronization

/// Appends entries to one region; any number of tasks may append at once, and its lock orders them.
///
/// Get the writer of a region from ``PMemStream/writer(for:)``; there is one per region. Creating it
/// recovers the region for writing: the entries above its timestamp cap (written but never persisted
/// before a crash) are cut, and the cap is lifted.
///
/// - ``append(_:)-(RawSpan)`` and its siblings return once the entry is **persisted**: they write the entry,
///   flush it and drain once, and wait until every earlier timestamp is persisted too.
/// - ``appendAsync(_:)`` returns once the entry is **written** in place; a persist worker makes it durable
///   with many others in one drain (group commit). Wait with ``AppendReceipt/persisted()``.
///
/// ```swift
/// let writer = try await stream.writer(for: region)
/// let entry = try await writer.append(Array("hello".utf8))      // durable on return
/// let receipt = try await writer.appendAsync(Array("world".utf8))
/// try await receipt.persisted()
/// ```
///
/// The appends are `nonisolated`: they run where their caller runs, with no actor hop, and take turns on
/// a lock of the region rather than on the actor. Tasks appending to one region at once then wait for each
/// other by spinning briefly, where handing an actor from thread to thread costs a thread wake-up per turn.
/// An append holds the lock while it writes its entry, not while it waits for it to be persisted; a batch
/// that finds other appends to the region under way holds it only to reserve its entries and to publish them,
/// and writes them beside the others.
///
/// - Important: Entries are atomic: after a power failure an entry is there whole or not at all, and
///   every entry whose synchronous append returned, or whose receipt reported it persisted, is there. A
///   synchronous append that throws wrote nothing: once its entry is written it waits for it to be
///   persisted even if its task is cancelled, so that a caller never retries an entry that is in the stream.
public actor RegionWriter {
    // By file: `+SynchronousAppends` and `+AsynchronousAppends` hold the public appends; `+WritePath` reserves
    // room and timestamps, seals and publishes; `+DurableWrites` makes entries durable with one drain (the
    // synchronous path), and `+WritesBeside` batches beside other appends; `+Copying` copies and flushes
    // entries; `+Reservations` fills entries in place.
    //
    // Every member outside this declaration is `nonisolated`. The mutable state below is `nonisolated(unsafe)`:
    // it is read and written only while holding `appendLock`, which every entry point takes around its
    // synchronous steps and releases before it suspends.

    /// The region this writer appends to.
    public nonisolated let region: Region
    /// Held by whoever reads or writes the writer's mutable state.
    nonisolated let appendLock = AdaptiveLock()

    let state: RegionState
    let tracker: DurabilityTracker
    let groupCommit: GroupCommit
    let dataMover: any DataMover
    /// Whether ``dataMover`` is the ``SynchronousDataMover``, whose copy the writer then makes itself, with
    /// no async call and no suspension.
    let copiesInPlace: Bool
    let medium: any PersistentMedium
    /// The medium's ``PersistentMedium/baseAddress``: entries are stored through it, with plain CPU stores,
    /// and flushed and drained through ``medium``.
    nonisolated(unsafe) let base: UnsafeMutableRawPointer
    /// Whether the data of large entries is flushed as it is copied (see
    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``): not with page granularity, where every flush is an
    /// `msync`.
    let streamsLargeData: Bool
    /// Whether lone synchronous appends and batches of entries of ``nonTemporalBatchSizes`` write their
    /// entries whole with non-temporal stores (see
    /// ``writeNonTemporally(_:from:terminated:checksumWhileCopying:medium:sequence:)``):
    /// with cache-line granularity, where ordinary stores would need a flush of their lines. Not with byte
    /// granularity (eADR), where ordinary stores need none, nor with page granularity.
    let writesNonTemporally: Bool
    /// Whether the streamed lines of large entries, and the bodies of entries written whole with
    /// non-temporal stores, are checksummed as they are copied, in one pass (see
    /// ``streamedLinesChecksummedWhileCopiedFrom`` and ``bodyChecksummedWhileCopiedFrom``): where the medium
    /// is a ``Pmem2Mapping`` that allows it. Beside the other flags, in what would be padding: the
    /// fields after them keep their places.
    let checksumsWhileCopying: Bool
    /// ``nonTemporalSizes`` (or its override) where ``writesNonTemporally``, `nil` elsewhere: the lone synchronous appends
    /// written whole with non-temporal stores. Read from the writer, since every access to a static made
    /// at run time goes through `swift_once`.
    let loneNonTemporalSizes: ClosedRange<Int>?
    // The state every append reads and writes is exempt from Swift's run-time exclusivity checks: each
    // access cost a call into the runtime and a thread-local lookup, 5 – 10 % of a synchronous append. The
    // lock already rules out concurrent access, the compiler still checks overlapping accesses it can
    // see, and none of these is ever passed `inout` to code that reaches it again.

    /// Where the next entry goes.
    @exclusivity(unchecked) nonisolated(unsafe) var tail: Int
    /// Up to where the bytes beyond the tail are known to be durable as this process sees them (see
    /// ``settle(upTo:)``): the region's end for a region allocated in this session.
    @exclusivity(unchecked) nonisolated(unsafe) var settledEnd: Int
    /// Up to where the bytes beyond the tail are known to hold no header of this region, on the medium and
    /// as this process sees them (see ``scan(upTo:)``); the header at the tail holds none either. The
    /// region's end for a region allocated in this session.
    @exclusivity(unchecked) nonisolated(unsafe) var scannedEnd: Int
    /// Entries reserved but not yet published, in offset order (their timestamps increase the same way).
    @exclusivity(unchecked) nonisolated(unsafe) var inFlight: [InFlightEntry] = []
    /// How many more batches are written beside other appends (see ``writesBeside(contended:)``).
    @exclusivity(unchecked) nonisolated(unsafe) var batchesBesideLeft = 0
    /// This writer's lane among the tracker's floors: its unpublished floor holds back the watermarks over
    /// the entries the writer took timestamps for and has not published yet.
    @exclusivity(unchecked) nonisolated(unsafe) var lane: LaneFloors.Lane
    /// The writer's asynchronous entries waiting for group commit; it owns the lane.
    let queue: GroupCommit.RegionQueue
    /// The last timestamp up to which a synchronous write of this writer found every entry durable (see
    /// `DurabilityTracker.publishedDurable(in:next:last:)`, which raises the persisted watermark only for a
    /// waiter): stored under ``appendLock``, and loaded by the append that stored it, after the lock, to
    /// return at once. Only rises, as the writer's timestamps do.
    let durableThrough = Atomic<UInt64>(0)
    nonisolated(unsafe) var quiesceWaiters: [CheckedContinuation<Void, Never>] = []
    /// The explicit reservation in progress, if any: it has the region to itself until it ends.
    @exclusivity(unchecked) nonisolated(unsafe) var reservation: (id: UInt64, capacity: Int)?
    nonisolated(unsafe) var nextReservationID: UInt64 = 1
    /// The appends that wait for the region while a reservation has it, by the number each took.
    nonisolated(unsafe) var reservationWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    nonisolated(unsafe) var nextRegionWaiterID: UInt64 = 0

    /// An entry whose room and timestamp are taken; sealed once its data and header are in place.
    struct InFlightEntry {
        let offset: Int
        let size: Int
        let timestamp: UInt64
        var isSealed = false

        init(offset: Int, size: Int, timestamp: UInt64) {
            self.offset = offset
            self.size = size
            self.timestamp = timestamp
        }

        var end: Int { self.offset + EntryHeader.footprint(dataSize: self.size)! }

        /// The entry reserved right after this one, with `size` bytes of data.
        func next(size: Int) -> InFlightEntry {
            InFlightEntry(offset: self.end, size: size, timestamp: self.timestamp + 1)
        }
    }

    /// Recovers the region for writing (see `Docs/Format.md`, "Recovery").
    ///
    /// - Throws: ``PMemStreamError/Code/corruptedEntry`` when a persisted entry of the region is damaged.
    init(
        state: RegionState,
        tracker: DurabilityTracker,
        groupCommit: GroupCommit,
        dataMover: any DataMover
    ) throws(PMemStreamError) {
        self.region = state.region
        self.state = state
        self.tracker = tracker
        self.groupCommit = groupCommit
        self.dataMover = dataMover
        self.copiesInPlace = dataMover is SynchronousDataMover
        self.medium = state.medium
        self.base = state.medium.baseAddress
        self.streamsLargeData = state.medium.granularity != .page
        self.writesNonTemporally = state.medium.granularity == .cacheLine
        self.loneNonTemporalSizes =
            self.writesNonTemporally ? Self.nonTemporalSizesOverride ?? Self.nonTemporalSizes : nil
        #if os(Linux)
            self.checksumsWhileCopying = (state.medium as? Pmem2Mapping)?.copiesWhileChecksumming ?? false
        #else
            self.checksumsWhileCopying = false
        #endif
        try state.beginWrites()
        defer { state.endWrites() }
        self.tail = try Self.recover(state)
        self.settledEnd = state.isNew ? state.dataEnd : self.tail
        self.scannedEnd = self.settledEnd
        // Last: a writer whose recovery fails claims no lane.
        self.queue = GroupCommit.RegionQueue(region: state, tracker: tracker, countingChunk: groupCommit.countingChunk)
        self.lane = self.queue.lane
    }

    /// Finds the region's tail under its timestamp cap, cuts what lies beyond it, and lifts the cap.
    /// Two persist points at most: the terminator at the tail, then the cap.
    private static func recover(_ state: RegionState) throws(PMemStreamError) -> Int {
        let medium = state.medium
        var cursor = RegionCursor(state: state)
        while try cursor.next(limit: state.timestampCap) != nil {}
        let tail = cursor.position
        // The whole header, not just its timestamp: a stale header whose timestamp is handed out again
        // must not be completed by a torn write of a new one at the same place.
        let cut = tail..<min(tail + EntryHeader.size, state.dataEnd)
        if medium.bytes(cut).contains(where: { $0 != 0 }) {
            medium.fill(cut, with: 0, flags: .persist)
        }
        if state.timestampCap != ExtentHeader.noCap {
            let field = state.region.offset + ExtentHeader.Field.timestampCap
            medium.storeWord(ExtentHeader.noCap, at: field)
            medium.persist(field..<field + 8)
        }
        state.recovered(tail: tail)
        return tail
    }

    // MARK: - Space

    /// The bytes left for entries, headers included: the region's size minus the footprint of every
    /// entry in it. An entry of `n` bytes takes `24 + n` rounded up to 8.
    public var availableSize: Int {
        self.appendLock.withLock { self.spaceLeft }
    }

    /// ``availableSize``, for a caller holding ``appendLock``.
    nonisolated var spaceLeft: Int {
        self.state.dataEnd - self.tail
    }

    /// Throws ``PMemStreamError/Code/streamClosed`` once the stream is closed.
    nonisolated func checkOpen() throws(PMemStreamError) {
        guard !self.tracker.isClosed else {
            throw PMemStreamError(code: .streamClosed, message: "the stream was closed")
        }
    }

    /// Checks that `count` entries fit at the tail, together; `size` gives the data size of each, by index.
    nonisolated func checkFits(count: Int, size: (_ index: Int) -> Int) throws(PMemStreamError) {
        var total = 0
        for index in 0..<count {
            let dataSize = size(index)
            guard let footprint = EntryHeader.footprint(dataSize: dataSize) else {
                throw PMemStreamError(code: .invalidEntrySize, message: "an entry cannot have \(dataSize) bytes")
            }
            total += footprint
        }
        guard total <= self.spaceLeft else {
            let what =
                count == 1
                ? "an entry of \(size(0)) bytes does" : "\(count) entries of \(total) bytes do"
            throw PMemStreamError(
                code: .entryTooLarge,
                message: "\(what) not fit in the \(self.spaceLeft) bytes left in \(self.region)"
            )
        }
    }

    // MARK: - Closing

    /// Returns when every entry reserved so far is published (used when the stream closes, once it refuses
    /// appends); the appends that wait for a reservation to end are sent away first.
    nonisolated func quiesce() async {
        self.appendLock.withLock { self.resumeRegionWaiters() }
        while !self.appendLock.withLock({ self.inFlight.isEmpty }) {
            await withCheckedContinuation { waiter in
                let done = self.appendLock.withLock { () -> Bool in
                    guard !self.inFlight.isEmpty else { return true }
                    self.quiesceWaiters.append(waiter)
                    return false
                }
                if done {
                    waiter.resume()
                }
            }
        }
    }

    // MARK: - Isolation

    /// Runs `body` isolated to this writer. Each append it makes keeps its own promise: a synchronous
    /// ``append(_:)-(RawSpan)`` still returns once its entry is persisted.
    ///
    /// Appends are `nonisolated` and cross no actor boundary wherever they are called from, so a loop of
    /// appends is no faster in here than outside; `body` runs on the writer's executor rather than on the
    /// caller's.
    ///
    /// ```swift
    /// try await writer.withIsolation { writer in
    ///     for record in records {
    ///         _ = try await writer.append(record)      // durable on return
    ///     }
    /// }
    /// ```
    ///
    /// Other tasks' appends to the region run between `body`'s appends, as they would without it.
    ///
    /// - Parameter body: The work to do on the writer.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withIsolation<Result: Sendable, Failure: Error>(
        _ body: @Sendable (isolated RegionWriter) async throws(Failure) -> Result
    ) async throws(Failure) -> Result {
        try await body(self)
    }
}
