// MARK: - Synchronous appends: durable on return

extension RegionWriter {
    /// Appends one entry and returns once it is persisted.
    ///
    /// The bytes are copied straight from the caller's storage into the medium. To append from an
    /// `UnsafeRawBufferPointer`, pass `RawSpan(_unsafeBytes: pointer)`.
    ///
    /// - Parameter bytes: The entry's data, borrowed for the call; zero bytes make a legal, empty entry.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: ``PMemStreamError/Code/entryTooLarge`` (no timestamp is consumed),
    ///   ``PMemStreamError/Code/regionFreed``, ``PMemStreamError/Code/streamClosed``;
    ///   ``PMemStreamError/Code/cancelled`` when its task is cancelled while it waits for an explicit
    ///   reservation of the region to end. Each writes nothing.
    public func append(_ bytes: RawSpan) async throws(PMemStreamError) -> Entry {
        if self.reservation != nil {
            try await self.waitForRegion()
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
            try await self.waitForRegion()
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
            try await self.waitForRegion()
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
    /// - Returns: The entries, each made when it is read (see ``AppendedEntries``).
    /// - Throws: As ``append(_:)-(RawSpan)``; nothing is written when the batch does not fit.
    public func append(contentsOf batch: [[UInt8]]) async throws(PMemStreamError) -> AppendedEntries {
        guard !batch.isEmpty else { return AppendedEntries(state: self.state, places: []) }
        if self.reservation != nil {
            try await self.waitForRegion()
        }
        if self.inFlight.isEmpty {
            let (entries, last) = try self.writeEntriesAloneDurably(batch)
            try await self.groupCommit.waitPersisted(written: last)
            return entries
        }
        var places: [InFlightEntry] = []
        places.reserveCapacity(batch.count)
        let last = try self.writeDurably(
            count: batch.count,
            size: { batch[$0].count },
            dataCopied: true,
            data: { index, _, seal in batch[index].withUnsafeBytes { seal($0) } },
            written: { places.append($0) }
        )
        try await self.groupCommit.waitPersisted(written: last)
        return AppendedEntries(state: self.state, places: places)
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
        try await self.waitForRegion()
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
}
