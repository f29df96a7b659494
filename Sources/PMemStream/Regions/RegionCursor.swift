/// Walks the entries of one region in order, validating each (see ``EntryHeader/read(at:regionEnd:regionSequence:after:limit:from:)``).
///
/// Used by the writer to find a region's tail, and by every reader. It reads the medium directly.
struct RegionCursor {
    let state: RegionState
    /// Where the next entry would start.
    private(set) var position: Int
    /// The timestamp of the last entry returned.
    private(set) var lastTimestamp: UInt64 = 0

    init(state: RegionState) {
        self.state = state
        self.position = state.dataStart
    }

    /// The next entry with a timestamp up to `limit`, or `nil` when there is none (yet).
    ///
    /// Before the region's ``RegionState/wholeEntriesEnd`` every entry is whole, so one that fails
    /// validation there is damage; beyond it, the first entry that fails is the end of the region's entries,
    /// whatever it claims: a header torn by a power failure may join a new kind word to a stale timestamp.
    /// - Throws: ``PMemStreamError/Code/corruptedEntry`` for a damaged entry; its bytes are never returned.
    mutating func next(limit: UInt64) throws(PMemStreamError) -> Entry? {
        let publishedTail = self.state.publishedTail
        if let publishedTail, self.position >= publishedTail {
            return nil
        }
        switch self.reading(limit: min(limit, self.state.timestampCap)) {
        case .entry(let timestamp, let size):
            let entry = Entry(state: self.state, offset: self.position, timestamp: timestamp, size: size)
            self.position += EntryHeader.footprint(dataSize: size)!
            self.lastTimestamp = timestamp
            return entry
        case .end, .corrupted:
            guard self.position < self.state.wholeEntriesEnd else { return nil }
            // Whole but above this reader's limit: not committed yet (below the published tail), or
            // checkpointed after the reader's watermark was taken (below a checkpoint tail it read since).
            if case .entry = self.reading(limit: .max) {
                return nil
            }
            throw self.corrupted()
        }
    }

    /// What lies at ``position``, read with `limit`.
    private func reading(limit: UInt64) -> EntryHeader.Reading {
        EntryHeader.read(
            at: self.position,
            regionEnd: self.state.dataEnd,
            regionSequence: self.state.region.sequence,
            after: self.lastTimestamp,
            limit: limit,
            from: self.state.baseAddress
        )
    }

    private func corrupted() -> PMemStreamError {
        guard !self.state.isFreed else { return self.state.freedError() }
        return PMemStreamError(
            code: .corruptedEntry,
            message:
                "the entry at offset \(self.position) of \(self.state.region) fails its checksum: the medium is damaged there"
        )
    }
}
