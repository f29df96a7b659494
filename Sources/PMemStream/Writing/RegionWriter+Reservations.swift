// MARK: - Explicit reservations

nonisolated extension RegionWriter {
    /// Reserves room for an entry of up to `capacity` bytes, to be filled in place and published later.
    ///
    /// The reservation has the region to itself until it is published or abandoned: other appends to the
    /// region wait, and the region cannot be freed. So fill it promptly, and never wait for another append
    /// to this region while holding it. A reservation that is dropped without being published is abandoned:
    /// its room returns to the region, no timestamp is consumed, and no later entry is affected.
    ///
    /// - Parameter capacity: The most bytes the entry may have.
    /// - Returns: The reservation.
    /// - Throws: ``PMemStreamError/Code/entryTooLarge`` when it does not fit; ``PMemStreamError/Code/streamClosed``;
    ///   ``PMemStreamError/Code/cancelled`` when its task is cancelled while another reservation has the region.
    public func reserve(_ capacity: Int) async throws(PMemStreamError) -> Reservation {
        while true {
            let reserved = try self.appendLock.withLock { () throws(PMemStreamError) -> Reservation? in
                guard self.reservation == nil else { return nil }
                let room = try self.beginWriteInPlace(capacity: capacity)
                let id = self.nextReservationID
                self.nextReservationID += 1
                self.reservation = (id, capacity)
                return Reservation(writer: self, id: id, room: room)
            }
            if let reserved {
                return reserved
            }
            try await self.waitForRegion()
        }
    }

    /// Checks that the stream is open and that an entry of up to `capacity` bytes fits, begins a write with
    /// the region (the caller ends it), and returns the room for the entry's data at the tail, scrubbed (see
    /// ``scrubRoom(capacity:)``). Under ``appendLock``.
    func beginWriteInPlace(capacity: Int) throws(PMemStreamError) -> UnsafeMutableRawBufferPointer {
        try self.checkOpen()
        try self.checkFits(count: 1) { _ in capacity }
        try self.state.beginWrites()
        self.scrubRoom(capacity: capacity)
        return UnsafeMutableRawBufferPointer(start: self.base + self.tail + EntryHeader.size, count: capacity)
    }

    /// Publishes the reservation `id` with `size` bytes of data and returns once the entry is persisted.
    func publishReservation(_ id: UInt64, size: Int) async throws(PMemStreamError) -> Entry {
        let entry = try self.appendLock.withLock { () throws(PMemStreamError) -> Entry in
            try self.endReservation(id, publishing: size)
            defer { self.state.endWrites() }
            return try self.writeOneDurably(inPlace: size)
        }
        try await self.groupCommit.waitPersisted(written: entry.timestamp)
        return entry
    }

    /// Publishes the reservation `id` with `size` bytes of data for group commit, and returns at once.
    func publishReservationAsync(_ id: UInt64, size: Int) throws(PMemStreamError) -> AppendReceipt {
        try self.appendLock.withLock { () throws(PMemStreamError) -> AppendReceipt in
            try self.endReservation(id, publishing: size)
            defer { self.state.endWrites() }
            return self.sealForGroupCommit(at: try self.reserve(count: 1) { _ in size }.lowerBound)
        }
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

    /// Ends the reservation `id` without publishing it, unless it has ended: its room returns to the region
    /// and its write with the region ends (so the region can be freed at once).
    func endReservation(_ id: UInt64) {
        self.appendLock.withLock {
            guard self.reservation?.id == id else { return }
            self.releaseRegion()
            self.state.endWrites()
        }
    }

    /// Lets the appends that wait for the region go on.
    private func releaseRegion() {
        self.reservation = nil
        self.resumeRegionWaiters()
    }

    /// Resumes every append that waits for the region; each looks again at why it waited. Also when the
    /// stream closes: a reservation held then can no longer be published, and its waiters end with
    /// ``PMemStreamError/Code/streamClosed``.
    func resumeRegionWaiters() {
        let waiters = self.reservationWaiters.values
        self.reservationWaiters.removeAll()
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Waits while an explicit reservation has the region. The appends look at ``reservation`` under
    /// ``appendLock`` and call it only when one has the region, which spares them an async call (nearly always); they
    /// look again once it returns, since another reservation may have taken the region meanwhile.
    ///
    /// - Throws: ``PMemStreamError/Code/streamClosed`` once the stream is closing,
    ///   ``PMemStreamError/Code/cancelled`` when the task is cancelled; the append has written nothing.
    @usableFromInline
    func waitForRegion() async throws(PMemStreamError) {
        while let id = try self.appendLock.withLock({ () throws(PMemStreamError) -> UInt64? in
            guard self.reservation != nil else { return nil }
            try self.checkOpen()
            try self.checkNotCancelled()
            let id = self.nextRegionWaiterID
            self.nextRegionWaiterID += 1
            return id
        }) {
            await withTaskCancellationHandler {
                await withCheckedContinuation { waiter in
                    // Resumed at once when the reservation ended or the task was cancelled before the
                    // continuation could be registered: the cancellation handler may have run already.
                    let registered = self.appendLock.withLock { () -> Bool in
                        guard self.reservation != nil, !Task.isCancelled else { return false }
                        self.reservationWaiters[id] = waiter
                        return true
                    }
                    if !registered {
                        waiter.resume()
                    }
                }
            } onCancel: {
                // In a task of its own: the task that cancels may be holding this writer's lock.
                Task { self.stopWaitingForRegion(id) }
            }
            // Also when the reservation ended first: a cancelled append never writes.
            try self.checkNotCancelled()
        }
    }

    /// Throws ``PMemStreamError/Code/cancelled`` when the task waiting for the region was cancelled.
    private func checkNotCancelled() throws(PMemStreamError) {
        guard !Task.isCancelled else {
            throw PMemStreamError(
                code: .cancelled,
                message: "the task was cancelled while it waited for a reservation of \(self.region) to end"
            )
        }
    }

    /// Resumes the append waiting for the region under `id`, if it still waits: its task was cancelled.
    private func stopWaitingForRegion(_ id: UInt64) {
        self.appendLock.withLock { self.reservationWaiters.removeValue(forKey: id) }?.resume()
    }
}
