import Synchronization

/// An append-only log in persistent memory, divided into regions.
///
/// A stream lives on a ``PersistentMedium``: a file or DAX device mapped through libpmem2 (``open(path:size:configuration:)``)
/// or a medium you mapped yourself (``init(medium:configuration:)``). A zero-filled medium is formatted; a
/// valid stream is opened and recovered; anything else is an error and the medium is left untouched.
///
/// The actor owns the medium and the region allocator: allocating and freeing regions run on it, and every
/// allocate and free is atomic across a power failure.
///
/// ```swift
/// let stream = try await PMemStream.open(path: "/mnt/pmem0/log", size: 1 << 30)
/// let region = try await stream.allocateRegion(size: 1 << 20)
/// for try await region in stream.regions {
///     print(region)
/// }
/// try await stream.free(region)
/// try await stream.close()
/// ```
public actor PMemStream {
    /// The on-media format version this build writes and reads (`Docs/Format.md`).
    public static let formatVersion = Int(StreamHeader.currentFormatVersion)

    /// The configuration the stream was opened with.
    public nonisolated let configuration: Configuration
    /// The stream's block size.
    public nonisolated let blockSize: Int
    /// The size of the medium in bytes.
    public nonisolated let size: Int
    /// The store granularity of the medium.
    public nonisolated let granularity: StoreGranularity
    /// The NUMA node of the medium, when known.
    public nonisolated let numaNode: Int?

    /// Where the persist workers run, and why.
    ///
    /// What the workers ended up with: they have bound themselves, or failed to, before the stream's
    /// initializer returns. When binding fails, the workers run unbound and this says why (see
    /// ``ResolvedPlacement``); it also says when there is no worker to place.
    public nonisolated let persistPlacement: ResolvedPlacement

    let medium: any PersistentMedium
    let tracker: DurabilityTracker
    let groupCommit: GroupCommit
    let workers: PersistWorkers?
    var allocator: RegionAllocator
    /// The regions read or written in this session, by offset.
    var regionStates: [Int: RegionState] = [:]
    /// The writers made so far, by region offset.
    private var writers: [Int: RegionWriter] = [:]
    private var closing = Closing.open
    /// Identifies this instance in the ``Region`` handles it makes.
    private nonisolated let instance = UInt64.random(in: 1...UInt64.max)

    /// Opens the stream on a medium, formatting it when it is zero-filled.
    ///
    /// With ``Access/readOnly`` access nothing is written: a zero-filled medium is refused, and instead of
    /// recovering, the stream takes the entries whole in the medium as they are (see ``refresh()``).
    ///
    /// A writing stream claims the medium (``PersistentMedium/beginWriting()``) until ``close()``: a stream
    /// dropped without closing keeps its claim, since its region writers may still append (its persist
    /// workers go on making their entries durable, until the last writer and receipt are gone too), and
    /// another stream on the same medium gets ``PMemStreamError/Code/streamInUse``.
    ///
    /// - Parameters:
    ///   - medium: The medium, for example a ``Pmem2Mapping`` of a DAX device.
    ///   - configuration: The block size and other settings; an existing stream needs its own block size.
    /// - Throws: ``PMemStreamError`` with ``PMemStreamError/Code/invalidBlockSize``,
    ///   ``PMemStreamError/Code/mediumTooSmall``, ``PMemStreamError/Code/notAStream``,
    ///   ``PMemStreamError/Code/damagedStream``, ``PMemStreamError/Code/unsupportedFormatVersion``,
    ///   ``PMemStreamError/Code/blockSizeMismatch`` or ``PMemStreamError/Code/sizeMismatch``, or
    ///   ``PMemStreamError/Code/readOnlyStream`` for a read-only open of a zero-filled medium or a
    ///   read-write open of a read-only mapping, ``PMemStreamError/Code/streamInUse`` when another stream
    ///   writes the medium (see ``PersistentMedium/beginWriting()``) — or, for a read-only open, when the
    ///   writer changed the region structure during every read of it for a second —, or
    ///   ``PMemStreamError/Code/invalidArgument`` for a configuration out of its ranges; in every one of these
    ///   cases the medium is left exactly as it was. ``PMemStreamError/Code/outOfResources`` when a persist
    ///   worker's thread cannot be started, after recovery: the medium is then recovered, and free for the
    ///   next writer.
    public init(medium: any PersistentMedium, configuration: Configuration = Configuration()) throws(PMemStreamError) {
        try configuration.validate()
        let readOnly = configuration.access == .readOnly
        let reading = StreamHeader.read(from: medium)
        var blockSize = configuration.blockSize ?? Configuration.defaultBlockSize
        if case .valid(let header) = reading, configuration.blockSize == nil {
            blockSize = header.blockSize
        }
        let layout: StreamLayout
        do {
            layout = try StreamLayout(blockSize: blockSize, streamSize: medium.size)
        } catch {
            // A block size read from a header whose checksum matches, and still impossible: a crafted header.
            guard case .valid = reading, configuration.blockSize == nil else { throw error }
            throw PMemStreamError(code: .damagedStream, message: "the stream header is damaged: \(error.message)")
        }
        var isUnformatted = false
        switch reading {
        case .valid(let header):
            guard header.blockSize == layout.blockSize else {
                throw PMemStreamError(
                    code: .blockSizeMismatch,
                    message: "the stream was created with \(header.blockSize)-byte blocks, not \(layout.blockSize)"
                )
            }
            guard header.streamSize == medium.size else {
                throw PMemStreamError(
                    code: .sizeMismatch,
                    message: "the stream was created with \(header.streamSize) bytes; the medium has \(medium.size)"
                )
            }
        case .noMagic where StreamFormatter.isUnformatted(medium, layout: layout):
            guard !readOnly else {
                throw PMemStreamError(
                    code: .readOnlyStream,
                    message: "the medium is not formatted, and reading never formats it"
                )
            }
            isUnformatted = true
        case .noMagic, .foreign:
            throw PMemStreamError(code: .notAStream, message: "the medium holds data that is not a PMemStream stream")
        case .damaged:
            throw PMemStreamError(code: .damagedStream, message: "the stream header's checksum does not match")
        case .unsupportedVersion(let version):
            throw PMemStreamError(
                code: .unsupportedFormatVersion,
                message:
                    "the stream uses format version \(version); this build reads version \(StreamHeader.currentFormatVersion)"
            )
        }
        let persisted: UInt64
        var visible: UInt64?
        if readOnly {
            guard
                let snapshot = try StreamSnapshot.read(
                    medium: medium,
                    layout: layout,
                    patience: StreamSnapshot.patience
                )
            else {
                throw PMemStreamError(
                    code: .streamInUse,
                    message: "the writer changed the region structure during every read of it for a second; open again"
                )
            }
            self.allocator = snapshot.allocator
            persisted = snapshot.checkpoint
            visible = snapshot.watermark
        } else {
            (self.allocator, persisted) = try Self.claimAndRecover(medium, layout: layout, formatting: isUnformatted)
        }
        let tracker = DurabilityTracker(persistedTimestamp: persisted)
        if let visible {
            tracker.advance(committed: visible, persisted: persisted)
        }
        let groupCommit = GroupCommit(
            medium: medium,
            tracker: tracker,
            checkpoint: persisted,
            capacity: configuration.maxQueuedAppends,
            hasWorkers: configuration.persistWorkers > 0 && !readOnly
        )
        var placement =
            configuration.persistWorkers > 0 && !readOnly
            ? configuration.placement.resolve(mediumNode: medium.numaNode, topology: .system)
            : ResolvedPlacement(
                node: nil,
                reason: readOnly
                    ? "no persist workers: the stream is read-only"
                    : "no persist workers (persistWorkers 0): appenders run the rounds"
            )
        if configuration.persistWorkers > 0, !readOnly {
            let workers: PersistWorkers
            do throws(PMemStreamError) {
                workers = try PersistWorkers(
                    count: configuration.persistWorkers,
                    node: placement.node,
                    interval: configuration.checkpointInterval
                ) { [weak groupCommit] in groupCommit?.round() }
            } catch {
                medium.endWriting()  // the next writer may open the stream at once
                throw error
            }
            // The group commit keeps its workers: they run rounds as long as a writer or a receipt can
            // queue work or wait for it, also when the stream is dropped without closing, and stop with
            // the last of them (or in `close()`).
            groupCommit.setWakeHandler { workers.wake() }
            self.workers = workers
            placement = placement.confirmed(by: workers.placements)
        } else {
            self.workers = nil
        }
        self.tracker = tracker
        self.groupCommit = groupCommit
        self.persistPlacement = placement
        self.medium = medium
        self.configuration = configuration
        self.blockSize = layout.blockSize
        self.size = medium.size
        self.granularity = medium.granularity
        self.numaNode = medium.numaNode
    }

    /// Opens the stream in a file or DAX device, creating the file when it is absent.
    ///
    /// A stream opened for writing holds the file's writer's lock until it is released: a second writer, in
    /// this process or another, gets ``PMemStreamError/Code/streamInUse``. A stream opened with
    /// ``Access/readOnly`` access maps the file without write permission and takes no lock, so it can read
    /// the stream while a writer appends to it.
    ///
    /// - Parameters:
    ///   - path: The file or the DAX device.
    ///   - size: The size of a new file. For an existing file, `nil` or the size it has.
    ///   - configuration: The block size, the access, and other settings; an existing stream needs its own
    ///     block size.
    /// - Returns: The open stream.
    /// - Throws: The errors of ``init(medium:configuration:)``; ``PMemStreamError/Code/sizeMismatch`` when the
    ///   file exists with another size; the errors of ``Pmem2Mapping/init(path:size:options:)``. A file this
    ///   call would create is not created when the size or block size is invalid.
    public static func open(
        path: String,
        size: Int? = nil,
        configuration: Configuration = Configuration()
    ) async throws(PMemStreamError) -> PMemStream {
        try configuration.validate()
        if let size {
            guard size > 0 else {
                throw PMemStreamError(code: .invalidMediumSize, message: "a stream needs a positive size, not \(size)")
            }
            _ = try StreamLayout(blockSize: configuration.blockSize ?? Configuration.defaultBlockSize, streamSize: size)
        }
        let medium: Pmem2Mapping
        do throws(PMemStreamError) {
            medium = try Pmem2Mapping(
                path: path,
                size: size,
                options: .init(readOnly: configuration.access == .readOnly)
            )
        } catch .invalidMediumSize where size != nil {
            throw PMemStreamError(code: .sizeMismatch, message: "\(path) exists with another size than \(size!) bytes")
        }
        do throws(PMemStreamError) {
            return try PMemStream(medium: medium, configuration: configuration)
        } catch {
            medium.removeCreatedFile()  // formatting it failed: a file this call created does not stay behind
            throw error
        }
    }

    /// Closes the stream: refuses further operations with ``PMemStreamError/Code/streamClosed``, waits for
    /// the appends under way, stops the persist workers, persists everything committed, checkpoints the
    /// watermark, and confirms with the medium that it all reached it. Nothing committed before `close()`
    /// returns is lost.
    ///
    /// Then the file's writer's lock is released, so it can be opened for writing again; the mapping itself
    /// is removed when the last reference to the stream goes away. A `close()` called while another runs
    /// returns when that one does, with its outcome, and so does any later one. A read-only stream only
    /// refuses further operations and ends its waits.
    /// - Throws: ``PMemStreamError/Code/ioError`` when the medium reports that data did not reach it.
    public func close() async throws(PMemStreamError) {
        switch self.closing {
        case .closed(let outcome):
            return try outcome.get()
        case .closing:
            let outcome = await withCheckedContinuation { continuation in
                guard case .closing(var waiters) = self.closing else {
                    preconditionFailure("closing ends only once every awaiting close() is registered")
                }
                waiters.append(continuation)
                self.closing = .closing(waiters: waiters)
            }
            return try outcome.get()
        case .open:
            self.closing = .closing(waiters: [])
        }
        let outcome: Result<Void, PMemStreamError>
        do throws(PMemStreamError) {
            try await self.shutDown()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        guard case .closing(let waiters) = self.closing else { preconditionFailure("closed twice") }
        self.closing = .closed(outcome)
        for waiter in waiters {
            waiter.resume(returning: outcome)
        }
        try outcome.get()
    }

    /// What ``close()`` does, once.
    private func shutDown() async throws(PMemStreamError) {
        guard self.configuration.access == .readWrite else {
            self.tracker.close()
            return
        }
        self.tracker.refuseAppends()
        for writer in self.writers.values {
            await writer.quiesce()
        }
        self.workers?.stop()
        self.groupCommit.finalRound()
        self.tracker.close()
        defer {
            // Entries read before, and followers that finish after, check their copies from now on: once
            // the writer's lock is released, another process may open the file for writing and reuse space.
            for state in self.regionStates.values {
                state.markWrittenElsewhere()
            }
            self.medium.endWriting()
        }
        try self.medium.deepFlush(0..<self.medium.size)
    }

    /// Claims the medium for writing, formats it if it is unformatted, loads the region chain and recovers
    /// the watermark; gives the claim back if any of it fails.
    private static func claimAndRecover(
        _ medium: any PersistentMedium,
        layout: StreamLayout,
        formatting: Bool
    ) throws(PMemStreamError) -> (RegionAllocator, UInt64) {
        try medium.beginWriting()
        do throws(PMemStreamError) {
            if formatting {
                try StreamFormatter.format(medium, layout: layout)
            }
            var allocator = try RegionAllocator(loadingFrom: medium, layout: layout)
            let persisted = try Self.recoverWatermark(medium: medium, allocator: &allocator)
            // After the recovery, which made the headers it read durable: a merge changes only their size.
            allocator.mergeFreeNeighbours()
            return (allocator, persisted)
        } catch {
            medium.endWriting()
            throw error
        }
    }

    /// Finds the persisted watermark after a restart, makes durable what recovery read, makes the watermark
    /// the header's checkpoint, and caps the regions written in the last session at it, moving their
    /// checkpoint tails over the entries it covers (see `Docs/Format.md`, "Recovery").
    private static func recoverWatermark(
        medium: any PersistentMedium,
        allocator: inout RegionAllocator
    ) throws(PMemStreamError) -> UInt64 {
        let field = StreamHeader.Field.persistedTimestamp
        let checkpoint = medium.loadWord(at: field)
        let writable = allocator.writableRegions
        let (recovered, walked, tails) = try WatermarkRecovery.recoveredWatermark(
            checkpoint: checkpoint,
            regions: writable,
            medium: medium
        )
        let extentHeaders = allocator.extents.map { $0.offset..<$0.offset + ExtentHeader.size }
        try Self.persistWhatRecoveryRead([0..<StreamHeader.reservedSize] + extentHeaders + walked, on: medium)
        // Around the caps, for readers in other processes: a cap set here may be lifted again before a
        // reader reads the chain a second time, and only this count tells it that the caps changed. Other
        // processes see these stores in this order (release fences keep the compiler's order too).
        let count = StreamHeader.Field.recoveryCount
        let recoveries = medium.loadWord(at: count)
        medium.storeWord(recoveries &+ 1, at: count)
        atomicMemoryFence(ordering: .releasing)
        if recovered > checkpoint {
            medium.storeWord(recovered, at: field)
            medium.persist(field..<field + 8)
        }
        allocator.capWritableRegions(
            at: recovered,
            checkpointTails: Dictionary(uniqueKeysWithValues: zip(writable.map(\.offset), tails))
        )
        atomicMemoryFence(ordering: .releasing)
        medium.storeWord(recoveries &+ 2, at: count)
        medium.flush(count..<count + 8)
        return recovered
    }

    /// Makes durable the bytes recovery read: the stream header, the region chain's headers and the entries
    /// walked to find the watermark. One persist point.
    ///
    /// Recovery reads what this process sees. After a power failure that is what the medium holds; but after
    /// a crash of the process alone (a kill), the power stayed on, and the stores the dead process made
    /// without flushing them are still in the CPU caches or the page cache: visible, not yet durable.
    /// Counting such entries, then persisting the watermark over them and capping the regions at it, would
    /// report them persisted; and a power failure before they are written back would lose them, and with
    /// them every later entry of their regions, acknowledged or not. Flushing what was read first makes
    /// what the medium holds what recovery decided from. With page granularity, one deep flush (`msync`) of
    /// the whole mapping does it: the kernel writes back the dirty pages only, one system call costs less
    /// than one for each range, and a write-back error is reported rather than fatal.
    ///
    /// - Throws: ``PMemStreamError/Code/ioError`` when the medium reports that data did not reach it.
    private static func persistWhatRecoveryRead(
        _ ranges: [Range<Int>],
        on medium: any PersistentMedium
    ) throws(PMemStreamError) {
        guard medium.granularity != .page else {
            try medium.deepFlush(0..<medium.size)
            return
        }
        medium.flush(ranges)
        medium.drain()
    }

    // MARK: - Regions

    /// Allocates a region that holds at least `size` bytes of entries.
    ///
    /// The region's ``Region/size`` is `size` rounded up so that the region, with its 64-byte header, fills
    /// whole blocks. The smallest free extent that fits is used.
    ///
    /// - Parameter size: The bytes of entries the region must hold: at least 1, less than 2^62.
    /// - Returns: The new region.
    /// - Throws: ``PMemStreamError/Code/invalidRegionSize``, ``PMemStreamError/Code/noSpaceForRegion``,
    ///   ``PMemStreamError/Code/streamClosed`` or ``PMemStreamError/Code/readOnlyStream``, and the stream is
    ///   unchanged.
    /// - Important: The allocation is atomic: after a power failure the region either exists or does not,
    ///   and no space is lost either way.
    public func allocateRegion(size: Int) throws(PMemStreamError) -> Region {
        try self.checkWritable()
        let region = self.handle(for: try self.allocator.allocate(dataSize: size))
        self.makeRegionState(for: region, isNew: true)
        return region
    }

    /// Frees a region and merges its space with free neighbours.
    ///
    /// When entries were written to the region in this session, freeing first makes sure the stream
    /// header's checkpoint covers them (a group-commit round, at most), so that recovery after a power
    /// failure never meets a gap where they were.
    ///
    /// Readers that follow the region finish; entries of the region can no longer be read.
    ///
    /// - Parameter region: The region to free.
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when it was freed already,
    ///   ``PMemStreamError/Code/notARegion`` for a handle of another stream,
    ///   ``PMemStreamError/Code/regionInUse`` while a reservation or appends still being copied or waiting
    ///   behind one are under way in it (an append that writes and publishes its entry in one turn of the
    ///   region's lock is waited for instead),
    ///   ``PMemStreamError/Code/cancelled`` when the task is cancelled while waiting for the checkpoint,
    ///   ``PMemStreamError/Code/streamClosed`` or ``PMemStreamError/Code/readOnlyStream``; the stream is
    ///   unchanged then.
    /// - Important: The free is atomic across a power failure. Handles to the region become invalid.
    public func free(_ region: Region) async throws(PMemStreamError) {
        try self.checkWritable()
        try self.validate(region)
        if let state = self.regionStates[region.offset] {
            // Under the writer's lock: the appends it makes with nothing else in flight are not counted as
            // writes under way (see `RegionState.checkWritable()`).
            if let writer = self.writers[region.offset] {
                try writer.appendLock.withLock { () throws(PMemStreamError) in try state.markFreed() }
            } else {
                try state.markFreed()
            }
            do throws(PMemStreamError) {
                try await self.checkpoint(covering: state.lastTimestamp)
                try self.checkOpen()
            } catch {
                state.unmarkFreed()
                throw error
            }
        }
        try self.allocator.free(regionAt: region.offset)
        self.regionStates[region.offset]?.confirmFreed()
        self.regionStates[region.offset] = nil
        self.writers.removeValue(forKey: region.offset)?.queue.giveBackLane()
        self.tracker.committed.nudgeFollowers()
    }

    /// Returns once the header's checkpoint covers `timestamp`: every entry up to it is durable and the
    /// watermark says so. Freeing a region needs this first — its entries vanish with it, and recovery,
    /// finding no entry for their timestamps, would stop at the gap and drop every later entry.
    private func checkpoint(covering timestamp: UInt64) async throws(PMemStreamError) {
        guard self.groupCommit.checkpointedWatermark < timestamp else { return }
        // Earlier entries may still be being copied in other regions: wait for them to persist first.
        try await self.groupCommit.waitPersisted(timestamp)
        self.groupCommit.round()
    }

    /// The region that starts at `offset`.
    ///
    /// - Parameter offset: A region's ``Region/offset``, for example one saved before reopening the stream.
    /// - Returns: A handle to the region.
    /// - Throws: ``PMemStreamError/Code/notARegion`` when no region starts there.
    public func region(atOffset offset: Int) throws(PMemStreamError) -> Region {
        try self.checkOpen()
        guard let extent = self.allocator.region(at: offset) else {
            throw PMemStreamError(code: .notARegion, message: "no region starts at offset \(offset)")
        }
        return self.handle(for: extent)
    }

    /// The number of regions.
    public var regionCount: Int {
        self.allocator.regionCount
    }

    /// The bytes of the stream not held by any region.
    public var freeSize: Int {
        self.allocator.freeBytes
    }

    /// The stream's regions in allocation order; see ``RegionSequence`` for what it shows when regions are
    /// allocated or freed during the iteration.
    public nonisolated var regions: RegionSequence {
        RegionSequence(source: self)
    }

    // MARK: - Private

    func checkOpen() throws(PMemStreamError) {
        guard self.isOpen else {
            throw PMemStreamError(code: .streamClosed, message: "the stream was closed")
        }
    }

    /// Whether the stream is open: not closing, not closed.
    private var isOpen: Bool {
        guard case .open = self.closing else { return false }
        return true
    }

    /// Checks that the stream is open for writing.
    func checkWritable() throws(PMemStreamError) {
        try self.checkOpen()
        guard self.configuration.access == .readWrite else {
            throw PMemStreamError(code: .readOnlyStream, message: "the stream was opened read-only")
        }
    }

    /// Checks that a handle names a live region of this stream.
    func validate(_ region: Region) throws(PMemStreamError) {
        guard region.streamInstance == self.instance else {
            throw PMemStreamError(
                code: .notARegion,
                message: "\(region) belongs to another stream instance; look it up with region(atOffset:)"
            )
        }
        guard self.allocator.region(at: region.offset)?.sequence == region.sequence else {
            throw PMemStreamError(code: .regionFreed, message: "\(region) was freed")
        }
    }

    /// Where closing stands: a `close()` that comes while another runs waits for its outcome.
    private enum Closing {
        case open
        case closing(waiters: [CheckedContinuation<Result<Void, PMemStreamError>, Never>])
        case closed(Result<Void, PMemStreamError>)
    }

    private func handle(for extent: RegionAllocator.Extent) -> Region {
        Region(
            offset: extent.offset,
            size: extent.size - ExtentHeader.size,
            sequence: extent.sequence,
            streamInstance: self.instance
        )
    }
}

extension PMemStream: ReadingSource {
    func regions(allocatedAfter sequence: UInt64, limit: Int, evenIfClosed: Bool) throws(PMemStreamError) -> [Region] {
        if !evenIfClosed {
            try self.checkOpen()
        }
        return self.allocator.regions(allocatedAfter: sequence, limit: limit).map(self.handle(for:))
    }

    func regionState(for region: Region, evenIfClosed: Bool) throws(PMemStreamError) -> RegionState {
        if !evenIfClosed {
            try self.checkOpen()
        }
        try self.validate(region)
        if let state = self.regionStates[region.offset] {
            return state
        }
        return self.makeRegionState(for: region, isNew: false)
    }

    /// Makes and keeps the state of a region of the allocator; `isNew` when this stream just allocated it.
    @discardableResult
    private func makeRegionState(for region: Region, isNew: Bool) -> RegionState {
        let extent = self.allocator.region(at: region.offset)!
        let state = RegionState(
            region: region,
            medium: self.medium,
            timestampCap: extent.timestampCap,
            checkpointTail: extent.checkpointTail,
            isWrittenElsewhere: self.configuration.access == .readOnly || !self.isOpen,
            isNew: isNew
        )
        self.regionStates[region.offset] = state
        return state
    }

    nonisolated var committedWatermark: Watermark {
        self.tracker.advanceWatermarks()
        return self.tracker.committed
    }

    /// The writer of a region, made (and the region recovered for writing) on first use.
    func cachedWriter(for region: Region) throws(PMemStreamError) -> RegionWriter {
        try self.checkWritable()
        let state = try self.regionState(for: region, evenIfClosed: false)
        if let writer = self.writers[region.offset] {
            return writer
        }
        let writer = try RegionWriter(
            state: state,
            tracker: self.tracker,
            groupCommit: self.groupCommit,
            dataMover: self.configuration.dataMover
        )
        self.writers[region.offset] = writer
        return writer
    }
}
