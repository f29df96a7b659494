/// The crash-safe allocator of regions: block-aligned extents of any size (see `Docs/Format.md`,
/// "Allocating" and "Freeing").
///
/// The persistent state is the chain of extent headers that tiles the extent area; there is no other
/// allocator metadata. The allocator keeps a copy of the chain in DRAM, sorted by offset, with adjacent
/// free extents merged. Allocation is best fit (the smallest free extent that holds the region, the lowest
/// offset among equals), which keeps large free extents whole. Every allocation commits with one atomic
/// 8-byte store after one prepared persist; every free is one atomic 8-byte store that also merges the
/// freed region with its free neighbours.
///
/// Not thread-safe: the ``PMemStream`` actor owns it.
struct RegionAllocator {
    /// One extent of the chain, as the allocator remembers it.
    struct Extent: Hashable, Sendable {
        var offset: Int
        var size: Int
        var state: ExtentHeader.State
        var sequence: UInt64
        /// A region's timestamp cap as it was read at open (``ExtentHeader/noCap`` for new regions).
        var timestampCap: UInt64 = ExtentHeader.noCap
        /// A region's checkpoint tail as it was read at open (its first entry for new regions).
        var checkpointTail: Int = 0

        /// The offset of a region's first entry.
        var dataStart: Int { self.offset + ExtentHeader.size }
    }

    let layout: StreamLayout
    private let medium: any PersistentMedium
    /// The chain, sorted by offset; no two neighbours are both free.
    private(set) var extents: [Extent]
    /// The regions' offsets, in allocation order (increasing sequence numbers).
    private var regionOffsetsBySequence: [(sequence: UInt64, offset: Int)]
    private var nextSequence: UInt64
    /// The offsets of the free extents that were merged from several on the medium when the chain was
    /// loaded (see ``mergeFreeNeighbours()``).
    private var mergedOnlyInMemory: [Int] = []

    /// Loads the chain of a valid stream. Reads only: a damaged chain throws and nothing is written.
    ///
    /// - Throws: ``PMemStreamError/Code/damagedStream`` when an extent header is missing or inconsistent.
    init(loadingFrom medium: any PersistentMedium, layout: StreamLayout) throws(PMemStreamError) {
        self.layout = layout
        self.medium = medium
        self.extents = []
        var regions: [(sequence: UInt64, offset: Int)] = []
        var offset = layout.extentsStart
        while offset < layout.extentsEnd {
            guard let header = ExtentHeader.read(at: offset, from: medium) else {
                throw Self.damaged("no extent header at offset \(offset)")
            }
            guard header.extentSize >= layout.blockSize, header.extentSize % layout.blockSize == 0,
                header.extentSize <= layout.extentsEnd - offset
            else {
                throw Self.damaged("extent at offset \(offset) has an impossible size \(header.extentSize)")
            }
            if header.state == .region {
                guard header.sequence > 0 else {
                    throw Self.damaged("region at offset \(offset) has no sequence number")
                }
                guard header.checkpointTail >= offset + ExtentHeader.size,
                    header.checkpointTail <= offset + header.extentSize, header.checkpointTail % 8 == 0
                else {
                    throw Self.damaged("region at offset \(offset) has an impossible checkpoint tail")
                }
                regions.append((header.sequence, offset))
            }
            let extent = Extent(
                offset: offset,
                size: header.extentSize,
                state: header.state,
                sequence: header.sequence,
                timestampCap: header.timestampCap,
                checkpointTail: header.checkpointTail
            )
            if extent.state == .free, let last = self.extents.last, last.state == .free {
                self.extents[self.extents.count - 1].size += extent.size
                if self.mergedOnlyInMemory.last != last.offset {
                    self.mergedOnlyInMemory.append(last.offset)
                }
            } else {
                self.extents.append(extent)
            }
            offset += header.extentSize
        }
        regions.sort { $0.sequence < $1.sequence }
        for (previous, next) in zip(regions, regions.dropFirst()) where previous.sequence == next.sequence {
            throw Self.damaged("regions at offsets \(previous.offset) and \(next.offset) share a sequence number")
        }
        self.regionOffsetsBySequence = regions
        let highWater = medium.loadWord(at: StreamHeader.Field.regionSequence)
        guard highWater < UInt64.max >> 1 else {
            throw Self.damaged("the region sequence high-water mark \(highWater) is impossible")
        }
        if let last = regions.last, last.sequence >= UInt64.max >> 1 {
            throw Self.damaged("the region at \(last.offset) has the impossible sequence number \(last.sequence)")
        }
        let highest = max(regions.last?.sequence ?? 0, highWater)
        self.nextSequence = highest + 1
    }

    // MARK: - Queries

    /// The region whose header is at `offset`, if there is one.
    func region(at offset: Int) -> Extent? {
        guard let index = self.index(of: offset), self.extents[index].state == .region else { return nil }
        return self.extents[index]
    }

    /// Up to `limit` regions that were allocated after the region with sequence number `sequence`, in
    /// allocation order.
    func regions(allocatedAfter sequence: UInt64, limit: Int) -> [Extent] {
        var low = 0
        var high = self.regionOffsetsBySequence.count
        while low < high {
            let middle = (low + high) / 2
            if self.regionOffsetsBySequence[middle].sequence <= sequence { low = middle + 1 } else { high = middle }
        }
        return self.regionOffsetsBySequence[low..<min(low + limit, self.regionOffsetsBySequence.count)].map {
            self.region(at: $0.offset)!
        }
    }

    /// The number of regions.
    var regionCount: Int {
        self.regionOffsetsBySequence.count
    }

    /// The bytes not held by any region, headers included.
    var freeBytes: Int {
        self.extents.lazy.filter { $0.state == .free }.map(\.size).reduce(0, +)
    }

    // MARK: - Allocate

    /// The extent size that holds a region of `dataSize` bytes, or an error for sizes that cannot be regions.
    func extentSize(forDataSize dataSize: Int) throws(PMemStreamError) -> Int {
        guard dataSize > 0, dataSize < 1 << 62,
            let extentSize = (dataSize + ExtentHeader.size).alignedUp(to: self.layout.blockSize),
            extentSize <= ExtentHeader.maximumExtentSize
        else {
            throw PMemStreamError(
                code: .invalidRegionSize,
                message: "region size \(dataSize) must be at least 1 and less than 2^62"
            )
        }
        return extentSize
    }

    /// Allocates a region that holds at least `dataSize` bytes.
    ///
    /// Two persist points: the prepared headers, then the committing state word.
    /// - Returns: The new region's extent.
    /// - Throws: ``PMemStreamError/Code/invalidRegionSize`` or ``PMemStreamError/Code/noSpaceForRegion``;
    ///   the medium is not touched then.
    mutating func allocate(dataSize: Int) throws(PMemStreamError) -> Extent {
        let size = try self.extentSize(forDataSize: dataSize)
        guard let index = self.bestFit(size) else {
            let largest = self.extents.lazy.filter { $0.state == .free }.map(\.size).max() ?? 0
            throw PMemStreamError(
                code: .noSpaceForRegion,
                message: "a region of \(dataSize) bytes needs a free extent of \(size) bytes; "
                    + "the largest has \(largest) (\(self.freeBytes) bytes free in all)"
            )
        }
        let free = self.extents[index]
        let region = Extent(
            offset: free.offset,
            size: size,
            state: .region,
            sequence: self.nextSequence,
            checkpointTail: free.offset + ExtentHeader.size
        )

        // Prepare, invisibly: the header of the free remainder lies inside the free extent, and the new
        // region's fields are ignored while the extent is free. The first word of the region's data is
        // zeroed: a terminator, so no entry left over from earlier use of these bytes is ever reached.
        // Then make all of it durable at once.
        let remainder = free.size - size
        if remainder > 0 {
            ExtentHeader.storeFree(at: free.offset + size, extentSize: remainder, on: self.medium)
            self.medium.flush(free.offset + size..<free.offset + size + ExtentHeader.size)
        }
        self.medium.storeWord(region.sequence, at: region.offset + ExtentHeader.Field.sequence)
        self.medium.storeWord(ExtentHeader.noCap, at: region.offset + ExtentHeader.Field.timestampCap)
        self.medium.storeWord(UInt64(region.dataStart), at: region.offset + ExtentHeader.Field.checkpointTail)
        self.medium.storeWord(0, at: region.dataStart)
        self.medium.flush(region.offset..<region.offset + ExtentHeader.size + 8)
        self.medium.storeWord(region.sequence, at: StreamHeader.Field.regionSequence)
        self.medium.flush(StreamHeader.Field.regionSequence..<StreamHeader.Field.regionSequence + 8)
        self.medium.drain()

        // Commit: one atomic store turns the free extent into the region.
        self.medium.storeWord(ExtentHeader.stateWord(.region, extentSize: size), at: region.offset)
        self.medium.persist(region.offset..<region.offset + 8)

        self.nextSequence += 1
        self.extents[index] = region
        if remainder > 0 {
            self.extents.insert(
                Extent(offset: free.offset + size, size: remainder, state: .free, sequence: 0),
                at: index + 1
            )
        }
        self.regionOffsetsBySequence.append((region.sequence, region.offset))
        return region
    }

    private func bestFit(_ size: Int) -> Int? {
        var best: Int?
        for (index, extent) in self.extents.enumerated() where extent.state == .free && extent.size >= size {
            if best == nil || extent.size < self.extents[best!].size {
                best = index
            }
        }
        return best
    }

    // MARK: - Free

    /// Frees the region at `offset`, merging it with free neighbours.
    ///
    /// One persist point: a single atomic store of the state word of the merged free extent.
    /// - Throws: ``PMemStreamError/Code/notARegion`` when no region starts at `offset`; nothing is written then.
    mutating func free(regionAt offset: Int) throws(PMemStreamError) {
        guard let index = self.index(of: offset), self.extents[index].state == .region else {
            throw PMemStreamError(code: .notARegion, message: "no region starts at offset \(offset)")
        }
        let freed = self.extents[index]
        var first = index
        var last = index
        if index > 0, self.extents[index - 1].state == .free {
            first = index - 1
        }
        if index + 1 < self.extents.count, self.extents[index + 1].state == .free {
            last = index + 1
        }
        let start = self.extents[first].offset
        let size = self.extents[first...last].reduce(0) { $0 + $1.size }

        self.medium.storeWord(ExtentHeader.stateWord(.free, extentSize: size), at: start)
        self.medium.persist(start..<start + 8)

        self.extents.replaceSubrange(first...last, with: [Extent(offset: start, size: size, state: .free, sequence: 0)])
        let position = self.regionOffsetsBySequence.firstIndex { $0.sequence == freed.sequence }!
        self.regionOffsetsBySequence.remove(at: position)
    }

    // MARK: - Merging free neighbours

    /// Merges on the medium the adjacent free extents that loading merged in DRAM: for each run, one atomic
    /// store of the first extent's state word with the size of the whole run. One persist point when there
    /// was any, none otherwise.
    ///
    /// The allocator never leaves two free extents side by side, but the format allows them (`Docs/Format.md`,
    /// "Valid chain"). An allocation from such a run would prepare the new region's terminator, or its free
    /// remainder's header, where the next free extent's header still lies in the chain: a power failure before
    /// its commit would then leave a chain broken there. Each store only makes one free extent cover its free
    /// neighbours, so whichever of them reach the medium, the chain stays valid and holds the same regions.
    mutating func mergeFreeNeighbours() {
        for offset in self.mergedOnlyInMemory {
            guard let index = self.index(of: offset), self.extents[index].state == .free else { continue }
            self.medium.storeWord(ExtentHeader.stateWord(.free, extentSize: self.extents[index].size), at: offset)
            self.medium.flush(offset..<offset + 8)
        }
        if !self.mergedOnlyInMemory.isEmpty {
            self.medium.drain()
            self.mergedOnlyInMemory = []
        }
    }

    // MARK: - Timestamp caps

    /// The regions that were writable in the last session: their cap is ``ExtentHeader/noCap``.
    var writableRegions: [Extent] {
        self.extents.filter { $0.state == .region && $0.timestampCap == ExtentHeader.noCap }
    }

    /// Caps every region that was writable in the last session at the persisted watermark, so that entries
    /// written after it stay hidden, and stores its checkpoint tail from `checkpointTails` (by offset): the
    /// end of its entries at or below the watermark, which the header's checkpoint now is, so that damage
    /// to any of them is reported (see `Docs/Format.md`, "Recovery"). Regions that still carry a cap from an
    /// earlier session keep it. One persist point when any region is capped, none otherwise; running it
    /// again with the same watermark changes nothing, so a crash part-way is harmless.
    mutating func capWritableRegions(at watermark: UInt64, checkpointTails: [Int: Int]) {
        var capped = false
        for index in self.extents.indices
        where self.extents[index].state == .region
            && self.extents[index].timestampCap == ExtentHeader.noCap
        {
            let offset = self.extents[index].offset
            let tail = checkpointTails[offset] ?? self.extents[index].checkpointTail
            self.medium.storeWord(watermark, at: offset + ExtentHeader.Field.timestampCap)
            self.medium.storeWord(UInt64(tail), at: offset + ExtentHeader.Field.checkpointTail)
            self.medium.flush(offset + ExtentHeader.Field.timestampCap..<offset + ExtentHeader.Field.checkpointTail + 8)
            self.extents[index].timestampCap = watermark
            self.extents[index].checkpointTail = tail
            capped = true
        }
        if capped {
            self.medium.drain()
        }
    }

    /// Moves checkpoint tails forward in this allocator only, by offset: for a read-only stream, which writes
    /// nothing, the end of the entries its snapshot found whole in each region it walked.
    mutating func assumeCheckpointTails(_ tails: [Int: Int]) {
        for index in self.extents.indices {
            if let tail = tails[self.extents[index].offset] {
                self.extents[index].checkpointTail = max(self.extents[index].checkpointTail, tail)
            }
        }
    }

    // MARK: - Private

    private func index(of offset: Int) -> Int? {
        var low = 0
        var high = self.extents.count
        while low < high {
            let middle = (low + high) / 2
            if self.extents[middle].offset < offset { low = middle + 1 } else { high = middle }
        }
        return low < self.extents.count && self.extents[low].offset == offset ? low : nil
    }

    private static func damaged(_ reason: String) -> PMemStreamError {
        PMemStreamError(code: .damagedStream, message: "the region structure is damaged: \(reason)")
    }
}
