import Synchronization

// MARK: - Synchronous appends: durable on return

nonisolated extension RegionWriter {
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
    @inlinable
    public func append(_ bytes: RawSpan) async throws(PMemStreamError) -> Entry {
        while true {
            let written = try bytes.withUnsafeBytes { (buffer) throws(PMemStreamError) in
                try self.writeOneDurablyWhenFree(copying: buffer)
            }
            if let entry = written {
                try await self.waitPersisted(written: entry.timestamp)
                return entry
            }
            try await self.waitForRegion()
        }
    }

    /// Appends one entry and returns once it is persisted.
    ///
    /// - Parameter bytes: The entry's data.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: As ``append(_:)-(RawSpan)``.
    @inlinable
    public func append(_ bytes: [UInt8]) async throws(PMemStreamError) -> Entry {
        try await self.append(bytes.span.bytes)
    }

    /// Appends one entry from any collection of bytes and returns once it is persisted; contiguous
    /// collections are copied straight into the medium.
    ///
    /// - Parameter bytes: The entry's data.
    /// - Returns: The entry, with its timestamp.
    /// - Throws: As ``append(_:)-(RawSpan)``.
    @inlinable
    public func append(_ bytes: some Collection<UInt8> & Sendable) async throws(PMemStreamError) -> Entry {
        let written = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(PMemStreamError) -> Entry? in
                try self.writeOneDurablyWhenFree(copying: UnsafeRawBufferPointer(buffer))
            }
        }
        // Copied into an array when the bytes are not contiguous, or a reservation has the region.
        guard let written, let entry = try written.get() else {
            return try await self.append(Array(bytes))
        }
        try await self.waitPersisted(written: entry.timestamp)
        return entry
    }

    /// Appends several entries with one drain, and returns once all are persisted.
    ///
    /// Each entry is atomic on its own; the batch is written only if all of it fits.
    /// - Parameter batch: The entries' data, in order; their timestamps increase in this order.
    /// - Returns: The entries, each made when it is read (see ``AppendedEntries``).
    /// - Throws: As ``append(_:)-(RawSpan)``; nothing is written when the batch does not fit.
    @inlinable
    public func append(contentsOf batch: [[UInt8]]) async throws(PMemStreamError) -> AppendedEntries {
        while true {
            if let (entries, last) = try self.writeDurablyWhenFree(batch) {
                try await self.waitPersisted(written: last)
                return entries
            }
            try await self.waitForRegion()
        }
    }

    /// Reserves room for an entry, lets `fill` write it in place, and publishes what it wrote.
    ///
    /// `fill` receives an `OutputRawSpan` over up to `capacity` bytes of the medium; the entry is the bytes
    /// it appends, and the rest of the room returns to the region. If `fill` throws, nothing is published
    /// and no timestamp is consumed. Other appends to the region wait while `fill` runs, the threads they
    /// run on included: keep it short.
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
        while true {
            let entry = try self.appendLock.withLock { () throws -> Entry? in
                guard self.reservation == nil else { return nil }
                let room = try self.beginWriteInPlace(capacity: capacity)
                defer { self.state.endWrites() }
                var output = OutputRawSpan(buffer: room, initializedCount: 0)
                try fill(&output)
                let written = output.finalize(for: room)
                return try self.writeOneDurably(inPlace: written)
            }
            if let entry {
                try await self.waitPersisted(written: entry.timestamp)
                return entry
            }
            try await self.waitForRegion()
        }
    }

    // The appends above are inlined into their callers, so that each costs no async frame of its own; what
    // they call here is not.

    /// Returns once the entry with `timestamp`, which the caller has just written and published, is
    /// persisted (see `GroupCommit.waitPersisted(written:)`): at once, with no async call, when it is already,
    /// as after a synchronous write.
    @inlinable
    @inline(__always)
    func waitPersisted(written timestamp: UInt64) async throws(PMemStreamError) {
        guard !self.isPersisted(timestamp) else { return }
        try await self.waitUntilPersisted(written: timestamp)
    }

    /// Whether the entry with `timestamp`, and every earlier one, is persisted: by the persisted watermark,
    /// or by what this writer's last synchronous write found (see ``durableThrough``).
    @usableFromInline
    func isPersisted(_ timestamp: UInt64) -> Bool {
        self.durableThrough.load(ordering: .relaxed) >= timestamp || self.tracker.persisted.value >= timestamp
    }

    /// ``waitPersisted(written:)`` once the entry was found not persisted.
    @usableFromInline
    func waitUntilPersisted(written timestamp: UInt64) async throws(PMemStreamError) {
        try await self.groupCommit.waitPersisted(written: timestamp)
    }

    /// Writes `batch` durably, under ``appendLock`` (see ``writeEntriesAloneDurably(_:into:)``) or, while other
    /// appends to the region are under way, beside them (see ``writesBeside(contended:)``); unless an explicit
    /// reservation has the region.
    ///
    /// - Returns: The entries and the last one's timestamp, or `nil` when a reservation has the region
    ///   (nothing is written then).
    @usableFromInline
    func writeDurablyWhenFree(_ batch: [[UInt8]]) throws(PMemStreamError) -> (AppendedEntries, UInt64)? {
        // Nothing to write, and nothing to wait for: timestamp 0 is persisted in every stream.
        guard !batch.isEmpty else { return (AppendedEntries(state: self.state, places: []), 0) }
        // The places, allocated before the lock is taken.
        var places = [InFlightEntry](repeating: InFlightEntry(offset: 0, size: 0, timestamp: 0), count: batch.count)
        let writtenAlone = try self.appendLock.withLock { (contended: Bool) throws(PMemStreamError) -> Bool? in
            guard self.reservation == nil else { return nil }
            guard self.writesBeside(contended: contended) else {
                try self.writeEntriesAloneDurably(batch, into: &places)
                return true
            }
            try self.reserveBeside(batch, into: &places)
            return false
        }
        guard let writtenAlone else { return nil }
        if !writtenAlone {
            self.writeBeside(batch, into: places)
        }
        return (AppendedEntries(state: self.state, places: places), places[places.count - 1].timestamp)
    }

    /// ``writeOneDurably(copying:)`` under ``appendLock``, unless an explicit reservation has the region.
    ///
    /// - Returns: The entry, or `nil` when a reservation has the region (nothing is written then).
    @usableFromInline
    func writeOneDurablyWhenFree(copying buffer: UnsafeRawBufferPointer) throws(PMemStreamError) -> Entry? {
        try self.appendLock.withLock { () throws(PMemStreamError) -> Entry? in
            guard self.reservation == nil else { return nil }
            return try self.writeOneDurably(copying: buffer)
        }
    }
}
