// MARK: - Reading what another process writes

extension PMemStream {
    /// Looks again at what the process that has the stream open for writing has made visible: regions
    /// allocated and freed, and entries written, since the stream was opened or last refreshed.
    ///
    /// A read-only stream's committed watermark is the last timestamp up to which every entry is whole in
    /// the medium: what recovery would find if the writer stopped now, and readers see those entries. Its
    /// persisted watermark is the writer's checkpoint in the stream header, which the writer keeps a few
    /// milliseconds behind its own persisted watermark: entries up to it survive a power failure. A stream
    /// opened for writing sees its own writes as they happen, and this does nothing.
    ///
    /// Followers (`entries(…, follow: true)`) and waits (``waitCommitted(_:)``) of a read-only stream call
    /// this every ``Configuration/followInterval`` by themselves.
    ///
    /// The writer may change the region structure (allocate and free regions) while it is read; the read is
    /// then repeated. When the writer changed it during each of many reads in a row, nothing is updated and
    /// the refresh returns `false`: readers keep the view they had, and the next refresh looks again.
    ///
    /// - Returns: Whether anything changed for readers: the watermark rose, or a region they knew went away.
    /// - Throws: ``PMemStreamError/Code/streamClosed``, or ``PMemStreamError/Code/damagedStream`` when the
    ///   region structure is damaged.
    @discardableResult
    public func refresh() throws(PMemStreamError) -> Bool {
        try self.attemptRefresh() ?? false
    }

    /// ``refresh()``, or `nil` when the writer changed the region chain during each of many reads in a row and
    /// nothing was updated.
    func attemptRefresh() throws(PMemStreamError) -> Bool? {
        try self.checkOpen()
        guard self.configuration.access == .readOnly else { return false }
        guard let snapshot = try StreamSnapshot.read(medium: self.medium, layout: self.allocator.layout) else {
            return nil
        }
        var changed = false
        // Caps first, then the watermark: a reader that sees the new watermark must see the caps it relies on.
        for (offset, state) in self.regionStates {
            if let extent = snapshot.allocator.region(at: offset), extent.sequence == state.region.sequence {
                state.adopt(timestampCap: extent.timestampCap, checkpointTail: extent.checkpointTail)
            } else {
                state.confirmFreed()
                self.regionStates[offset] = nil
                changed = true
            }
        }
        self.allocator = snapshot.allocator
        if snapshot.watermark > self.tracker.committed.value {
            changed = true
        }
        self.tracker.advance(committed: snapshot.watermark, persisted: snapshot.checkpoint)
        return changed
    }

    /// Returns when entries above `limit` may be visible, or a region may have gone away: for a follower,
    /// which then looks again. On a read-only stream it returns after one follow interval and a refresh,
    /// whatever changed: a change found by another task's refresh is seen all the same.
    ///
    /// - Throws: ``PMemStreamError/Code/streamClosed``, ``PMemStreamError/Code/cancelled``, or what
    ///   ``refresh()`` throws.
    nonisolated func waitForChange(after limit: UInt64, nudgeCount: UInt64) async throws(PMemStreamError) {
        guard self.configuration.access == .readOnly else {
            try await self.tracker.waitCommitted(until: limit + 1, followsNudgesSince: nudgeCount)
            return
        }
        try await self.sleepForFollowInterval()
        try await self.refresh()
    }

    /// Returns when a watermark of the read-only stream reaches `timestamp`, refreshing every follow interval.
    ///
    /// - Throws: ``PMemStreamError/Code/streamClosed``, ``PMemStreamError/Code/cancelled``, or what
    ///   ``refresh()`` throws.
    nonisolated func waitForOtherWriter(until timestamp: UInt64, on watermark: Watermark) async throws(PMemStreamError)
    {
        while watermark.value < timestamp {
            try await self.sleepForFollowInterval()
            try await self.refresh()
        }
    }

    private nonisolated func sleepForFollowInterval() async throws(PMemStreamError) {
        do {
            try await Task.sleep(for: self.configuration.followInterval)
        } catch {
            throw PMemStreamError(code: .cancelled, message: "the task was cancelled while following the stream")
        }
    }
}
