/// Walks the entries of one region in order, validating each (see ``EntryHeader/read(at:regionEnd:regionSequence:after:limit:from:)``).
///
/// Used by the writer to find a region's tail, and by every reader. It reads the medium directly.
struct RegionCursor {
    let state: RegionState
    /// The medium's base address, read once: the walk loads every header through it.
    private let base: UnsafeRawPointer
    /// Where the next entry would start.
    private(set) var position: Int
    /// The timestamp of the last entry returned.
    private(set) var lastTimestamp: UInt64 = 0

    init(state: RegionState) {
        self.state = state
        self.base = UnsafeRawPointer(state.medium.baseAddress)
        self.position = state.dataStart
    }

    /// The next entry with a timestamp up to `limit`, or `nil` when there is none (yet).
    ///
    /// Below the published tail every entry must be valid, so an invalid one there is damage; beyond it, or
    /// when no writer has recovered the region, the first invalid entry is the end of the region's entries.
    /// - Throws: ``PMemStreamError/Code/corruptedEntry`` for a damaged entry; its bytes are never returned.
    mutating func next(limit: UInt64) throws(PMemStreamError) -> Entry? {
        let publishedTail = self.state.publishedTail
        if let publishedTail, self.position >= publishedTail {
            return nil
        }
        let limit = min(limit, self.state.timestampCap)
        let reading = EntryHeader.read(
            at: self.position,
            regionEnd: self.state.dataEnd,
            regionSequence: self.state.region.sequence,
            after: self.lastTimestamp,
            limit: limit,
            from: self.base
        )
        switch reading {
        case .entry(let timestamp, let size):
            let entry = Entry(state: self.state, offset: self.position, timestamp: timestamp, size: size)
            self.position += EntryHeader.footprint(dataSize: size)!
            self.lastTimestamp = timestamp
            return entry
        case .end:
            // Below the published tail, an entry that is not valid yet is one not committed yet.
            guard publishedTail != nil, self.base.loadWord(at: self.position) <= limit else { return nil }
            throw self.corrupted()
        case .corrupted:
            throw self.corrupted()
        }
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
