/// Finds the persisted watermark after a restart (see `Docs/Format.md`, "Recovery").
///
/// The stream header holds a *checkpoint* of the watermark, written in the background. Entries appended
/// after it are durable on their own: synchronous appends drain their entry and return without writing
/// the header. So the watermark after a restart is the checkpoint, extended over every following timestamp
/// whose entry is found whole, for as long as they are contiguous. Only the regions written in the last
/// session can hold such entries, and only after their checkpoint tails, so the walk costs time in
/// proportion to the entries written since the last checkpoint, never to all entries.
enum WatermarkRecovery {
    /// The recovered watermark, and what the walk read to find it.
    ///
    /// - Parameters:
    ///   - checkpoint: The watermark stored in the stream header.
    ///   - regions: The regions that were writable in the last session.
    ///   - medium: The medium.
    /// - Returns: The watermark; for each region the bytes the walk read: from its checkpoint tail through
    ///   the header-sized word run where the walk stopped (where the region's writer later cuts its tail),
    ///   within the region; and for each region its checkpoint tail at the watermark: the end of the last
    ///   entry the walk found at or below it (its checkpoint tail when none).
    /// - Throws: ``PMemStreamError/Code/damagedStream`` for a checkpoint no stream can reach (2⁶³ or more:
    ///   the clock would overflow).
    static func recoveredWatermark(
        checkpoint: UInt64,
        regions: [RegionAllocator.Extent],
        medium: any PersistentMedium
    ) throws(PMemStreamError) -> (watermark: UInt64, read: [Range<Int>], tails: [Int]) {
        guard checkpoint < UInt64.max >> 1 else {
            throw PMemStreamError(
                code: .damagedStream,
                message: "the persisted watermark \(checkpoint) in the stream header is impossible"
            )
        }
        var found = Set<UInt64>()
        var read: [Range<Int>] = []
        // Per region, the entries the walk found, in offset order: their timestamps increase the same way.
        var walked: [[(timestamp: UInt64, end: Int)]] = []
        let base = UnsafeRawPointer(medium.baseAddress)
        for region in regions {
            var offset = region.checkpointTail
            var previous: UInt64 = 0
            var entries: [(timestamp: UInt64, end: Int)] = []
            walk: while true {
                let reading = EntryHeader.read(
                    at: offset,
                    regionEnd: region.offset + region.size,
                    regionSequence: region.sequence,
                    after: previous,
                    limit: .max,
                    from: base
                )
                guard case .entry(let timestamp, let size) = reading else { break walk }
                if timestamp > checkpoint {
                    found.insert(timestamp)
                }
                previous = timestamp
                offset += EntryHeader.footprint(dataSize: size)!
                entries.append((timestamp, offset))
            }
            read.append(region.checkpointTail..<min(offset + EntryHeader.size, region.offset + region.size))
            walked.append(entries)
        }
        var recovered = checkpoint
        while found.contains(recovered + 1) {
            recovered += 1
        }
        let tails = zip(regions, walked).map { region, entries in
            entries.last { $0.timestamp <= recovered }?.end ?? region.checkpointTail
        }
        return (recovered, read, tails)
    }
}
