import Synchronization

/// What a read-only stream sees of a stream that another process may be writing at the same moment: the
/// region chain, and the watermark up to which every entry is whole in the medium. Reading it writes
/// nothing (see `Docs/Format.md`, "One writer, and readers in other processes").
struct StreamSnapshot {
    /// The region chain, with each region's timestamp cap as the writer left it.
    let allocator: RegionAllocator
    /// The watermark checkpoint in the stream header: every entry up to it is durable.
    let checkpoint: UInt64
    /// Every entry up to this timestamp is whole in the medium, in a region of ``allocator``; at least
    /// ``checkpoint``.
    let watermark: UInt64

    /// How many times the chain may change under the reader before it gives up.
    private static let attempts = 100

    /// Reads the writer's recovery count, the checkpoint, then the chain, then the entries after the
    /// checkpoint in the regions the writer may be appending to (those without a cap), as recovery does;
    /// then reads the chain again and the recovery count, and starts over if either changed meanwhile, so
    /// that every cap the walk relied on held during the whole walk. Each read comes after the one before
    /// it (acquire fences: the writer's stores are seen in the order it made them).
    ///
    /// - Throws: ``PMemStreamError/Code/damagedStream`` when the chain is damaged, or kept changing.
    init(medium: any PersistentMedium, layout: StreamLayout) throws(PMemStreamError) {
        var lastError: PMemStreamError?
        for _ in 0..<Self.attempts {
            do throws(PMemStreamError) {
                let recoveries = medium.loadWord(at: StreamHeader.Field.recoveryCount)
                atomicMemoryFence(ordering: .acquiring)
                let checkpoint = medium.loadWord(at: StreamHeader.Field.persistedTimestamp)
                atomicMemoryFence(ordering: .acquiring)
                let allocator = try RegionAllocator(loadingFrom: medium, layout: layout)
                atomicMemoryFence(ordering: .acquiring)
                let (watermark, _) = WatermarkRecovery.recoveredWatermark(
                    checkpoint: checkpoint,
                    regions: allocator.writableRegions,
                    medium: medium
                )
                atomicMemoryFence(ordering: .acquiring)
                let again = try RegionAllocator(loadingFrom: medium, layout: layout)
                atomicMemoryFence(ordering: .acquiring)
                if Self.shape(of: again) == Self.shape(of: allocator),
                    medium.loadWord(at: StreamHeader.Field.recoveryCount) == recoveries
                {
                    self.allocator = allocator
                    self.checkpoint = checkpoint
                    self.watermark = watermark
                    return
                }
            } catch {
                lastError = error  // read in the middle of a change: read again
            }
        }
        throw lastError
            ?? PMemStreamError(
                code: .damagedStream,
                message: "the region chain changed \(Self.attempts) times while it was read; try again"
            )
    }

    /// The chain without the checkpoint tails, which the writer moves forward all the time and which only
    /// tell where a walk may start.
    private static func shape(of allocator: RegionAllocator) -> [RegionAllocator.Extent] {
        allocator.extents.map { extent in
            var extent = extent
            extent.checkpointTail = 0
            return extent
        }
    }
}
