// MARK: - Batches written beside other appends: room under the lock, copies and drain outside it

nonisolated extension RegionWriter {
    /// How many batches are written beside other appends after one that found them under way.
    static let batchesBesideAfterContention = 64

    /// Whether a batch, under ``appendLock``, is written beside other appends: when it found the lock held
    /// (`contended`) or entries of the region in flight, and for ``batchesBesideAfterContention`` batches
    /// after such a one. Two tasks appending batches to one region thus keep writing beside each other; under
    /// the lock, the one that found it free would hold it for its whole batch while the other spun.
    func writesBeside(contended: Bool) -> Bool {
        if contended || !self.inFlight.isEmpty {
            self.batchesBesideLeft = Self.batchesBesideAfterContention
            return true
        }
        guard self.batchesBesideLeft > 0 else { return false }
        self.batchesBesideLeft -= 1
        return true
    }

    /// Takes room and timestamps for `batch` in ``inFlight``, for ``writeBeside(_:into:)``: a batch written
    /// beside other appends holds ``appendLock`` only for this and for its publication, so that two tasks
    /// appending batches to one region copy and drain at once, where under the lock they took turns.
    ///
    /// Stores the terminator after the last entry, but no zero word at the entries' starts: another append
    /// may reserve the next room, and seal an entry at the terminator's place, as soon as the lock is
    /// released, while the entries' own starts are this batch's alone (``writeBeside(_:into:)`` stores them).
    ///
    /// - Parameter places: One element per entry, which receives its place (see
    ///   ``reserve(_:into:marking:uncounted:)``).
    func reserveBeside(_ batch: [[UInt8]], into places: inout [InFlightEntry]) throws(PMemStreamError) {
        try self.reserve(batch, into: &places, marking: false, uncounted: false)
        self.inFlight.append(contentsOf: places)
        let last = places[places.count - 1]
        if self.hasTerminator(after: last) {
            self.base.storeWord(0, at: last.end)
        }
    }

    /// Writes `batch` into `places`, reserved by ``reserveBeside(_:into:)``, without ``appendLock``: as a batch
    /// written alone would (see ``write(_:into:nonTemporally:terminated:)``), after a zero word at each
    /// entry's start when it copies them, and with the terminator, stored at the reservation, flushed with
    /// them; then drains, and publishes what it can under the lock (see ``publishSealedPrefix(durable:)``).
    ///
    /// An entry before them may still be being written, by another task: that task's publication then
    /// publishes these as well, and this one spins until it has (briefly, see ``SpinBackoff``; the wait for
    /// persistence that follows suspends if it takes longer).
    func writeBeside(_ batch: [[UInt8]], into places: [InFlightEntry]) {
        let nonTemporal = self.writesNonTemporally && Self.allSizes(of: batch, within: Self.nonTemporalBatchSizes)
        let first = places[0]
        let last = places[places.count - 1]
        places.withUnsafeBufferPointer { places in
            if !nonTemporal {
                for place in places {
                    self.base.storeWord(0, at: place.offset)
                }
            }
            self.write(batch, into: places, nonTemporally: nonTemporal, terminated: false)
        }
        if nonTemporal, self.hasTerminator(after: last) {
            self.medium.flush(last.end..<last.end + 8)
        }
        self.medium.drain()
        self.appendLock.withLock {
            var index = self.inFlight.firstIndex { $0.offset == first.offset }!
            for _ in places.indices {
                self.inFlight[index].isSealed = true
                index += 1
            }
            self.publishSealedPrefix(durable: (first.timestamp...last.timestamp, last.end))
        }
        var backoff = SpinBackoff()
        while (self.state.publishedTail ?? 0) < last.end, backoff.pause() {}
    }
}
