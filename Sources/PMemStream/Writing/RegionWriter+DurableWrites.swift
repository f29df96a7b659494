import Synchronization

// MARK: - Durable writes: copy, flush, one drain, publish (one persist point)

nonisolated extension RegionWriter {
    /// Writes `count` entries, makes them durable with one flush and one drain, and publishes them: the
    /// synchronous path. One persist point.
    ///
    /// Nothing is retained or released between the copies and the drain (no ``Entry`` is made here; callers
    /// make theirs from the places reported to `written`, after the drain): see
    /// ``writeEntriesAloneDurably(_:into:)``.
    ///
    /// - Parameters:
    ///   - count: How many entries.
    ///   - size: The data size of entry `index`.
    ///   - dataCopied: Whether `data` gives bytes to copy in (with ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``,
    ///     which flushes the data of large entries as it copies), or the bytes already in place, unflushed.
    ///   - data: Calls its last argument, which seals the entry, with the data of entry `index` (whose data
    ///     goes to `dataOffset`).
    ///   - written: Receives the place of each entry, in order, once it is sealed.
    /// - Returns: The last entry's timestamp.
    func writeDurably(
        count: Int,
        size: (_ index: Int) -> Int,
        dataCopied: Bool,
        data: (_ index: Int, _ dataOffset: Int, _ seal: (UnsafeRawBufferPointer) -> Void) -> Void,
        written: (InFlightEntry) -> Void
    ) throws(PMemStreamError) -> UInt64 {
        let reserved = try self.reserve(count: count, size: size)
        let threshold = dataCopied ? self.streamingFrom : nil
        // The list through one access for all the entries, rather than one per entry and field (each a
        // dynamic exclusivity check); nothing below touches `inFlight` otherwise.
        self.inFlight.withUnsafeMutableBufferPointer { inFlight in
            for index in reserved {
                let entry = inFlight[index]
                data(index - reserved.lowerBound, entry.offset + EntryHeader.size) { bytes in
                    if dataCopied {
                        self.copyAndSeal(entry, from: bytes, streamingFrom: threshold)
                    } else {
                        self.seal(entry, data: bytes)
                    }
                }
                inFlight[index].isSealed = true
                written(entry)
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
    /// reservation and its publication (the lock is held from one to the other), so it is published as soon as
    /// it is durable, with the same bytes made durable by the same drain, and none of the list's bookkeeping.
    /// With cache-line granularity, an entry of ``loneNonTemporalSizes`` bytes is then written whole, with its
    /// terminator, by non-temporal stores (see
    /// ``writeNonTemporally(_:from:terminated:checksumWhileCopying:medium:sequence:)``).
    func writeOneDurably(copying buffer: UnsafeRawBufferPointer) throws(PMemStreamError) -> Entry {
        if self.inFlight.isEmpty {
            var reserved: InFlightEntry?
            let nonTemporal = self.loneNonTemporalSizes?.contains(buffer.count) ?? false
            try self.reserve(count: 1, size: { _ in buffer.count }, marking: !nonTemporal, uncounted: true) {
                reserved = $0
            }
            let entry = reserved!
            // Made before the copy: making it retains the region's state, and nothing between the copy and
            // the drain may retain or release (see `flushSealed(count:streamingFrom:entry:)`).
            let written = self.madeEntry(for: entry)
            if nonTemporal {
                Self.writeNonTemporally(
                    entry,
                    from: buffer,
                    terminated: self.hasTerminator(after: entry),
                    checksumWhileCopying: self.checksumsWhileCopying,
                    medium: self.medium,
                    sequence: self.region.sequence
                )
            } else {
                let threshold = self.streamingFrom
                self.copyAndSeal(entry, from: buffer, streamingFrom: threshold)
                self.flushSealed(count: 1, streamingFrom: threshold) { _ in entry }
            }
            self.medium.drain()
            self.publishDurableAlone(timestamps: entry.timestamp...entry.timestamp, end: entry.end)
            return written
        }
        var written: InFlightEntry?
        _ = try self.writeDurably(
            count: 1,
            size: { _ in buffer.count },
            dataCopied: true,
            data: { _, _, seal in seal(buffer) },
            written: { written = $0 }
        )
        return self.madeEntry(for: written!)
    }

    /// ``writeDurably(count:size:dataCopied:data:written:)`` for a batch when no other entry is in flight: as
    /// for a lone entry (see ``writeOneDurably(copying:)``), the entries never enter ``inFlight``. With
    /// cache-line granularity, a batch whose entries all have ``nonTemporalBatchSizes`` bytes is written whole
    /// by non-temporal stores (see ``writeNonTemporally(_:into:terminated:checksumWhileCopying:medium:sequence:)``).
    ///
    /// Nothing is retained or released between the copies and the drain: an atomic operation (a retain is
    /// one) after the non-temporal stores of a large entry's copy waits until they are written back, and the
    /// copies of the entries would not overlap. No ``Entry`` is made at all: the caller's result makes each
    /// from `places` when it is read (see ``AppendedEntries``).
    ///
    /// - Parameter places: One element per entry, which receives its place.
    func writeEntriesAloneDurably(_ batch: [[UInt8]], into places: inout [InFlightEntry]) throws(PMemStreamError) {
        let nonTemporal = self.writesNonTemporally && Self.allSizes(of: batch, within: Self.nonTemporalBatchSizes)
        try self.reserve(batch, into: &places, marking: !nonTemporal, uncounted: true)
        let first = places[0]
        let last = places[places.count - 1]
        places.withUnsafeBufferPointer { places in
            self.write(batch, into: places, nonTemporally: nonTemporal, terminated: self.hasTerminator(after: last))
        }
        self.medium.drain()
        self.publishDurableAlone(timestamps: first.timestamp...last.timestamp, end: last.end)
    }

    /// Reserves room and timestamps for the entries of `batch` (see
    /// ``reserve(count:size:marking:uncounted:reserved:)``), storing each entry's place in `places`, which
    /// has one element per entry: made before ``appendLock`` was taken, so that the lock is not held while it
    /// is allocated, and filled with plain stores.
    func reserve(
        _ batch: [[UInt8]],
        into places: inout [InFlightEntry],
        marking: Bool,
        uncounted: Bool
    ) throws(PMemStreamError) {
        assert(places.count == batch.count, "a place for each entry")
        try places.withUnsafeMutableBufferPointer { (places) throws(PMemStreamError) in
            var index = 0
            try self.reserve(count: batch.count, size: { batch[$0].count }, marking: marking, uncounted: uncounted) {
                places[index] = $0
                index += 1
            }
        }
    }

    /// Writes each entry of `batch` into the place reserved for it in `places`, and flushes them: whole with
    /// non-temporal stores (see ``writeNonTemporally(_:into:terminated:checksumWhileCopying:medium:sequence:)``),
    /// with the terminator after the last when `terminated`; or copied, sealed and flushed with the word after
    /// the last (see ``copyAndSeal(_:into:streamingFrom:checksumWhileCopying:base:medium:sequence:)`` and
    /// ``flushSealed(count:streamingFrom:entry:)``). No drain.
    func write(
        _ batch: [[UInt8]],
        into places: UnsafeBufferPointer<InFlightEntry>,
        nonTemporally: Bool,
        terminated: Bool
    ) {
        if nonTemporally {
            Self.writeNonTemporally(
                batch,
                into: places,
                terminated: terminated,
                checksumWhileCopying: self.checksumsWhileCopying,
                medium: self.medium,
                sequence: self.region.sequence
            )
        } else {
            let threshold = self.streamingFrom
            Self.copyAndSeal(
                batch,
                into: places,
                streamingFrom: threshold,
                checksumWhileCopying: self.checksumsWhileCopying,
                base: self.base,
                medium: self.medium,
                sequence: self.region.sequence
            )
            self.flushSealed(count: places.count, streamingFrom: threshold) { places[$0] }
        }
    }

    /// Calls `body` with the place reserved for each element of `batch` in `places`, its index and its data.
    /// The arrays are borrowed through spans, with no retain or release; callers are nonisolated and static,
    /// so that the loop has no isolation check.
    @inline(__always)
    private static func forEachEntry(
        of batch: [[UInt8]],
        in places: UnsafeBufferPointer<InFlightEntry>,
        _ body: (_ entry: InFlightEntry, _ index: Int, _ data: UnsafeRawBufferPointer) -> Void
    ) {
        let arrays = batch.span
        for index in arrays.indices {
            let entry = places[index]
            arrays[index].span.bytes.withUnsafeBytes { body(entry, index, $0) }
        }
    }

    /// Copies each entry of `batch` into the place reserved for it in `places` (see
    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:checksumWhileCopying:base:medium:sequence:)``) and seals
    /// it.
    static func copyAndSeal(
        _ batch: [[UInt8]],
        into places: UnsafeBufferPointer<InFlightEntry>,
        streamingFrom threshold: Int?,
        checksumWhileCopying: Bool,
        base: UnsafeMutableRawPointer,
        medium: any PersistentMedium,
        sequence: UInt64
    ) {
        Self.forEachEntry(of: batch, in: places) { entry, _, data in
            _ = Self.copyAndSeal(
                entry,
                from: data,
                streamingFrom: threshold,
                checksumWhileCopying: checksumWhileCopying,
                base: base,
                medium: medium,
                sequence: sequence
            )
        }
    }

    /// Writes each entry of `batch` whole into the place reserved for it in `places` with
    /// ``writeNonTemporally(_:from:terminated:checksumWhileCopying:medium:sequence:)``, and the terminator after
    /// the last when `terminated`.
    private static func writeNonTemporally(
        _ batch: [[UInt8]],
        into places: UnsafeBufferPointer<InFlightEntry>,
        terminated: Bool,
        checksumWhileCopying: Bool,
        medium: any PersistentMedium,
        sequence: UInt64
    ) {
        Self.forEachEntry(of: batch, in: places) { entry, index, data in
            Self.writeNonTemporally(
                entry,
                from: data,
                terminated: terminated && index == batch.count - 1,
                checksumWhileCopying: checksumWhileCopying,
                medium: medium,
                sequence: sequence
            )
        }
    }

    /// Whether the size of every entry of `batch` lies in `sizes`.
    static func allSizes(of batch: [[UInt8]], within sizes: ClosedRange<Int>) -> Bool {
        let arrays = batch.span
        for index in arrays.indices where !sizes.contains(arrays[index].count) {
            return false
        }
        return true
    }

    /// Publishes entries that never entered ``inFlight``, reserved uncounted, just made durable: they have
    /// `timestamps`, and the last ends at `end`.
    private func publishDurableAlone(timestamps: ClosedRange<UInt64>, end: Int) {
        // Recorded first, as in `publishSealedPrefix(durable:)`: before the watermark can cover them.
        let registers = self.state.recordWriterDurable(timestamp: timestamps.upperBound, end: end)
        self.state.published(upTo: end)
        if self.tracker.publishedDurable(in: &self.lane, next: LaneFloors.none, last: timestamps.upperBound) {
            self.durableThrough.store(timestamps.upperBound, ordering: .relaxed)
        }
        if registers {
            self.groupCommit.touch(self.state)
        }
    }

    /// ``writeDurably(count:size:dataCopied:data:written:)`` for one entry of `size` bytes whose data is in
    /// place at the tail already (a reservation's).
    func writeOneDurably(inPlace size: Int) throws(PMemStreamError) -> Entry {
        var written: InFlightEntry?
        _ = try self.writeDurably(
            count: 1,
            size: { _ in size },
            dataCopied: false,
            data: { _, offset, seal in seal(self.medium.bytes(offset..<offset + size)) },
            written: { written = $0 }
        )
        return self.madeEntry(for: written!)
    }
}
