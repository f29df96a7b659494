// MARK: - Writing, reading and waiting

extension PMemStream {
    /// The writer that appends to a region; the same actor every time for the same region.
    ///
    /// The first call for a region in a session recovers it for writing (the C library's
    /// `region_runtime_initialize`): entries above its timestamp cap are cut and the cap is lifted.
    ///
    /// - Parameter region: A live region.
    /// - Returns: The region's writer.
    /// - Throws: ``PMemStreamError/Code/regionFreed``, ``PMemStreamError/Code/notARegion``,
    ///   ``PMemStreamError/Code/streamClosed``, or ``PMemStreamError/Code/corruptedEntry`` when a persisted
    ///   entry of the region is damaged.
    public func writer(for region: Region) throws(PMemStreamError) -> RegionWriter {
        try self.cachedWriter(for: region)
    }

    /// The bytes left for entries in a region, headers included (see ``RegionWriter/availableSize``).
    ///
    /// On a read-only stream, the entries counted are those visible to readers.
    ///
    /// - Parameter region: A live region.
    /// - Returns: The region's size minus the footprints of its entries.
    /// - Throws: As ``writer(for:)``.
    public func usableSize(of region: Region) async throws(PMemStreamError) -> Int {
        guard self.configuration.access == .readWrite else {
            var cursor = RegionCursor(state: try self.regionState(for: region, evenIfClosed: false))
            while try cursor.next(limit: self.tracker.committed.value) != nil {}
            return cursor.state.dataEnd - cursor.position
        }
        return await (try self.cachedWriter(for: region)).availableSize
    }

    /// The committed entries of a region, in order; with `follow`, then the entries committed later.
    ///
    /// - Parameters:
    ///   - region: The region to read.
    ///   - follow: Whether to wait for new entries after the committed ones (see ``EntrySequence``).
    /// - Returns: The sequence; without `follow`, it throws ``PMemStreamError/Code/regionFreed`` at a step
    ///   that finds an entry after the region was freed; with `follow`, it then finishes (or throws at its
    ///   first step).
    public nonisolated func entries(in region: Region, follow: Bool = false) -> EntrySequence {
        EntrySequence(source: self, region: region, follow: follow)
    }

    /// The committed entries of every region with a timestamp above `since`, in timestamp order; with
    /// `follow`, then the entries committed later.
    ///
    /// - Parameters:
    ///   - since: Yield only entries with a greater timestamp; 0 for all.
    ///   - follow: Whether to wait for new entries (see ``MergedEntrySequence``).
    /// - Returns: The sequence.
    public nonisolated func entries(since: UInt64 = 0, follow: Bool = false) -> MergedEntrySequence {
        MergedEntrySequence(source: self, since: since, follow: follow)
    }

    /// The committed entry that starts at `offset` in a region.
    ///
    /// It walks the region's entries from the start, verifying each, so it costs time in proportion to
    /// the entries before it.
    /// - Parameters:
    ///   - region: A live region.
    ///   - offset: An entry's ``Entry/offset``, for example one saved before reopening the stream.
    /// - Returns: The entry.
    /// - Throws: ``PMemStreamError/Code/notAnEntry`` when no committed entry starts there (including
    ///   offsets outside the region or the stream), ``PMemStreamError/Code/corruptedEntry``, and the errors
    ///   of ``writer(for:)`` for the region.
    public func entry(in region: Region, atOffset offset: Int) throws(PMemStreamError) -> Entry {
        var cursor = RegionCursor(state: try self.regionState(for: region, evenIfClosed: false))
        let limit = self.tracker.upToDateCommitted
        while cursor.position <= offset, let entry = try cursor.next(limit: limit) {
            if entry.offset == offset {
                return entry
            }
        }
        throw PMemStreamError(code: .notAnEntry, message: "no committed entry starts at offset \(offset) in \(region)")
    }

    // MARK: - Watermarks

    /// Every entry with a timestamp up to this one is committed: complete and visible to readers.
    ///
    /// Read without an actor hop, after a scan of the writers' progress that brings it up to date with every
    /// append published so far.
    public nonisolated var committedTimestamp: UInt64 {
        self.tracker.upToDateCommitted
    }

    /// Every entry with a timestamp up to this one is persisted: it survives a power failure.
    ///
    /// Read without an actor hop, after a scan of the writers' progress that brings it up to date with every
    /// entry made durable so far. Always at most ``committedTimestamp``.
    public nonisolated var persistedTimestamp: UInt64 {
        self.tracker.upToDatePersisted
    }

    /// Returns when the entry with `timestamp`, and every earlier one, is committed (the C
    /// `async_wait_committed`); at once when it is already.
    ///
    /// On a read-only stream the timestamps are handed out by another process, so any timestamp may be
    /// waited for: the wait looks for it every ``Configuration/followInterval`` (see ``refresh()``).
    ///
    /// - Parameter timestamp: A timestamp the stream has handed out.
    /// - Throws: ``PMemStreamError/Code/timestampNotIssued`` for a timestamp not handed out yet,
    ///   ``PMemStreamError/Code/cancelled`` when the task is cancelled, ``PMemStreamError/Code/streamClosed``.
    public nonisolated func waitCommitted(_ timestamp: UInt64) async throws(PMemStreamError) {
        guard self.configuration.access == .readWrite else {
            return try await self.waitForOtherWriter(until: timestamp, on: self.tracker.committed)
        }
        try self.checkIssued(timestamp)
        try await self.tracker.waitCommitted(until: timestamp)
    }

    /// Returns when the entry with `timestamp`, and every earlier one, is persisted (the C
    /// `async_wait_persisted`); at once when it is already.
    ///
    /// - Parameter timestamp: A timestamp the stream has handed out.
    /// - Throws: As ``waitCommitted(_:)``.
    public nonisolated func waitPersisted(_ timestamp: UInt64) async throws(PMemStreamError) {
        guard self.configuration.access == .readWrite else {
            return try await self.waitForOtherWriter(until: timestamp, on: self.tracker.persisted)
        }
        try self.checkIssued(timestamp)
        try await self.groupCommit.waitPersisted(timestamp)
    }

    /// Makes every entry committed so far persisted now, without waiting for a persist worker: runs a
    /// group-commit round and a checkpoint on the calling thread. On return ``persistedTimestamp`` is at
    /// least the ``committedTimestamp`` of the call.
    ///
    /// The round makes those entries durable; the watermark can still be held back for a moment by another
    /// writer that is between taking its timestamp and publishing (see `DurabilityTracker`), and the call
    /// waits for it, without a cancellation point: that writer does not suspend in between. It returns early
    /// only when the stream closes meanwhile, which persists what was committed anyway.
    @concurrent
    public nonisolated func persistCommitted() async {
        guard self.configuration.access == .readWrite else { return }
        let committed = self.tracker.upToDateCommitted
        self.groupCommit.round()
        try? await self.tracker.waitPersisted(until: committed, cancellable: false)
    }

    /// The committed watermark's progress: its current value, then a value whenever a group-commit round
    /// finds it moved (never one element per append). A slow consumer sees only the newest value. The
    /// sequence finishes when the stream closes.
    public nonisolated var committedTimestamps: AsyncStream<UInt64> {
        self.tracker.advanceWatermarks()
        return self.tracker.committed.progress()
    }

    /// The persisted watermark's progress, published like ``committedTimestamps``.
    public nonisolated var persistedTimestamps: AsyncStream<UInt64> {
        self.tracker.advanceWatermarks()
        return self.tracker.persisted.progress()
    }

    private nonisolated func checkIssued(_ timestamp: UInt64) throws(PMemStreamError) {
        let issued = self.tracker.lastIssuedTimestamp
        guard timestamp <= issued else {
            throw PMemStreamError(
                code: .timestampNotIssued,
                message:
                    "timestamp \(timestamp) has not been handed out (the last is \(issued)); waiting for it could never end"
            )
        }
    }
}
