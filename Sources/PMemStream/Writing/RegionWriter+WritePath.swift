// MARK: - The write path: room and timestamps, sealing, publication

nonisolated extension RegionWriter {
    /// Takes room at the tail and a timestamp for each of `count` entries (`size` gives each one's data
    /// size, by index), all or nothing, and stores a zero word at the start of each (so none reads as an
    /// entry before it is sealed) and after the last (the terminator). The timestamps are consecutive, taken
    /// with one atomic operation; none is taken when the entries do not fit. Nothing is flushed.
    ///
    /// - Returns: Where the entries are in ``inFlight``, valid until the next publication.
    func reserve(count: Int, size: (_ index: Int) -> Int) throws(PMemStreamError) -> Range<Int> {
        let first = self.inFlight.count
        try self.reserve(count: count, size: size) { self.inFlight.append($0) }
        return first..<self.inFlight.count
    }

    /// ``reserve(count:size:)``, handing each entry to `reserved` rather than to ``inFlight``; with `marking`
    /// false, it stores neither the zero words nor the terminator, for a caller that writes each entry's
    /// header and the terminator itself before the same drain. With `uncounted`, for entries the caller
    /// publishes before it releases ``appendLock``, the writes are checked against a free but not counted
    /// (see ``RegionState/checkWritable()``), and not ended. Inlined, so that its closures are too: every
    /// append goes through it.
    @inline(__always)
    func reserve(
        count: Int,
        size: (_ index: Int) -> Int,
        marking: Bool = true,
        uncounted: Bool = false,
        reserved: (InFlightEntry) -> Void
    ) throws(PMemStreamError) {
        precondition(count > 0, "a reservation of no entry")
        try self.checkOpen()
        try self.checkFits(count: count, size: size)
        if uncounted {
            try self.state.checkWritable()
        } else {
            try self.state.beginWrites(count)
        }
        self.scrubStaleHeaders(count: count, size: size)
        let first = self.tracker.takeTimestamps(count, in: &self.lane)
        var entry = InFlightEntry(offset: self.tail, size: size(0), timestamp: first)
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
    func hasTerminator(after entry: InFlightEntry) -> Bool {
        entry.end + 8 <= self.state.dataEnd
    }

    /// Zeroes, durably, any header of this region's earlier entries still lying where the new entries
    /// will start or where their terminator will go (left there by a crash that cut the region's tail).
    ///
    /// An entry and its terminator are made durable by one drain; a crash inside it may keep the entry and
    /// lose the terminator, and the walk would then read on into such a stale header — whose timestamp
    /// the clock may hand out again. Scrubbing first closes that window. Nothing at all is read in a region
    /// allocated in this session, which holds no header of an earlier session. In a region recovered in
    /// this session, small entries are covered by ``scan(upTo:)`` 64 KiB at a time, ahead of the appends,
    /// which then read nothing beyond the tail; entries of ``pointCheckedFootprint`` bytes and more on
    /// average have only their own positions read (the tail holds none: see ``scannedEnd``). Either way a
    /// drain follows only when a header is found.
    private func scrubStaleHeaders(count: Int, size: (_ index: Int) -> Int) {
        guard self.scannedEnd < self.state.dataEnd else { return }
        var terminator = self.tail
        for index in 0..<count {
            terminator += EntryHeader.footprint(dataSize: size(index))!
        }
        guard terminator + EntryHeader.size > self.scannedEnd else { return }
        guard terminator - self.tail >= count * Self.pointCheckedFootprint else {
            self.scan(upTo: terminator + EntryHeader.size)
            return
        }
        var scrubbed = false
        var position = self.tail
        for index in 0..<count {
            position += EntryHeader.footprint(dataSize: size(index))!
            scrubbed = self.scrubStaleHeader(at: position) || scrubbed
        }
        if scrubbed {
            self.medium.drain()
        }
        // The entries end at `terminator`, the new tail, which now holds no header of this region.
        self.scannedEnd = max(self.scannedEnd, terminator)
    }

    /// The average footprint from which ``scrubStaleHeaders(count:size:)`` reads only the positions of the
    /// new headers and terminator rather than scanning every byte up to them. Measured with cache-line
    /// flushes on `/dev/shm`, synchronous appends in a recovered region, ns per append, scanned against
    /// point-checked: 1 KiB 448 – 453 against 371 – 372, 2 KiB 605 against 419 – 423.
    static let pointCheckedFootprint = 1024

    /// Zeroes, durably, any header of this region's earlier entries whose kind word has a byte in the room
    /// of `capacity` bytes about to be handed to a caller. The caller may write there and then not publish
    /// it all (abandon, publish less, or throw); the bytes it wrote, never flushed, must not cover a header
    /// that the medium still holds. A region allocated in this session has no such header.
    func scrubRoom(capacity: Int) {
        guard self.scannedEnd < self.state.dataEnd else { return }
        self.scan(upTo: self.tail + EntryHeader.size + capacity + EntryHeader.size)
    }

    /// Zeroes the header at `position` if it carries this region's kind word, and flushes it; the caller
    /// drains. Settles up to it first (see ``settle(upTo:)``).
    private func scrubStaleHeader(at position: Int) -> Bool {
        guard position + EntryHeader.size <= self.state.dataEnd else { return false }
        self.settle(upTo: position + EntryHeader.size)
        let kind = EntryHeader.kind(regionSequence: self.region.sequence)
        guard EntryHeader.hasKind(at: position, kind: kind, in: self.base) else { return false }
        self.medium.fill(position..<position + EntryHeader.size, with: 0, flags: .noDrain)
        return true
    }

    /// Zeroes, durably, every header of this region from the tail up to `end` and on to the next multiple
    /// of ``settlingChunk``, and moves ``scannedEnd`` there: every header that ends beyond it and within the
    /// new end, read at each 8-byte position. The bytes are settled too (see ``settle(upTo:)``), after the
    /// scan, whose reads leave their lines in the caches, so that the flush takes them out again before
    /// the appends store there. Only this writer stores there afterwards, and only entries below its tail.
    private func scan(upTo end: Int) {
        guard end > self.scannedEnd else { return }
        let chunk = Self.settlingChunk
        let scanned = min(self.state.dataEnd, (end + chunk - 1) / chunk * chunk)
        let kind = EntryHeader.kind(regionSequence: self.region.sequence)
        var scrubbed = false
        var position = max(self.tail, self.scannedEnd - EntryHeader.size + 8)
        while position + EntryHeader.size <= scanned {
            if EntryHeader.hasKind(at: position, kind: kind, in: self.base) {
                self.medium.fill(position..<position + EntryHeader.size, with: 0, flags: .noDrain)
                scrubbed = true
            }
            position += 8
        }
        self.settle(upTo: scanned)
        if scrubbed {
            self.medium.drain()
        }
        self.scannedEnd = scanned
    }

    /// How far ahead of the bytes it must read ``settle(upTo:)`` settles, at once.
    static let settlingChunk = 64 * 1024

    /// Makes the region's bytes up to `end` durable as this process sees them, from ``settledEnd`` on and
    /// up to the next multiple of ``settlingChunk``: one flush and one drain per chunk, in a region
    /// recovered rather than allocated in this session.
    ///
    /// A writer killed in an earlier session may have stored beyond the tail it left without flushing: this
    /// process sees those bytes, while the medium may still hold older ones, a stale header among them (see
    /// ``scrubStaleHeaders(count:size:)``). The scrubs read what the process sees; once settled, that is what
    /// a power failure leaves too. Flushing a line early is what a spontaneous write-back does anyway.
    private func settle(upTo end: Int) {
        guard end > self.settledEnd else { return }
        let chunk = Self.settlingChunk
        let settled = min(self.state.dataEnd, (end + chunk - 1) / chunk * chunk)
        self.medium.flush(self.settledEnd..<settled)
        self.medium.drain()
        self.settledEnd = settled
    }

    /// Stores the header of the reserved entry at `index` in ``inFlight`` whose data is in place; the
    /// timestamp word last. No flush.
    func seal(at index: Int, data: UnsafeRawBufferPointer) {
        self.inFlight[index].isSealed = true
        self.seal(self.inFlight[index], data: data)
    }

    /// Stores the header of a reserved entry whose data is in place; the timestamp word last. No flush.
    func seal(_ entry: InFlightEntry, data: UnsafeRawBufferPointer) {
        let checksum = EntryHeader.checksum(
            regionSequence: self.region.sequence,
            timestamp: entry.timestamp,
            data: data
        )
        Self.storeHeader(of: entry, checksum: checksum, base: self.base, sequence: self.region.sequence)
    }

    /// A new ``Entry`` value for a reserved entry: it retains the region's state.
    func madeEntry(for entry: InFlightEntry) -> Entry {
        Entry(state: self.state, offset: entry.offset, timestamp: entry.timestamp, size: entry.size)
    }

    /// Stores the header of an entry of the region with sequence number `sequence`, on the medium at `base`;
    /// the timestamp word last. No flush.
    static func storeHeader(
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
    /// writer's floor moves past them (see ``DurabilityTracker/published(in:next:)``).
    ///
    /// - Parameter durable: Entries of this region just made durable, if any: their (consecutive)
    ///   timestamps and where the last one ends, recorded for the region's next checkpoint tail. The
    ///   tracker needs no record of them: until they are published the writer's floor holds them back.
    func publishSealedPrefix(durable: (timestamps: ClosedRange<UInt64>, end: Int)? = nil) {
        let count = self.inFlight.withUnsafeBufferPointer { inFlight in
            var count = 0
            while count < inFlight.count, inFlight[count].isSealed {
                count += 1
            }
            return count
        }
        guard count > 0 || durable != nil else { return }
        // Recorded before the publication lets the watermarks move: a checkpoint takes a record once the
        // persisted watermark covers it, and then finds the records of every entry it covers. Recorded after,
        // a batch published behind one that drained first (see `writeBeside(_:into:)`) could leave a checkpoint
        // the later batch's end and the next one its own, further back.
        let registers = durable.map {
            self.state.recordWriterDurable(timestamp: $0.timestamps.upperBound, end: $0.end)
        }
        if count > 0 {
            self.state.published(upTo: self.inFlight[count - 1].end)
            if count == self.inFlight.count {
                self.inFlight.removeAll(keepingCapacity: true)
            } else {
                self.inFlight.removeFirst(count)
            }
            // Timestamps increase along the list: the first one left is the lowest the writer holds back.
            self.tracker.published(in: &self.lane, next: self.inFlight.first?.timestamp ?? LaneFloors.none)
        }
        self.state.endWrites(count)
        if registers == true {
            self.groupCommit.touch(self.state)
        }
        if count > 0, self.inFlight.isEmpty, !self.quiesceWaiters.isEmpty {
            let waiters = self.quiesceWaiters
            self.quiesceWaiters.removeAll()
            for waiter in waiters {
                waiter.resume()
            }
        }
    }
}
