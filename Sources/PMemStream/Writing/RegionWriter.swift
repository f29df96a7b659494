/// Appends entries to one region; any number of tasks may append at once, and the actor orders them.
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
/// - Important: Entries are atomic: after a power failure an entry is there whole or not at all, and
///   every entry whose synchronous append returned, or whose receipt reported it persisted, is there. A
///   synchronous append that throws wrote nothing: once its entry is written it waits for it to be
///   persisted even if its task is cancelled, so that a caller never retries an entry that is in the stream.
public actor RegionWriter {
    /// The region this writer appends to.
    public nonisolated let region: Region

    let state: RegionState
    private let tracker: DurabilityTracker
    private let groupCommit: GroupCommit
    private let dataMover: any DataMover
    /// Whether ``dataMover`` is the ``SynchronousDataMover``, whose copy the writer then makes itself, with
    /// no async call and no suspension.
    private let copiesInPlace: Bool
    private let medium: any PersistentMedium
    /// The medium's ``PersistentMedium/baseAddress``: entries are stored through it, with plain CPU stores,
    /// and flushed and drained through ``medium``.
    private let base: UnsafeMutableRawPointer
    /// Whether the data of large entries is flushed as it is copied (see
    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``): not with page granularity, where every flush is an
    /// `msync`.
    private let streamsLargeData: Bool
    /// Whether lone synchronous appends and batches of entries of ``nonTemporalBatchSizes`` write their
    /// entries whole with non-temporal stores (see ``writeNonTemporally(_:from:terminated:medium:sequence:)``):
    /// with cache-line granularity, where ordinary stores would need a flush of their lines. Not with byte
    /// granularity (eADR), where ordinary stores need none, nor with page granularity.
    private let writesNonTemporally: Bool
    // The state every append reads and writes is exempt from Swift's run-time exclusivity checks: each
    // access cost a call into the runtime and a thread-local lookup, 5 – 10 % of a synchronous append. The
    // actor already rules out concurrent access, the compiler still checks overlapping accesses it can
    // see, and none of these is ever passed `inout` to code that reaches it again.

    /// Where the next entry goes.
    @exclusivity(unchecked) private var tail: Int
    /// Entries reserved but not yet published, in offset order (their timestamps increase the same way).
    @exclusivity(unchecked) private var inFlight: [InFlightEntry] = []
    private var quiesceWaiters: [CheckedContinuation<Void, Never>] = []
    /// The explicit reservation in progress, if any: it has the region to itself until it ends.
    @exclusivity(unchecked) private var reservation: (id: UInt64, capacity: Int)?
    private var nextReservationID: UInt64 = 1
    private var reservationWaiters: [CheckedContinuation<Void, Never>] = []

    /// An entry whose room and timestamp are taken; sealed once its data and header are in place.
    private struct InFlightEntry {
        let offset: Int
        let size: Int
        let timestamp: UInt64
        var isSealed = false

        init(offset: Int, size: Int, timestamp: UInt64) {
            self.offset = offset
            self.size = size
            self.timestamp = timestamp
        }

        /// The place of an entry already made; read through a pointer, with no copy of the ``Entry``.
        init(_ entry: borrowing Entry) {
            self.init(offset: entry.offset, size: entry.size, timestamp: entry.timestamp)
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
        try state.beginWrites()
        defer { state.endWrites() }
        self.tail = try Self.recover(state)
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
        self.state.dataEnd - self.tail
    }

    private func checkOpen() throws(PMemStreamError) {
        guard !self.tracker.isClosed else {
            throw PMemStreamError(code: .streamClosed, message: "the stream was closed")
        }
    }

    /// Checks that `count` entries fit at the tail, together; `size` gives the data size of each, by index.
    private func checkFits(count: Int, size: (_ index: Int) -> Int) throws(PMemStreamError) {
        var total = 0
        for index in 0..<count {
            let dataSize = size(index)
            guard let footprint = EntryHeader.footprint(dataSize: dataSize) else {
                throw PMemStreamError(code: .invalidEntrySize, message: "an entry cannot have \(dataSize) bytes")
            }
            total += footprint
        }
        guard total <= self.availableSize else {
            let what =
                count == 1
                ? "an entry of \(size(0)) bytes does" : "\(count) entries of \(total) bytes do"
            throw PMemStreamError(
                code: .entryTooLarge,
                message: "\(what) not fit in the \(self.availableSize) bytes left in \(self.region)"
            )
        }
    }

    // MARK: - The write path

    /// Takes room at the tail and a timestamp for each of `count` entries (`size` gives each one's data
    /// size, by index), all or nothing, and stores a zero word at the start of each (so none reads as an
    /// entry before it is sealed) and after the last (the terminator). The timestamps are consecutive, taken
    /// with one atomic operation; none is taken when the entries do not fit. Nothing is flushed.
    ///
    /// - Returns: Where the entries are in ``inFlight``, valid until the next publication.
    private func reserve(count: Int, size: (_ index: Int) -> Int) throws(PMemStreamError) -> Range<Int> {
        let first = self.inFlight.count
        try self.reserve(count: count, size: size) { self.inFlight.append($0) }
        return first..<self.inFlight.count
    }

    /// ``reserve(count:size:)``, handing each entry to `reserved` rather than to ``inFlight``; with `marking`
    /// false, it stores neither the zero words nor the terminator, for a caller that writes each entry's
    /// header and the terminator itself before the same drain.
    private func reserve(
        count: Int,
        size: (_ index: Int) -> Int,
        marking: Bool = true,
        reserved: (InFlightEntry) -> Void
    ) throws(PMemStreamError) {
        precondition(count > 0, "a reservation of no entry")
        try self.checkOpen()
        try self.checkFits(count: count, size: size)
        try self.state.beginWrites(count)
        self.scrubStaleHeaders(count: count, size: size)
        var entry = InFlightEntry(offset: self.tail, size: size(0), timestamp: self.tracker.takeTimestamps(count))
        for index in 0..<count {
            if index > 0 {
                entry = entry.next(size: size(index))
            }
            if marking {
                self.base.storeWord(0, at: entry.offset)
            }
            reserved(entry)
        }
        self.tail = entry.end
        self.state.recordLastTimestamp(entry.timestamp)
        if marking, self.hasTerminator(after: entry) {
            self.base.storeWord(0, at: entry.end)
        }
    }

    /// Whether the word after `entry` is in the region: its terminator, unless the entry fills the region.
    private func hasTerminator(after entry: InFlightEntry) -> Bool {
        entry.end + 8 <= self.state.dataEnd
    }

    /// Zeroes, durably, any header of this region's earlier entries still lying where the new entries
    /// will start or where their terminator will go (left there by a crash that cut the region's tail).
    ///
    /// An entry and its terminator are made durable by one drain; a crash inside it may keep the entry and
    /// lose the terminator, and the walk would then read on into such a stale header — whose timestamp
    /// the clock may hand out again. Scrubbing first closes that window. It costs a drain only when
    /// such a header is found, which happens only where entries were cut after a crash; and nothing at
    /// all in a region allocated in this session, which holds no header of an earlier session.
    private func scrubStaleHeaders(count: Int, size: (_ index: Int) -> Int) {
        guard !self.state.isNew else { return }
        var position = self.tail
        var scrubbed = false
        for index in 0..<count {
            scrubbed = self.scrubStaleHeader(at: position) || scrubbed
            position += EntryHeader.footprint(dataSize: size(index))!
        }
        scrubbed = self.scrubStaleHeader(at: position) || scrubbed
        if scrubbed {
            self.medium.drain()
        }
    }

    /// Zeroes, durably, any header of this region's earlier entries whose kind word lies in the room of
    /// `capacity` bytes about to be handed to a caller. The caller may write there and then not publish
    /// it all (abandon, publish less, or throw); the bytes it wrote, never flushed, would hide such a
    /// header from ``scrubStaleHeaders(count:size:)``, which reads what the program sees. A region allocated
    /// in this session has no such header (see ``scrubStaleHeaders(count:size:)``).
    private func scrubRoom(capacity: Int) {
        guard !self.state.isNew else { return }
        let roomStart = self.tail + EntryHeader.size
        var scrubbed = false
        var position = self.tail + 8
        while position + EntryHeader.size <= min(roomStart + capacity, self.state.dataEnd) {
            scrubbed = self.scrubStaleHeader(at: position) || scrubbed
            position += 8
        }
        if scrubbed {
            self.medium.drain()
        }
    }

    /// Zeroes and flushes the header at `position` if it carries this region's kind word.
    private func scrubStaleHeader(at position: Int) -> Bool {
        guard position + EntryHeader.size <= self.state.dataEnd,
            EntryHeader.hasKind(at: position, regionSequence: self.region.sequence, on: self.medium)
        else { return false }
        self.medium.fill(position..<position + EntryHeader.size, with: 0, flags: .noDrain)
        return true
    }

    /// Stores the header of the reserved entry at `index` in ``inFlight`` whose data is in place; the
    /// timestamp word last. No flush.
    private func seal(at index: Int, data: UnsafeRawBufferPointer) -> Entry {
        self.inFlight[index].isSealed = true
        return self.seal(self.inFlight[index], data: data)
    }

    /// Stores the header of a reserved entry whose data is in place; the timestamp word last. No flush.
    private func seal(_ entry: InFlightEntry, data: UnsafeRawBufferPointer) -> Entry {
        let checksum = EntryHeader.checksum(
            regionSequence: self.region.sequence,
            timestamp: entry.timestamp,
            data: data
        )
        Self.storeHeader(of: entry, checksum: checksum, base: self.base, sequence: self.region.sequence)
        return self.madeEntry(for: entry)
    }

    /// A new ``Entry`` value for a reserved entry: it retains the region's state.
    private func madeEntry(for entry: InFlightEntry) -> Entry {
        Entry(state: self.state, offset: entry.offset, timestamp: entry.timestamp, size: entry.size)
    }

    /// Stores the header of an entry of the region with sequence number `sequence`, on the medium at `base`;
    /// the timestamp word last. No flush.
    private nonisolated static func storeHeader(
        of entry: InFlightEntry,
        checksum: UInt32,
        base: UnsafeMutableRawPointer,
        sequence: UInt64
    ) {
        EntryHeader.store(
            at: entry.offset,
            timestamp: entry.timestamp,
            dataSize: entry.size,
            checksum: checksum,
            regionSequence: sequence,
            into: base
        )
    }

    /// Publishes the sealed entries at the front of the in-flight list: readers may see them, and the
    /// committed watermark moves over them.
    ///
    /// - Parameter durable: Entries of this region just made durable, if any: their (consecutive)
    ///   timestamps and where the last one ends. They are recorded with the same lock of the tracker, and
    ///   of the region, as the publication.
    private func publishSealedPrefix(durable: (timestamps: ClosedRange<UInt64>, end: Int)? = nil) {
        let count = self.inFlight.withUnsafeBufferPointer { inFlight in
            var count = 0
            while count < inFlight.count, inFlight[count].isSealed {
                count += 1
            }
            return count
        }
        guard count > 0 || durable != nil else { return }
        if count > 0 {
            self.state.published(upTo: self.inFlight[count - 1].end)
            // Timestamps increase along the list; most often they are consecutive too.
            let first = self.inFlight[0].timestamp
            let last = self.inFlight[count - 1].timestamp
            self.tracker.update { prefixes in
                if let durable {
                    prefixes.durable.complete(durable.timestamps)
                }
                if last - first == UInt64(count - 1) {
                    prefixes.committed.complete(first...last)
                } else {
                    for index in 0..<count {
                        prefixes.committed.complete(self.inFlight[index].timestamp)
                    }
                }
            }
            if count == self.inFlight.count {
                self.inFlight.removeAll(keepingCapacity: true)
            } else {
                self.inFlight.removeFirst(count)
            }
        } else if let durable {
            self.tracker.update { $0.durable.complete(durable.timestamps) }
        }
        if let durable {
            if self.state.endWrites(count, recordingDurable: durable.timestamps.upperBound, end: durable.end) {
                self.groupCommit.touch(self.state)
            }
        } else {
            self.state.endWrites(count)
        }
        if count > 0, self.inFlight.isEmpty, !self.quiesceWaiters.isEmpty {
            let waiters = self.quiesceWaiters
            self.quiesceWaiters.removeAll()
            for waiter in waiters {
                waiter.resume()
            }
        }
    }

    /// Writes `count` entries, makes them durable with one flush and one drain, and publishes them: the
    /// synchronous path. One persist point.
    ///
    /// - Parameters:
    ///   - count: How many entries.
    ///   - size: The data size of entry `index`.
    ///   - dataCopied: Whether `data` gives bytes to copy in (with ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``,
    ///     which flushes the data of large entries as it copies), or the bytes already in place, unflushed.
    ///   - data: Calls its last argument, which seals the entry, with the data of entry `index` (whose data
    ///     goes to `dataOffset`), and returns what it returns.
    ///   - written: Receives each entry, in order.
    /// - Returns: The last entry's timestamp.
    private func writeDurably(
        count: Int,
        size: (_ index: Int) -> Int,
        dataCopied: Bool,
        data: (_ index: Int, _ dataOffset: Int, _ seal: (UnsafeRawBufferPointer) -> Entry) -> Entry,
        written: (Entry) -> Void
    ) throws(PMemStreamError) -> UInt64 {
        let reserved = try self.reserve(count: count, size: size)
        let threshold = dataCopied ? self.streamingFrom : nil
        // The list through one access for all the entries, rather than one per entry and field (each a
        // dynamic exclusivity check); nothing below touches `inFlight` otherwise.
        self.inFlight.withUnsafeMutableBufferPointer { inFlight in
            for index in reserved {
                let entry = inFlight[index]
                let dataOffset = entry.offset + EntryHeader.size
                let sealed = data(index - reserved.lowerBound, dataOffset) { bytes in
                    guard dataCopied else { return self.seal(entry, data: bytes) }
                    // Made before the copy, as in `writeEntriesAloneDurably(_:)`; but here the caller's closures
                    // may still retain and release around each copy.
                    let made = self.madeEntry(for: entry)
                    self.copyAndSeal(entry, from: bytes, streamingFrom: threshold)
                    return made
                }
                inFlight[index].isSealed = true
                written(sealed)
            }
            self.flushSealed(count: reserved.count, streamingFrom: threshold) { inFlight[reserved.lowerBound + $0] }
        }
        self.medium.drain()
        let first = self.inFlight[reserved.lowerBound]
        let last = self.inFlight[reserved.upperBound - 1]
        self.publishSealedPrefix(durable: (first.timestamp...last.timestamp, last.end))
        return last.timestamp
    }

    /// ``writeDurably(count:size:dataCopied:data:written:)`` for one entry, copied from `buffer`.
    ///
    /// When no other entry is in flight, the entry never enters ``inFlight``: nothing can come between its
    /// reservation and its publication (there is no suspension in between), so it is published as soon as
    /// it is durable, with the same bytes made durable by the same drain, and none of the list's bookkeeping.
    /// With cache-line granularity, an entry of up to ``nonTemporalLimit`` bytes is then written whole, with its
    /// terminator, by non-temporal stores (see ``writeNonTemporally(_:from:terminated:medium:sequence:)``).
    private func writeOneDurably(copying buffer: UnsafeRawBufferPointer) throws(PMemStreamError) -> Entry {
        if self.inFlight.isEmpty {
            var reserved: InFlightEntry?
            let nonTemporal = self.writesNonTemporally && buffer.count <= Self.nonTemporalLimit
            try self.reserve(count: 1, size: { _ in buffer.count }, marking: !nonTemporal) { reserved = $0 }
            let entry = reserved!
            // Made before the copy: making it retains the region's state, and nothing between the copy and
            // the drain may retain or release (see `flushSealed(count:streamingFrom:entry:)`).
            let written = self.madeEntry(for: entry)
            if nonTemporal {
                Self.writeNonTemporally(
                    entry,
                    from: buffer,
                    terminated: self.hasTerminator(after: entry),
                    medium: self.medium,
                    sequence: self.region.sequence
                )
            } else {
                let threshold = self.streamingFrom
                self.copyAndSeal(entry, from: buffer, streamingFrom: threshold)
                self.flushSealed(count: 1, streamingFrom: threshold) { _ in entry }
            }
            self.medium.drain()
            self.publishDurableAlone(count: 1, timestamps: entry.timestamp...entry.timestamp, end: entry.end)
            return written
        }
        var entry: Entry?
        _ = try self.writeDurably(
            count: 1,
            size: { _ in buffer.count },
            dataCopied: true,
            data: { _, _, body in body(buffer) },
            written: { entry = $0 }
        )
        return entry!
    }

    /// ``writeDurably(count:size:dataCopied:data:written:)`` for a batch when no other entry is in flight: as
    /// for a lone entry (see ``writeOneDurably(copying:)``), the entries never enter ``inFlight``. With
    /// cache-line granularity, a batch whose entries all have ``nonTemporalBatchSizes`` bytes is written whole
    /// by non-temporal stores (see ``writeNonTemporally(_:into:terminated:medium:sequence:)``).
    ///
    /// Every entry is made before the first byte is copied, and nothing is retained or released between the
    /// copies and the drain: an atomic operation (a retain is one) after the non-temporal stores of a large
    /// entry's copy waits until they are written back, and the copies of the entries would not overlap.
    ///
    /// - Returns: The entries, and the last one's timestamp.
    private func writeEntriesAloneDurably(_ batch: [[UInt8]]) throws(PMemStreamError)
        -> (entries: [Entry], last: UInt64)
    {
        var reserved: InFlightEntry?
        let nonTemporal = self.writesNonTemporally && Self.allSizes(of: batch, within: Self.nonTemporalBatchSizes)
        try self.reserve(count: batch.count, size: { batch[$0].count }, marking: !nonTemporal) {
            if reserved == nil { reserved = $0 }
        }
        let first = reserved!
        let state = self.state
        var last = first
        let entries = [Entry](unsafeUninitializedCapacity: batch.count) { entries, initialized in
            for index in batch.indices {
                if index > 0 {
                    last = last.next(size: batch[index].count)
                }
                entries.initializeElement(
                    at: index,
                    to: Entry(state: state, offset: last.offset, timestamp: last.timestamp, size: last.size)
                )
            }
            initialized = batch.count
        }
        entries.withUnsafeBufferPointer { entries in
            if nonTemporal {
                Self.writeNonTemporally(
                    batch,
                    into: entries,
                    terminated: self.hasTerminator(after: last),
                    medium: self.medium,
                    sequence: self.region.sequence
                )
            } else {
                let threshold = self.streamingFrom
                Self.copyAndSeal(
                    batch,
                    into: entries,
                    streamingFrom: threshold,
                    base: self.base,
                    medium: self.medium,
                    sequence: self.region.sequence
                )
                self.flushSealed(count: entries.count, streamingFrom: threshold) { InFlightEntry(entries[$0]) }
            }
        }
        self.medium.drain()
        self.publishDurableAlone(count: batch.count, timestamps: first.timestamp...last.timestamp, end: last.end)
        return (entries, last.timestamp)
    }

    /// Calls `body` with the entry made for each element of `batch` in `entries`, its index and its data.
    /// The arrays are borrowed through spans, with no retain or release; callers are nonisolated and static,
    /// so that the loop has no isolation check.
    @inline(__always)
    private nonisolated static func forEachEntry(
        of batch: [[UInt8]],
        in entries: UnsafeBufferPointer<Entry>,
        _ body: (_ entry: InFlightEntry, _ index: Int, _ data: UnsafeRawBufferPointer) -> Void
    ) {
        let arrays = batch.span
        for index in arrays.indices {
            let entry = InFlightEntry(entries[index])
            arrays[index].span.bytes.withUnsafeBytes { body(entry, index, $0) }
        }
    }

    /// Copies each entry of `batch` into the entry made for it in `entries` (see
    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:base:medium:sequence:)``) and seals it.
    private nonisolated static func copyAndSeal(
        _ batch: [[UInt8]],
        into entries: UnsafeBufferPointer<Entry>,
        streamingFrom threshold: Int?,
        base: UnsafeMutableRawPointer,
        medium: any PersistentMedium,
        sequence: UInt64
    ) {
        Self.forEachEntry(of: batch, in: entries) { entry, _, data in
            _ = Self.copyAndSeal(
                entry,
                from: data,
                streamingFrom: threshold,
                base: base,
                medium: medium,
                sequence: sequence
            )
        }
    }

    /// Writes each entry of `batch` whole into the entry made for it in `entries` with
    /// ``writeNonTemporally(_:from:terminated:medium:sequence:)``, and the terminator after the last when
    /// `terminated`.
    private nonisolated static func writeNonTemporally(
        _ batch: [[UInt8]],
        into entries: UnsafeBufferPointer<Entry>,
        terminated: Bool,
        medium: any PersistentMedium,
        sequence: UInt64
    ) {
        Self.forEachEntry(of: batch, in: entries) { entry, index, data in
            Self.writeNonTemporally(
                entry,
                from: data,
                terminated: terminated && index == batch.count - 1,
                medium: medium,
                sequence: sequence
            )
        }
    }

    /// Whether the size of every entry of `batch` lies in `sizes`.
    private nonisolated static func allSizes(of batch: [[UInt8]], within sizes: ClosedRange<Int>) -> Bool {
        let arrays = batch.span
        for index in arrays.indices where !sizes.contains(arrays[index].count) {
            return false
        }
        return true
    }

    /// Publishes `count` entries that never entered ``inFlight``, just made durable: they have `timestamps`,
    /// and the last ends at `end`.
    private func publishDurableAlone(count: Int, timestamps: ClosedRange<UInt64>, end: Int) {
        self.state.published(upTo: end)
        self.tracker.update { prefixes in
            prefixes.durable.complete(timestamps)
            prefixes.committed.complete(timestamps)
        }
        if self.state.endWrites(count, recordingDurable: timestamps.upperBound, end: end) {
            self.groupCommit.touch(self.state)
        }
    }

    /// ``writeDurably(count:size:dataCopied:data:written:)`` for one entry of `size` bytes whose data is in
    /// place at the tail already (a reservation's).
    private func writeOneDurably(inPlace size: Int) throws(PMemStreamError) -> Entry {
        var entry: Entry?
        _ = try self.writeDurably(
            count: 1,
            size: { _ in size },
            dataCopied: false,
            data: { _, offset, body in body(self.medium.bytes(offset..<offset + size)) },
            written: { entry = $0 }
        )
        return entry!
    }

    // MARK: - Flushing

    /// Entries of this many bytes or more have their data flushed as it is copied: libpmem2 copies them
    /// with non-temporal stores, which need no flush afterwards. Measured with cache-line flushes on
    /// `/dev/shm`: a synchronous append of 4 KiB took 1 000 ns with ordinary stores and a flush of every
    /// line after the seal, 830 ns so; 16 KiB 2 900 and 1 600 ns. Batches and asynchronous appends of
    /// 1 – 1.5 KiB are 15 – 45 % slower streamed, so they stream from here.
    private static let streamingThreshold = 2048

    /// The size from which this writer streams entries (see ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``):
    /// ``streamingThreshold``, or `nil` when it streams none, with page granularity, where every flush is an
    /// `msync`. A write takes it once, for its copies and its flushes alike.
    private var streamingFrom: Int? {
        self.streamsLargeData ? Self.streamingThreshold : nil
    }

    /// The part of a large entry's data that ``copyAndSeal(_:from:streamingFrom:piecesAbove:)`` writes back as
    /// it copies it (the *streamed lines*): the whole cache lines after those the header touches and before
    /// the one the data ends in. An entry whose data is smaller than `threshold` has none.
    private static func streamedLines(
        entryOffset offset: Int,
        dataSize: Int,
        threshold: Int
    ) -> Range<Int>? {
        guard dataSize >= threshold else { return nil }
        let start = (offset + EntryHeader.size + 63) & ~63
        let end = (offset + EntryHeader.size + dataSize) & ~63
        return start..<max(start, end)
    }

    /// Copies a reserved entry's data from `buffer` and seals the entry (see ``seal(_:data:)``).
    ///
    /// A large entry's streamed lines (see ``streamedLines(entryOffset:dataSize:threshold:)``) are copied
    /// with a flush and no drain (non-temporal stores). The bytes before them share a cache line with the
    /// header, and the bytes after them share one with the entry's padding and terminator: both are copied
    /// without a flush, and each of those lines is flushed once, after the seal, so that no line is stored
    /// into or flushed again while it is being written back (a second flush of the line the data ends in cost
    /// about 100 ns at 4 KiB). Small entries are copied without a flush.
    /// ``flushSealed(count:streamingFrom:entry:)`` flushes the rest, given the same `threshold`; the one drain
    /// after it makes all of it durable, as when everything was flushed after the seal.
    ///
    /// - Parameter threshold: The size from which an entry is streamed (from ``streamingFrom``, and
    ///   the same for the flushes of the same write); `nil` to stream nothing.
    /// - Returns: The streamed lines, if any.
    @discardableResult
    private func copyAndSeal(
        _ entry: InFlightEntry,
        from buffer: UnsafeRawBufferPointer,
        streamingFrom threshold: Int?,
        piecesAbove pieceLimit: Int = RegionWriter.checksummedPiece
    ) -> Range<Int>? {
        Self.copyAndSeal(
            entry,
            from: buffer,
            streamingFrom: threshold,
            piecesAbove: pieceLimit,
            base: self.base,
            medium: self.medium,
            sequence: self.region.sequence
        )
    }

    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:)`` into `medium`, whose base address is `base`, for an entry of
    /// the region with sequence number `sequence`; with a `nil` threshold, nothing is streamed.
    ///
    /// The checksum is computed after the copy, from the caller's bytes, which the copy has just read into
    /// the cache; except for streamed lines longer than `pieceLimit`, which are checksummed and copied
    /// ``checksummedPiece`` bytes at a time, so that the checksum of one piece overlaps the write-back of
    /// the one before.
    @discardableResult
    private nonisolated static func copyAndSeal(
        _ entry: InFlightEntry,
        from buffer: UnsafeRawBufferPointer,
        streamingFrom threshold: Int?,
        piecesAbove pieceLimit: Int = RegionWriter.checksummedPiece,
        base: UnsafeMutableRawPointer,
        medium: any PersistentMedium,
        sequence: UInt64
    ) -> Range<Int>? {
        assert(buffer.count == entry.size, "the bytes of another entry")
        let dataOffset = entry.offset + EntryHeader.size
        guard let threshold,
            let lines = Self.streamedLines(entryOffset: entry.offset, dataSize: buffer.count, threshold: threshold)
        else {
            Self.copyWithoutFlush(buffer, toOffset: dataOffset, base: base, medium: medium)
            let checksum = EntryHeader.checksum(regionSequence: sequence, timestamp: entry.timestamp, data: buffer)
            Self.storeHeader(of: entry, checksum: checksum, base: base, sequence: sequence)
            return nil
        }
        let (head, tail) = (lines.lowerBound - dataOffset, lines.upperBound - dataOffset)
        let start = UnsafeRawBufferPointer(rebasing: buffer[..<head])
        let end = UnsafeRawBufferPointer(rebasing: buffer[tail...])
        medium.copy(toOffset: dataOffset, from: start, flags: .noFlush)
        let checksum: UInt32
        if tail - head <= pieceLimit {
            medium.copy(
                toOffset: dataOffset + head,
                from: UnsafeRawBufferPointer(rebasing: buffer[head..<tail]),
                flags: .noDrain
            )
            medium.copy(toOffset: dataOffset + tail, from: end, flags: .noFlush)
            checksum = EntryHeader.checksum(regionSequence: sequence, timestamp: entry.timestamp, data: buffer)
        } else {
            var partial = EntryHeader.checksum(
                regionSequence: sequence,
                timestamp: entry.timestamp,
                dataSize: buffer.count,
                dataStart: start
            )
            for pieceStart in stride(from: head, to: tail, by: Self.checksummedPiece) {
                let piece = UnsafeRawBufferPointer(
                    rebasing: buffer[pieceStart..<min(pieceStart + Self.checksummedPiece, tail)]
                )
                partial = CRC32C.checksum(piece, continuing: partial)
                medium.copy(toOffset: dataOffset + pieceStart, from: piece, flags: .noDrain)
            }
            medium.copy(toOffset: dataOffset + tail, from: end, flags: .noFlush)
            checksum = CRC32C.checksum(end, continuing: partial)
        }
        Self.storeHeader(of: entry, checksum: checksum, base: base, sequence: sequence)
        return lines
    }

    /// Writes a reserved entry whole, with `buffer` as its data, and its terminator when `terminated`, with
    /// copies of whole words that ask for ``MemoryCopyFlags/nonTemporal`` stores and no drain, in address
    /// order: the header, the data's whole words, then the word the data ends in (padded with zeros) and the
    /// terminator. A drain makes all of it durable at once; recovery needs no order among them, since an
    /// entry whose header or data did not reach the medium fails its checksum (`Docs/Format.md`,
    /// "Appending").
    ///
    /// A ``Pmem2Mapping`` on persistent memory writes such copies with non-temporal stores alone, so the
    /// drain waits for no flush of a cached line. In address order, the CPU's write-combining buffers send
    /// each line whole; and nothing else may store into the entry's lines first, or the non-temporal stores
    /// wait for those lines to be written back (the reservation stores no zero word here, see
    /// ``reserve(count:size:marking:reserved:)``). For entries up to ``nonTemporalLimit`` bytes.
    private nonisolated static func writeNonTemporally(
        _ entry: InFlightEntry,
        from buffer: UnsafeRawBufferPointer,
        terminated: Bool,
        medium: any PersistentMedium,
        sequence: UInt64
    ) {
        assert(buffer.count == entry.size, "the bytes of another entry")
        let flags: MemoryCopyFlags = [.nonTemporal, .noDrain]
        var header = EntryHeader.words(
            timestamp: entry.timestamp,
            dataSize: entry.size,
            checksum: EntryHeader.checksum(regionSequence: sequence, timestamp: entry.timestamp, data: buffer),
            regionSequence: sequence
        )
        withUnsafeBytes(of: &header) { medium.copy(toOffset: entry.offset, from: $0, flags: flags) }
        let dataOffset = entry.offset + EntryHeader.size
        let wholeWords = buffer.count & ~7
        if wholeWords > 0 {
            medium.copy(
                toOffset: dataOffset,
                from: UnsafeRawBufferPointer(rebasing: buffer[..<wholeWords]),
                flags: flags
            )
        }
        // The last, partial word of the data, if any, and then the terminator, if any: whichever comes first
        // goes where the whole words end.
        var ending: (partialWord: UInt64, terminator: UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &ending) {
            $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[wholeWords...]))
        }
        let endingWords = (buffer.count > wholeWords ? 0 : 8)..<(terminated ? 16 : 8)
        if !endingWords.isEmpty {
            withUnsafeBytes(of: &ending) { ending in
                let bytes = UnsafeRawBufferPointer(rebasing: ending[endingWords])
                medium.copy(toOffset: dataOffset + wholeWords, from: bytes, flags: flags)
            }
        }
    }

    /// The largest entry a lone synchronous append writes with ``writeNonTemporally(_:from:terminated:medium:sequence:)``;
    /// larger ones are copied with ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``, which checksums a
    /// piece while the one before is written back. Measured with cache-line flushes on `/dev/shm`, ns per
    /// synchronous append, non-temporal against copied: 8 B 266 – 273 against 301 – 302, 64 B 276 – 281
    /// against 299 – 303, 1 KiB 339 – 343 against 374 – 401, 4 KiB 502 – 505 against 565 – 575; but 8 KiB
    /// 750 against 690, 16 KiB 1 149 – 1 182 against 1 052 – 1 073.
    private static let nonTemporalLimit = 4096

    /// A batch written by a synchronous append with nothing else of its region in flight is written with
    /// ``writeNonTemporally(_:into:terminated:medium:sequence:)`` when the size of every entry lies in this
    /// range; otherwise it is copied and flushed. Measured as above, ns per entry in batches of 64,
    /// non-temporal against copied: 512 B 78 – 98 against 96 – 103, 1 KiB 108 – 111 against 150 – 155,
    /// 2 KiB 143 – 149 against 154 – 158; no different at 256 B and 4 KiB; but 64 B 32 – 36 against 30 – 34
    /// (three calls into the medium per entry cost more than the flushes they save), 16 KiB 850 – 898 against
    /// 756 – 812.
    private static let nonTemporalBatchSizes = 512...4096

    /// The piece of streamed lines that ``copyAndSeal(_:from:streamingFrom:piecesAbove:base:medium:sequence:)``
    /// checksums and then copies, when there are more. Measured in batches of 64 with cache-line flushes on
    /// `/dev/shm`: 64 KiB entries took 2.7 – 2.9 µs so against 3.6 – 3.8 with the checksum after the whole
    /// copy, 16 KiB entries 700 – 740 ns against 780 – 840; pieces of 1 or 2 KiB were slower, and so was
    /// checksumming entries of 2 and 4 KiB before copying them.
    private static let checksummedPiece = 4096

    /// The streamed lines above which an asynchronous append checksums and copies its data in pieces. No
    /// drain follows its copy, only the group-commit queue's lock, which waits for the copy's last stores;
    /// checksummed after the whole copy, the data overlaps that wait. Measured as above, in pieces against
    /// after the copy: 8 KiB 667 – 682 ns against 602 – 605, 16 KiB 1 014 – 1 058 against 950 – 964,
    /// 32 KiB 1 654 – 1 740 against 1 802 – 1 827, 64 KiB 3.1 – 3.2 µs against 3.7 – 3.8.
    private static let asynchronousPieceLimit = 16 * 1024

    /// Entries shorter than this are copied with a plain `memmove` rather than through the medium's copy.
    /// Measured with cache-line flushes on `/dev/shm`, a synchronous append of 64 bytes took 6–10 ns less
    /// so, and one of 1 KiB 20 ns more (libpmem2 copies with wide stores).
    private static let plainCopyLimit = 256

    /// Copies `buffer` to `offset` in the medium at `base` without a flush: what the medium's copy with
    /// ``MemoryCopyFlags/noFlush`` does, with plain stores for short buffers.
    @inline(__always)
    private nonisolated static func copyWithoutFlush(
        _ buffer: UnsafeRawBufferPointer,
        toOffset offset: Int,
        base: UnsafeMutableRawPointer,
        medium: any PersistentMedium
    ) {
        guard buffer.count < Self.plainCopyLimit else {
            medium.copy(toOffset: offset, from: buffer, flags: .noFlush)
            return
        }
        if let source = buffer.baseAddress {
            (base + offset).copyMemory(from: source, byteCount: buffer.count)
        }
    }

    /// Flushes `count` sealed, consecutive entries (`entry` gives each, by index) and the word after the
    /// last (its terminator), except the streamed lines that ``copyAndSeal(_:from:streamingFrom:piecesAbove:)`` flushed
    /// already: one call for the whole range when it flushed none, the usual case, and one per range around
    /// them otherwise.
    private func flushSealed(count: Int, streamingFrom threshold: Int?, entry: (_ index: Int) -> InFlightEntry) {
        let end = min(entry(count - 1).end + 8, self.state.dataEnd)
        var start = entry(0).offset
        guard let threshold, (0..<count).contains(where: { entry($0).size >= threshold }) else {
            self.medium.flush(start..<end)
            return
        }
        // A call per range, and nothing retained or released in between: an atomic operation after the
        // copy's non-temporal stores would wait for them before the flushes below are even issued.
        for index in 0..<count {
            guard
                let lines = Self.streamedLines(
                    entryOffset: entry(index).offset,
                    dataSize: entry(index).size,
                    threshold: threshold
                )
            else { continue }
            self.medium.flush(start..<lines.lowerBound)
            start = lines.upperBound
        }
        if start < end {
            self.medium.flush(start..<end)
        }
    }

    // MARK: - Synchronous appends

    /// Appends one entry and returns once it is persisted.
    ///
    /// The bytes are copied straight from the caller's storage into the medium. To append from an
    /// `UnsafeRawBufferPointer`, pass `RawSpan(_unsafeBytes: pointer)`.
    ///
    /// - Parameter bytes: The entry's data, borrowed for the call; zero bytes make a legal, empty entry.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: ``PMemStreamError/Code/entryTooLarge`` (no timestamp is consumed),
    ///   ``PMemStreamError/Code/regionFreed``, ``PMemStreamError/Code/streamClosed``.
    public func append(_ bytes: RawSpan) async throws(PMemStreamError) -> Entry {
        if self.reservation != nil {
            await self.waitForRegion()
        }
        let entry = try bytes.withUnsafeBytes { (buffer) throws(PMemStreamError) in
            try self.writeOneDurably(copying: buffer)
        }
        try await self.groupCommit.waitPersisted(written: entry.timestamp)
        return entry
    }

    /// Appends one entry and returns once it is persisted.
    ///
    /// - Parameter bytes: The entry's data.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: As ``append(_:)-(RawSpan)``.
    public func append(_ bytes: [UInt8]) async throws(PMemStreamError) -> Entry {
        // The body of `append(_: RawSpan)` again rather than a call to it: one async frame less per append.
        if self.reservation != nil {
            await self.waitForRegion()
        }
        let entry = try bytes.span.bytes.withUnsafeBytes { (buffer) throws(PMemStreamError) in
            try self.writeOneDurably(copying: buffer)
        }
        try await self.groupCommit.waitPersisted(written: entry.timestamp)
        return entry
    }

    /// Appends one entry from any collection of bytes and returns once it is persisted; contiguous
    /// collections are copied straight into the medium.
    ///
    /// - Parameter bytes: The entry's data.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: As ``append(_:)-(RawSpan)``.
    public func append(_ bytes: some Collection<UInt8> & Sendable) async throws(PMemStreamError) -> Entry {
        if self.reservation != nil {
            await self.waitForRegion()
        }
        let written = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(PMemStreamError) -> Entry in
                try self.writeOneDurably(copying: UnsafeRawBufferPointer(buffer))
            }
        }
        guard let written else {
            return try await self.append(Array(bytes))
        }
        let entry = try written.get()
        try await self.groupCommit.waitPersisted(written: entry.timestamp)
        return entry
    }

    /// Appends several entries with one actor hop and one drain, and returns once all are persisted.
    ///
    /// Each entry is atomic on its own; the batch is written only if all of it fits.
    /// - Parameter batch: The entries' data, in order; their timestamps increase in this order.
    /// - Returns: The entries.
    /// - Throws: As ``append(_:)-(RawSpan)``; nothing is written when the batch does not fit.
    public func append(contentsOf batch: [[UInt8]]) async throws(PMemStreamError) -> [Entry] {
        guard !batch.isEmpty else { return [] }
        if self.reservation != nil {
            await self.waitForRegion()
        }
        if self.inFlight.isEmpty {
            let (entries, last) = try self.writeEntriesAloneDurably(batch)
            try await self.groupCommit.waitPersisted(written: last)
            return entries
        }
        var entries: [Entry] = []
        entries.reserveCapacity(batch.count)
        let last = try self.writeDurably(
            count: batch.count,
            size: { batch[$0].count },
            dataCopied: true,
            data: { index, _, body in batch[index].withUnsafeBytes { body($0) } },
            written: { entries.append($0) }
        )
        try await self.groupCommit.waitPersisted(written: last)
        return entries
    }

    /// Reserves room for an entry, lets `fill` write it in place, and publishes what it wrote.
    ///
    /// `fill` receives an `OutputRawSpan` over up to `capacity` bytes of the medium; the entry is the bytes
    /// it appends, and the rest of the room returns to the region. If `fill` throws, nothing is published
    /// and no timestamp is consumed.
    ///
    /// - Parameters:
    ///   - capacity: The most bytes `fill` may write.
    ///   - fill: Writes the entry's data.
    /// - Returns: The entry, once persisted.
    /// - Throws: ``PMemStreamError`` as ``append(_:)-(RawSpan)``, or `fill`'s error.
    public func append<E: Error>(
        reserving capacity: Int,
        _ fill: (inout OutputRawSpan) throws(E) -> Void
    ) async throws -> Entry {
        await self.waitForRegion()
        try self.checkOpen()
        try self.checkFits(count: 1) { _ in capacity }
        try self.state.beginWrites()
        defer { self.state.endWrites() }
        self.scrubRoom(capacity: capacity)
        let room = UnsafeMutableRawBufferPointer(
            start: self.medium.baseAddress + self.tail + EntryHeader.size,
            count: capacity
        )
        var output = OutputRawSpan(buffer: room, initializedCount: 0)
        try fill(&output)
        let written = output.finalize(for: room)
        let entry = try self.writeOneDurably(inPlace: written)
        try await self.groupCommit.waitPersisted(written: entry.timestamp)
        return entry
    }

    // MARK: - Asynchronous appends

    /// Appends one entry and returns once it is written in place, without waiting for it to be durable.
    ///
    /// The data goes through the stream's ``DataMover``; a persist worker then flushes it together with
    /// every other entry written since its last round, and drains once (group commit). When the group
    /// commit has ``PMemStream/Configuration/maxQueuedAppends`` entries waiting, this waits for room first
    /// (back-pressure): it never fails for being too many.
    ///
    /// - Parameter bytes: The entry's data.
    /// - Returns: A receipt: the entry, and waits for its commit and persistence.
    /// - Throws: ``PMemStreamError/Code/entryTooLarge`` (no timestamp is consumed),
    ///   ``PMemStreamError/Code/regionFreed``, ``PMemStreamError/Code/streamClosed``.
    public func appendAsync(_ bytes: [UInt8]) async throws(PMemStreamError) -> AppendReceipt {
        // Room in the queue first, then the region: nothing may suspend between waiting for the region
        // (no explicit reservation holds it) and reserving.
        if self.groupCommit.isFull {
            await self.groupCommit.waitForRoom()
        }
        if self.reservation != nil {
            await self.waitForRegion()
        }
        if self.copiesInPlace, self.inFlight.isEmpty {
            return try bytes.span.bytes.withUnsafeBytes { (buffer) throws(PMemStreamError) in
                try self.appendAloneForGroupCommit(copying: buffer)
            }
        }
        let index = try self.reserve(count: 1) { _ in bytes.count }.lowerBound
        let reserved = self.inFlight[index]
        let dataOffset = reserved.offset + EntryHeader.size
        if self.copiesInPlace {
            bytes.withUnsafeBytes { self.medium.copy(toOffset: dataOffset, from: $0, flags: .noFlush) }
            return self.sealForGroupCommit(at: index)
        }
        await self.dataMover.copy(bytes, toOffset: dataOffset, of: self.medium)
        // Other appends may have been reserved, sealed and published while the copy ran: find it again.
        return self.sealForGroupCommit(at: self.inFlight.firstIndex { $0.offset == reserved.offset }!)
    }

    /// An asynchronous append through the ``SynchronousDataMover`` when no other entry is in flight: as
    /// for a lone synchronous append, the entry never enters ``inFlight`` (nothing can come between its
    /// reservation and its publication), and it is reserved, copied, sealed, queued and then published as
    /// through the list. A large entry's data is flushed as it is copied (see
    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``), and the round flushes the rest.
    private func appendAloneForGroupCommit(copying buffer: UnsafeRawBufferPointer) throws(PMemStreamError)
        -> AppendReceipt
    {
        var reserved: InFlightEntry?
        try self.reserve(count: 1, size: { _ in buffer.count }) { reserved = $0 }
        let entry = reserved!
        let written = self.madeEntry(for: entry)
        let streamedLines = self.copyAndSeal(
            entry,
            from: buffer,
            streamingFrom: self.streamingFrom,
            piecesAbove: Self.asynchronousPieceLimit
        )
        self.groupCommit.enqueue(
            GroupCommit.Queued(
                timestamp: entry.timestamp,
                start: entry.offset,
                end: entry.end,
                region: self.state,
                streamedLines: streamedLines
            ),
            of: self.state
        )
        self.state.published(upTo: entry.end)
        self.tracker.update { $0.committed.complete(entry.timestamp) }
        self.state.endWrites(1)
        return AppendReceipt(entry: written, groupCommit: self.groupCommit)
    }

    /// Seals the reserved entry at `index` in ``inFlight``, whose data is in place, queues it for group
    /// commit and publishes what can be: the end of every asynchronous append.
    private func sealForGroupCommit(at index: Int) -> AppendReceipt {
        let reserved = self.inFlight[index]
        let dataOffset = reserved.offset + EntryHeader.size
        let entry = self.seal(at: index, data: self.medium.bytes(dataOffset..<dataOffset + reserved.size))
        self.groupCommit.enqueue(
            GroupCommit.Queued(
                timestamp: reserved.timestamp,
                start: reserved.offset,
                end: reserved.end,
                region: self.state
            ),
            of: self.state
        )
        self.publishSealedPrefix()
        return AppendReceipt(entry: entry, groupCommit: self.groupCommit)
    }

    /// Returns when every entry reserved so far is published (used when the stream closes).
    func quiesce() async {
        while !self.inFlight.isEmpty {
            await withCheckedContinuation { self.quiesceWaiters.append($0) }
        }
    }

    // MARK: - Isolation

    /// Runs `body` isolated to this writer: the appends it makes cross no actor boundary, so a loop of `n`
    /// appends costs one hop rather than `n`. Each append keeps its own promise: a synchronous
    /// ``append(_:)-(RawSpan)`` still returns once its entry is persisted.
    ///
    /// ```swift
    /// try await writer.withIsolation { writer in
    ///     for record in records {
    ///         _ = try await writer.append(record)      // durable on return, no hop
    ///     }
    /// }
    /// ```
    ///
    /// Other tasks' appends to the region run whenever `body` suspends (an append that waits for an earlier
    /// timestamp to persist, or for a reservation), as between any two calls into the actor.
    ///
    /// - Parameter body: The work to do on the writer.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withIsolation<Result: Sendable, Failure: Error>(
        _ body: @Sendable (isolated RegionWriter) async throws(Failure) -> Result
    ) async throws(Failure) -> Result {
        try await body(self)
    }

    // MARK: - Explicit reservations

    /// Reserves room for an entry of up to `capacity` bytes, to be filled in place and published later.
    ///
    /// The reservation has the region to itself until it is published or abandoned: other appends to the
    /// region wait, and the region cannot be freed. So fill it promptly, and never wait for another append
    /// to this region while holding it. A reservation that is dropped without being published is abandoned:
    /// its room returns to the region, no timestamp is consumed, and no later entry is affected.
    ///
    /// - Parameter capacity: The most bytes the entry may have.
    /// - Returns: The reservation.
    /// - Throws: ``PMemStreamError/Code/entryTooLarge`` when it does not fit; ``PMemStreamError/Code/streamClosed``.
    public func reserve(_ capacity: Int) async throws(PMemStreamError) -> Reservation {
        await self.waitForRegion()
        try self.checkOpen()
        try self.checkFits(count: 1) { _ in capacity }
        try self.state.beginWrites()
        self.scrubRoom(capacity: capacity)
        let id = self.nextReservationID
        self.nextReservationID += 1
        self.reservation = (id, capacity)
        let room = UnsafeMutableRawBufferPointer(
            start: self.medium.baseAddress + self.tail + EntryHeader.size,
            count: capacity
        )
        return Reservation(writer: self, id: id, room: room)
    }

    /// Publishes the reservation `id` with `size` bytes of data and returns once the entry is persisted.
    func publishReservation(_ id: UInt64, size: Int) async throws(PMemStreamError) -> Entry {
        try self.endReservation(id, publishing: size)
        defer { self.state.endWrites() }
        let entry = try self.writeOneDurably(inPlace: size)
        try await self.groupCommit.waitPersisted(written: entry.timestamp)
        return entry
    }

    /// Publishes the reservation `id` with `size` bytes of data for group commit, and returns at once.
    func publishReservationAsync(_ id: UInt64, size: Int) throws(PMemStreamError) -> AppendReceipt {
        try self.endReservation(id, publishing: size)
        defer { self.state.endWrites() }
        return self.sealForGroupCommit(at: try self.reserve(count: 1) { _ in size }.lowerBound)
    }

    /// Ends the reservation `id` so that `size` bytes of it can be published. Its write stays registered
    /// with the region (so the region cannot be freed before the entry is reserved); the caller ends it.
    ///
    /// - Throws: ``PMemStreamError/Code/invalidEntrySize`` when `size` does not fit the reservation, which
    ///   is then abandoned.
    private func endReservation(_ id: UInt64, publishing size: Int) throws(PMemStreamError) {
        guard let reservation = self.reservation, reservation.id == id else {
            throw PMemStreamError(code: .invalidArgument, message: "the reservation has already ended")
        }
        self.releaseRegion()
        guard size >= 0, size <= reservation.capacity else {
            self.state.endWrites()
            throw PMemStreamError(
                code: .invalidEntrySize,
                message: "a reservation of \(reservation.capacity) bytes cannot publish \(size) bytes; it was abandoned"
            )
        }
    }

    /// Ends the reservation `id` without publishing it.
    func endReservation(_ id: UInt64) {
        guard self.reservation?.id == id else { return }
        self.releaseRegion()
        self.state.endWrites()
    }

    /// Lets the appends that wait for the region go on.
    private func releaseRegion() {
        self.reservation = nil
        let waiters = self.reservationWaiters
        self.reservationWaiters.removeAll()
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Waits while an explicit reservation has the region. The appends check ``reservation`` before they
    /// call it, which spares them an async call when no reservation has the region (nearly always).
    private func waitForRegion() async {
        while self.reservation != nil {
            await withCheckedContinuation { self.reservationWaiters.append($0) }
        }
    }
}
