import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a read-only stream sees of a stream that another process may be writing at the same moment: the
/// region chain, and the watermark up to which every entry is whole in the medium. Reading it writes
/// nothing (see `Docs/Format.md`, "One writer, and readers in other processes").
struct StreamSnapshot {
    /// The region chain, with each region's timestamp cap as the writer left it, and the checkpoint tails of
    /// the regions without a cap moved over the entries the snapshot found whole (in memory only).
    let allocator: RegionAllocator
    /// The watermark checkpoint in the stream header: every entry up to it is durable.
    let checkpoint: UInt64
    /// Every entry up to this timestamp is whole in the medium, in a region of ``allocator``; at least
    /// ``checkpoint``.
    let watermark: UInt64

    /// How many times in a row a read may find the chain changed before ``read(medium:layout:patience:)``
    /// pauses.
    private static let attempts = 100
    /// How long a reader waits, at most, for the writer to leave the chain still during one read: when it
    /// opens the stream, and when it finds out whether a region was freed.
    static let patience = Duration.seconds(1)

    private init(allocator: RegionAllocator, checkpoint: UInt64, watermark: UInt64) {
        self.allocator = allocator
        self.checkpoint = checkpoint
        self.watermark = watermark
    }

    /// Reads a snapshot, as often as it takes for the chain to hold still during one read, for about
    /// `patience`: ``attempts`` reads in a row, then a pause (see ``Pauses``), and again.
    ///
    /// Each read takes the writer's recovery count, the checkpoint, then the chain, then the entries after
    /// the checkpoint in the regions the writer may be appending to (those without a cap), as recovery does;
    /// then it reads the chain again and the recovery count, and it counts only if neither changed
    /// meanwhile, so that every cap the walk relied on held during the whole walk. Each load comes after the
    /// one before it (acquire fences: the writer's stores are seen in the order it made them).
    ///
    /// A chain that changed is sound: the writer runs only on a sound chain, and was changing it. A read
    /// that fails may have met a change half made (a walk fails only across an allocation, which raises the
    /// region sequence high-water mark in the stream header). Memory that holds still fails a read the same
    /// way every time and keeps that mark, so reads that fail differently, or with another mark, saw it
    /// change too; only when every read failed the same way, with the same mark, is the chain damaged.
    ///
    /// - Returns: The snapshot, or `nil` when the writer changed the chain during every read.
    /// - Throws: ``PMemStreamError/Code/damagedStream`` when the chain is damaged.
    static func read(
        medium: any PersistentMedium,
        layout: StreamLayout,
        patience: Duration
    ) throws(PMemStreamError) -> StreamSnapshot? {
        var pauses = Pauses(patience: patience)
        while true {
            if let snapshot = try Self.read(medium: medium, layout: layout) {
                return snapshot
            }
            guard let pause = pauses.next() else { return nil }
            usleep(UInt32(pause / .microseconds(1)))
        }
    }

    /// Up to ``attempts`` reads in a row, without pauses (see ``read(medium:layout:patience:)``).
    static func read(medium: any PersistentMedium, layout: StreamLayout) throws(PMemStreamError)
        -> StreamSnapshot?
    {
        var lastFailure: (error: PMemStreamError, marks: (UInt64, UInt64))?
        var sawChange = false
        for _ in 0..<Self.attempts {
            let recoveries = medium.loadWord(at: StreamHeader.Field.recoveryCount)
            let sequence = medium.loadWord(at: StreamHeader.Field.regionSequence)
            atomicMemoryFence(ordering: .acquiring)
            do throws(PMemStreamError) {
                let checkpoint = medium.loadWord(at: StreamHeader.Field.persistedTimestamp)
                atomicMemoryFence(ordering: .acquiring)
                var allocator = try RegionAllocator(loadingFrom: medium, layout: layout)
                atomicMemoryFence(ordering: .acquiring)
                let writable = allocator.writableRegions
                let (watermark, _, tails) = try WatermarkRecovery.recoveredWatermark(
                    checkpoint: checkpoint,
                    regions: writable,
                    medium: medium
                )
                atomicMemoryFence(ordering: .acquiring)
                let again = try RegionAllocator(loadingFrom: medium, layout: layout)
                atomicMemoryFence(ordering: .acquiring)
                if Self.shape(of: again) == Self.shape(of: allocator),
                    medium.loadWord(at: StreamHeader.Field.recoveryCount) == recoveries
                {
                    // The entries the walk found whole are as good as checkpointed for this reader.
                    let walkedTails = Dictionary(uniqueKeysWithValues: zip(writable.map(\.offset), tails))
                    allocator.assumeCheckpointTails(walkedTails)
                    return StreamSnapshot(allocator: allocator, checkpoint: checkpoint, watermark: watermark)
                }
                sawChange = true
            } catch {
                // Read in the middle of a change, or damaged: read again.
                let failure = (error: error, marks: (recoveries, sequence))
                if let lastFailure, lastFailure.error != failure.error || lastFailure.marks != failure.marks {
                    sawChange = true
                }
                lastFailure = failure
            }
        }
        if !sawChange, let lastFailure {
            throw lastFailure.error
        }
        return nil
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

    /// The pauses between reads of a chain that keeps changing: 10 µs, doubling up to 10 ms, so that a writer
    /// that changes the chain without pause is not held up by readers, and a reader finds the chain still soon
    /// after the writer stops. They go on for a given patience in all, and for at least ``minimumCount`` pauses
    /// however long each took: a reader whose threads were busy elsewhere still reads again.
    struct Pauses: IteratorProtocol {
        /// How many pauses there are at least.
        static let minimumCount = 10
        private let deadline: ContinuousClock.Instant
        private var pause = Duration.microseconds(10)
        private var count = 0

        init(patience: Duration) {
            self.deadline = ContinuousClock.now + patience
        }

        /// The next pause, or `nil` when the pauses are over.
        mutating func next() -> Duration? {
            guard self.count < Self.minimumCount || ContinuousClock.now + self.pause < self.deadline else {
                return nil
            }
            defer {
                self.count += 1
                self.pause = min(self.pause * 2, .milliseconds(10))
            }
            return self.pause
        }
    }
}
