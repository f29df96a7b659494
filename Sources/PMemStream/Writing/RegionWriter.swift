/// Appends entries to one region; any number of tasks may append at once, and the actor orders them.
///
/// Get the writer of a region from ``PMemStream/writer(for:)``; there is one per region. Creating it
/// recovers the region for writing: the entries above its timestamp cap (written but never persisted
/// before a crash) are cut, and the cap is lifted.
///
/// Every append reserves space at the region's tail, takes the next stream-wide timestamp, writes the
/// entry (data, then header with its CRC32C, then a terminator after it) and makes it durable, and
/// returns once the entry is persisted: durable, and covered by the stream's persisted watermark.
///
/// ```swift
/// let writer = try await stream.writer(for: region)
/// let entry = try await writer.append(Array("hello".utf8))
/// print(entry.timestamp)
/// ```
///
/// - Important: Entries are atomic: after a power failure an entry is there whole or not at all, and
///   every entry whose append returned is there.
public actor RegionWriter {
    /// The region this writer appends to.
    public nonisolated let region: Region

    let state: RegionState
    private let tracker: DurabilityTracker
    private let medium: any PersistentMedium
    /// Where the next entry goes.
    private var tail: Int
    /// The explicit reservation in progress, if any: it has the region to itself until it ends.
    private var reservation: (id: UInt64, capacity: Int)?
    private var nextReservationID: UInt64 = 1
    private var reservationWaiters: [CheckedContinuation<Void, Never>] = []

    /// Recovers the region for writing (see `Docs/Format.md`, "Recovery").
    ///
    /// - Throws: ``PMemStreamError/Code/corruptedEntry`` when a persisted entry of the region is damaged.
    init(state: RegionState, tracker: DurabilityTracker) throws(PMemStreamError) {
        self.region = state.region
        self.state = state
        self.tracker = tracker
        self.medium = state.medium
        self.tail = try state.withWriteAccess { () throws(PMemStreamError) -> Int in
            try Self.recover(state)
        }
    }

    /// Finds the region's tail under its timestamp cap, cuts what lies beyond it, and lifts the cap.
    /// Two persist points at most: the terminator at the tail, then the cap.
    private static func recover(_ state: RegionState) throws(PMemStreamError) -> Int {
        let medium = state.medium
        var cursor = RegionCursor(state: state)
        while try cursor.next(limit: state.timestampCap) != nil {}
        let tail = cursor.position
        if tail + 8 <= state.dataEnd, medium.loadWord(at: tail) != 0 {
            medium.storeWord(0, at: tail)
            medium.persist(tail..<tail + 8)
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
    /// entry in it and of a reservation in progress. An entry of `n` bytes takes `24 + n` rounded up to 8.
    public var availableSize: Int {
        self.state.dataEnd - self.tail
    }

    /// The footprint of an entry of `dataSize` bytes, if it fits at the tail.
    private func footprintIfFits(_ dataSize: Int) throws(PMemStreamError) -> Int {
        guard let footprint = EntryHeader.footprint(dataSize: dataSize), footprint <= self.availableSize else {
            throw PMemStreamError(
                code: dataSize < 0 ? .invalidEntrySize : .entryTooLarge,
                message:
                    "an entry of \(dataSize) bytes does not fit in the \(self.availableSize) bytes left in \(self.region)"
            )
        }
        return footprint
    }

    // MARK: - Writing

    /// Writes the header of an entry whose data is in place, and the terminator after it, then flushes
    /// the entry and the terminator with one call. No drain.
    private func seal(at offset: Int, dataSize: Int, timestamp: UInt64, checksum: UInt32) -> Int {
        let footprint = EntryHeader.footprint(dataSize: dataSize)!
        let end = offset + footprint
        // The terminator: stored before the entry is published, so a reader never runs past it.
        let flushEnd = end + 8 <= self.state.dataEnd ? end + 8 : end
        if flushEnd > end {
            self.medium.storeWord(0, at: end)
        }
        EntryHeader.store(at: offset, timestamp: timestamp, dataSize: dataSize, checksum: checksum, on: self.medium)
        self.medium.flush(offset..<flushEnd)
        return end
    }

    /// Writes entries back to back at the tail and makes them durable with one drain. Nothing is written
    /// unless all of them fit, and no timestamp is taken for a batch that does not fit.
    ///
    /// - Parameters:
    ///   - sizes: The data size of each entry.
    ///   - copy: Copies entry `index`'s data to the given offset and returns its data for the checksum.
    /// - Returns: The entries, in order, durable but not yet published.
    private func writeDurably(
        sizes: [Int],
        copy: (_ index: Int, _ offset: Int) -> UnsafeRawBufferPointer
    ) throws(PMemStreamError) -> [Entry] {
        try self.state.withWriteAccess { () throws(PMemStreamError) -> [Entry] in
            try self.writeDurablyWithAccess(sizes: sizes, copy: copy)
        }
    }

    /// ``writeDurably(sizes:copy:)`` for a caller that holds the region's write access already.
    private func writeDurablyWithAccess(
        sizes: [Int],
        copy: (_ index: Int, _ offset: Int) -> UnsafeRawBufferPointer
    ) throws(PMemStreamError) -> [Entry] {
        try self.checkOpen()
        var total = 0
        for size in sizes {
            guard let footprint = EntryHeader.footprint(dataSize: size) else {
                throw PMemStreamError(code: .invalidEntrySize, message: "an entry cannot have \(size) bytes")
            }
            total += footprint
        }
        guard total <= self.availableSize else {
            throw PMemStreamError(
                code: .entryTooLarge,
                message:
                    "\(sizes.count == 1 ? "an entry of \(sizes[0]) bytes" : "\(sizes.count) entries of \(total) bytes") "
                    + "do not fit in the \(self.availableSize) bytes left in \(self.region)"
            )
        }
        var entries: [Entry] = []
        entries.reserveCapacity(sizes.count)
        var offset = self.tail
        for (index, size) in sizes.enumerated() {
            let data = copy(index, offset + EntryHeader.size)
            let timestamp = self.tracker.takeTimestamp()
            let checksum = EntryHeader.checksum(regionSequence: self.region.sequence, timestamp: timestamp, data: data)
            let end = self.seal(at: offset, dataSize: size, timestamp: timestamp, checksum: checksum)
            entries.append(Entry(state: self.state, offset: offset, timestamp: timestamp, size: size))
            offset = end
        }
        self.medium.drain()
        self.tail = offset
        self.state.published(upTo: offset)
        return entries
    }

    /// Publishes durable entries, persists the watermark over them, and returns once they are persisted.
    private func confirm(_ entries: [Entry]) async throws(PMemStreamError) -> [Entry] {
        let timestamps = entries.map(\.timestamp)
        self.tracker.published(timestamps)
        self.tracker.durable(timestamps)
        if let last = timestamps.max() {
            try await self.tracker.persisted.wait(until: last)
        }
        return entries
    }

    private func checkOpen() throws(PMemStreamError) {
        guard !self.tracker.isClosed else {
            throw PMemStreamError(code: .streamClosed, message: "the stream was closed")
        }
    }

    // MARK: - Appending

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
        await self.waitForRegion()
        let entries = try bytes.withUnsafeBytes { (buffer) throws(PMemStreamError) in
            try self.writeDurably(sizes: [buffer.count]) { _, offset in
                self.medium.copy(toOffset: offset, from: buffer, flags: .noFlush)
                return buffer
            }
        }
        return try await self.confirm(entries)[0]
    }

    /// Appends one entry and returns once it is persisted.
    ///
    /// - Parameter bytes: The entry's data.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: As ``append(_:)-(RawSpan)``.
    public func append(_ bytes: [UInt8]) async throws(PMemStreamError) -> Entry {
        try await self.append(bytes.span.bytes)
    }

    /// Appends one entry from any collection of bytes and returns once it is persisted; contiguous
    /// collections are copied straight into the medium.
    ///
    /// - Parameter bytes: The entry's data.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: As ``append(_:)-(RawSpan)``.
    public func append(_ bytes: some Collection<UInt8> & Sendable) async throws(PMemStreamError) -> Entry {
        await self.waitForRegion()
        let entries = try self.withContiguousBytes(of: bytes) { (buffer) throws(PMemStreamError) in
            try self.writeDurably(sizes: [buffer.count]) { _, offset in
                self.medium.copy(toOffset: offset, from: buffer, flags: .noFlush)
                return buffer
            }
        }
        return try await self.confirm(entries)[0]
    }

    /// Appends several entries with one actor hop and one drain, and returns once all are persisted.
    ///
    /// Each entry is atomic on its own; the batch is written only if all of it fits.
    /// - Parameter batch: The entries' data, in order; their timestamps increase in this order.
    /// - Returns: The entries.
    /// - Throws: As ``append(_:)-(RawSpan)``; nothing is written when the batch does not fit.
    public func append(contentsOf batch: [[UInt8]]) async throws(PMemStreamError) -> [Entry] {
        await self.waitForRegion()
        let entries = try self.writeDurably(sizes: batch.map(\.count)) { index, offset in
            batch[index].withUnsafeBytes { self.medium.copy(toOffset: offset, from: $0, flags: .noFlush) }
            return self.medium.bytes(offset..<offset + batch[index].count)
        }
        return try await self.confirm(entries)
    }

    /// Reserves room for an entry, lets `fill` write it in place, and publishes what it wrote.
    ///
    /// `fill` receives an `OutputRawSpan` over up to `capacity` bytes of the medium; the entry is the bytes
    /// it appends, and the rest of the room returns to the region. If `fill` throws, nothing is published.
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
        let outcome = try self.state.withWriteAccess { () throws(PMemStreamError) -> Result<[Entry], E> in
            _ = try self.footprintIfFits(capacity)
            let room = UnsafeMutableRawBufferPointer(
                start: self.medium.baseAddress + self.tail + EntryHeader.size,
                count: capacity
            )
            var output = OutputRawSpan(buffer: room, initializedCount: 0)
            do throws(E) {
                try fill(&output)
            } catch {
                return .failure(error)
            }
            let written = output.finalize(for: room)
            return .success(
                try self.writeDurablyWithAccess(sizes: [written]) { _, offset in
                    self.medium.bytes(offset..<offset + written)
                }
            )
        }
        return try await self.confirm(try outcome.get())[0]
    }

    // MARK: - Explicit reservations

    /// Reserves room for an entry of up to `capacity` bytes, to be filled in place and published later.
    ///
    /// The reservation has the region to itself until it is published or abandoned: other appends to the
    /// region wait. So fill it promptly, and never wait for another append to this region while holding it.
    /// A reservation that is dropped without being published is abandoned: its room returns to the region
    /// and no later entry is affected.
    ///
    /// - Parameter capacity: The most bytes the entry may have.
    /// - Returns: The reservation.
    /// - Throws: ``PMemStreamError/Code/entryTooLarge`` when it does not fit; ``PMemStreamError/Code/streamClosed``.
    public func reserve(_ capacity: Int) async throws(PMemStreamError) -> Reservation {
        await self.waitForRegion()
        try self.checkOpen()
        _ = try self.footprintIfFits(capacity)
        try self.state.beginReservation()
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
        guard let reservation = self.reservation, reservation.id == id else {
            throw PMemStreamError(code: .invalidArgument, message: "the reservation has already ended")
        }
        self.endReservation(id)
        guard size >= 0, size <= reservation.capacity else {
            throw PMemStreamError(
                code: .invalidEntrySize,
                message: "a reservation of \(reservation.capacity) bytes cannot publish \(size) bytes; it was abandoned"
            )
        }
        let entries = try self.writeDurably(sizes: [size]) { _, offset in
            self.medium.bytes(offset..<offset + size)
        }
        return try await self.confirm(entries)[0]
    }

    /// Ends the reservation `id` without publishing it.
    func endReservation(_ id: UInt64) {
        guard self.reservation?.id == id else { return }
        self.reservation = nil
        self.state.endReservation()
        let waiters = self.reservationWaiters
        self.reservationWaiters.removeAll()
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Waits while an explicit reservation has the region.
    private func waitForRegion() async {
        while self.reservation != nil {
            await withCheckedContinuation { self.reservationWaiters.append($0) }
        }
    }

    // MARK: - Helpers

    private func withContiguousBytes<R>(
        of bytes: some Collection<UInt8>,
        _ body: (UnsafeRawBufferPointer) throws(PMemStreamError) -> R
    ) throws(PMemStreamError) -> R {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(PMemStreamError) -> R in try body(UnsafeRawBufferPointer(buffer)) }
        }
        if let result {
            return try result.get()
        }
        return try Array(bytes).span.bytes.withUnsafeBytes { (buffer) throws(PMemStreamError) in try body(buffer) }
    }
}
