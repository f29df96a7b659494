#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Asynchronous appends: written on return, durable by group commit

nonisolated extension RegionWriter {
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
    ///   ``PMemStreamError/Code/regionFreed``, ``PMemStreamError/Code/streamClosed``;
    ///   ``PMemStreamError/Code/cancelled`` when its task is cancelled while it waits for room or for an
    ///   explicit reservation of the region to end. Each writes nothing.
    @inlinable
    public func appendAsync(_ bytes: [UInt8]) async throws(PMemStreamError) -> AppendReceipt {
        if let receipt = try self.appendAsyncInPlaceIfFree(bytes) {
            return receipt
        }
        return try await self.appendAsyncAfterWaiting(bytes)
    }

    /// ``appendAsync(_:)`` when the queue has room, the writer copies in place (the ``SynchronousDataMover``)
    /// and no explicit reservation has the region: the usual case, with no suspension.
    ///
    /// - Returns: The receipt, or `nil` when the append must wait or hand its copy to the data mover
    ///   (nothing is written then).
    @usableFromInline
    func appendAsyncInPlaceIfFree(_ bytes: [UInt8]) throws(PMemStreamError) -> AppendReceipt? {
        guard self.copiesInPlace, !self.groupCommit.isFull else { return nil }
        return try self.appendLock.withLock { () throws(PMemStreamError) -> AppendReceipt? in
            guard self.reservation == nil else { return nil }
            return try self.appendAsyncInPlace(bytes)
        }
    }

    /// ``appendAsync(_:)`` past its usual case: waits for room in the queue, for an explicit reservation to
    /// end, or for the data mover's copy.
    @usableFromInline
    func appendAsyncAfterWaiting(_ bytes: [UInt8]) async throws(PMemStreamError) -> AppendReceipt {
        // Room in the queue first, then the region: the loop below finds no explicit reservation holding
        // it and reserves under one hold of the lock.
        if self.groupCommit.isFull {
            await self.groupCommit.waitForRoom()
            guard !Task.isCancelled else {
                throw PMemStreamError(code: .cancelled, message: "the task was cancelled while it waited for room")
            }
        }
        while true {
            // The receipt comes back as an optional, and the reserved offset through `reserved`: a receipt
            // inside an enum was copied out of it and the enum destroyed, a retain and a release per append.
            var reserved: Int?
            let appended = try self.appendLock.withLock { () throws(PMemStreamError) -> AppendReceipt? in
                guard self.reservation == nil else { return nil }
                guard !self.copiesInPlace else {
                    return try self.appendAsyncInPlace(bytes)
                }
                let index = try self.reserve(count: 1) { _ in bytes.count }.lowerBound
                reserved = self.inFlight[index].offset
                return nil
            }
            if let appended {
                return appended
            }
            guard let offset = reserved else {
                try await self.waitForRegion()
                continue
            }
            // Reserved, for the data mover to copy the data in.
            let dataOffset = offset + EntryHeader.size
            await self.dataMover.copy(bytes, toOffset: dataOffset, of: self.medium)
            self.completeCopy(of: bytes, at: dataOffset)
            // Other appends may have been reserved, sealed and published while the copy ran: find it again.
            return self.appendLock.withLock {
                self.sealForGroupCommit(at: self.inFlight.firstIndex { $0.offset == offset }!)
            }
        }
    }

    /// Reserves, copies, seals, queues and publishes an entry, with ``appendLock`` held and the region free
    /// of explicit reservations, for a writer that copies in place.
    private func appendAsyncInPlace(_ bytes: [UInt8]) throws(PMemStreamError) -> AppendReceipt {
        if self.inFlight.isEmpty {
            return try bytes.span.bytes.withUnsafeBytes { (buffer) throws(PMemStreamError) in
                try self.appendAloneForGroupCommit(copying: buffer)
            }
        }
        let index = try self.reserve(count: 1) { _ in bytes.count }.lowerBound
        let dataOffset = self.inFlight[index].offset + EntryHeader.size
        bytes.withUnsafeBytes { self.medium.copy(toOffset: dataOffset, from: $0, flags: .noFlush) }
        return self.sealForGroupCommit(at: index)
    }

    /// An asynchronous append through the ``SynchronousDataMover`` when no other entry is in flight: as
    /// for a lone synchronous append, the entry never enters ``inFlight`` (nothing can come between its
    /// reservation and its publication), and it is reserved, copied, sealed, queued and then published as
    /// through the list. A large entry's data is flushed as it is copied (see
    /// ``copyAndSeal(_:from:streamingFrom:piecesAbove:)``), and the round flushes the rest.
    ///
    /// Published before the lock is released, an entry that is not streamed is not counted as a write under
    /// way (see ``RegionState/checkWritable()``): 64 B appends took 139 ns so against 147, 1 KiB 256 against
    /// 295 (medians of eight alternating pairs on a Zen 5 CPU). Streamed ones still are: uncounted, 4 KiB
    /// appends took 459 ns against 391, and 376 with a locked instruction in place of the count's release —
    /// not understood (Docs/Performance.md, twenty-third pass).
    private func appendAloneForGroupCommit(copying buffer: UnsafeRawBufferPointer) throws(PMemStreamError)
        -> AppendReceipt
    {
        var reserved: InFlightEntry?
        let threshold = self.streamingFrom
        // Streamed when the data reaches the threshold (see `streamedLines(entryOffset:dataSize:threshold:)`).
        let counted = threshold.map { buffer.count >= $0 } ?? false
        try self.reserve(count: 1, size: { _ in buffer.count }, uncounted: !counted) { reserved = $0 }
        let entry = reserved!
        let streamedLines = self.copyAndSeal(
            entry,
            from: buffer,
            streamingFrom: threshold,
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
            in: self.queue
        )
        self.state.published(upTo: entry.end)
        self.tracker.publishedQueued(in: &self.lane, next: LaneFloors.none, last: entry.timestamp)
        if counted {
            self.state.endWrites(1)
        }
        return AppendReceipt(writer: self, entry: entry)
    }

    /// Copies `bytes` to `offset` again, itself, unless the data mover left them all in place there: a mover
    /// that gave up, failed or was cancelled halfway does not get an entry sealed over other bytes. Needs no
    /// lock: the room is reserved for this entry alone.
    private func completeCopy(of bytes: [UInt8], at offset: Int) {
        guard !bytes.isEmpty else { return }
        let inPlace = self.medium.bytes(offset..<offset + bytes.count)
        let complete = bytes.withUnsafeBytes { memcmp($0.baseAddress!, inPlace.baseAddress!, bytes.count) == 0 }
        guard !complete else { return }
        bytes.withUnsafeBytes { self.medium.copy(toOffset: offset, from: $0, flags: .noFlush) }
    }

    /// Seals the reserved entry at `index` in ``inFlight``, whose data is in place, queues it for group
    /// commit and publishes what can be: the end of every asynchronous append.
    func sealForGroupCommit(at index: Int) -> AppendReceipt {
        let reserved = self.inFlight[index]
        let dataOffset = reserved.offset + EntryHeader.size
        self.seal(at: index, data: self.medium.bytes(dataOffset..<dataOffset + reserved.size))
        self.groupCommit.enqueue(
            GroupCommit.Queued(
                timestamp: reserved.timestamp,
                start: reserved.offset,
                end: reserved.end,
                region: self.state
            ),
            in: self.queue
        )
        self.publishSealedPrefix()
        return AppendReceipt(writer: self, entry: reserved)
    }
}
