extension PMemStream {
    /// How a stream is laid out and run. The defaults suit most uses.
    public struct Configuration: Sendable {
        /// The block size of a new stream when none is given: 4096.
        public static let defaultBlockSize = 4096
        /// The most persist workers a stream runs.
        public static let maxPersistWorkers = 64
        /// The shortest and longest ``checkpointInterval`` and ``followInterval``.
        public static let intervalRange: ClosedRange<Duration> = .microseconds(1) ... .seconds(3600)

        /// The block size in bytes: a power of two and a multiple of 64. Regions start and end on block
        /// boundaries, so it is the granularity of region sizes. `nil` (the default) means
        /// ``defaultBlockSize`` for a new stream and the block size an existing stream was created with; a
        /// value given for an existing stream must be the one it was created with.
        public var blockSize: Int?
        /// How many background threads run group-commit rounds, from 0 to ``maxPersistWorkers``. Default 1.
        ///
        /// With 0, no thread runs in the background and rounds run where they are needed, on the caller:
        /// in ``PMemStream/persistCommitted()`` and ``PMemStream/close()``, in any wait for persistence
        /// (a synchronous append after asynchronous ones, ``AppendReceipt/persisted()``,
        /// ``PMemStream/waitPersisted(_:)``), and in an asynchronous append that finds the queue full.
        /// Asynchronous appends that nobody waits for stay unpersisted until then. Useful for deterministic
        /// tests, and for callers that decide themselves when to persist.
        public var persistWorkers: Int
        /// Where the persist workers run. Default ``PersistPlacement/automatic``: on the medium's NUMA node
        /// when it is known.
        public var placement: PersistPlacement
        /// How often a persist worker runs a round when nothing woke it: asynchronous appends that nobody
        /// waits for become persisted within about this long, and the persisted watermark is checkpointed
        /// (recovery after a power failure reads the entries written since the last checkpoint). Default
        /// 5 ms; within ``intervalRange``.
        public var checkpointInterval: Duration
        /// How many asynchronously appended entries may wait for a group-commit round before
        /// ``RegionWriter/appendAsync(_:)`` waits for room (back-pressure); at least 1. Default 16 384. The bound is
        /// checked before an append waits for its region, so tasks appending at that moment may pass it by
        /// one entry each; and each region's entries are counted a chunk at a time (of a 256th of the bound,
        /// at most 64 entries), so each region may pass it by up to a chunk less one.
        public var maxQueuedAppends: Int
        /// What copies the data of asynchronous appends. Default ``SynchronousDataMover``.
        public var dataMover: any DataMover
        /// Whether the stream is opened for writing or only for reading. Default ``Access/readWrite``.
        public var access: Access
        /// How often a read-only stream looks for entries another process wrote, while something follows it
        /// or waits for a timestamp. Default 10 ms; within ``intervalRange``.
        public var followInterval: Duration

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - blockSize: The block size in bytes.
        ///   - persistWorkers: The number of persist worker threads.
        ///   - placement: Where the persist workers run.
        ///   - checkpointInterval: How often the persisted watermark is checkpointed.
        ///   - maxQueuedAppends: The bound of the group-commit queue.
        ///   - dataMover: What copies the data of asynchronous appends.
        ///   - access: Whether the stream may be written.
        ///   - followInterval: How often a read-only stream looks for entries another process wrote.
        public init(
            blockSize: Int? = nil,
            persistWorkers: Int = 1,
            placement: PersistPlacement = .automatic,
            checkpointInterval: Duration = .milliseconds(5),
            maxQueuedAppends: Int = 16_384,
            dataMover: any DataMover = SynchronousDataMover(),
            access: Access = .readWrite,
            followInterval: Duration = .milliseconds(10)
        ) {
            self.blockSize = blockSize
            self.persistWorkers = persistWorkers
            self.placement = placement
            self.checkpointInterval = checkpointInterval
            self.maxQueuedAppends = maxQueuedAppends
            self.dataMover = dataMover
            self.access = access
            self.followInterval = followInterval
        }
    }
}

extension PMemStream.Configuration {
    /// Checks the settings that have ranges.
    ///
    /// - Throws: ``PMemStreamError/Code/invalidArgument`` naming the setting out of its range.
    func validate() throws(PMemStreamError) {
        guard (0...Self.maxPersistWorkers).contains(self.persistWorkers) else {
            throw PMemStreamError(
                code: .invalidArgument,
                message: "\(self.persistWorkers) persist workers: between 0 and \(Self.maxPersistWorkers)"
            )
        }
        guard self.maxQueuedAppends >= 1 else {
            throw PMemStreamError(
                code: .invalidArgument,
                message: "maxQueuedAppends \(self.maxQueuedAppends): at least 1"
            )
        }
        if let mover = self.dataMover as? ThreadedDataMover, mover.threshold < 1 || mover.parts < 1 {
            throw PMemStreamError(
                code: .invalidArgument,
                message: "ThreadedDataMover threshold \(mover.threshold), parts \(mover.parts): both at least 1"
            )
        }
        for (name, interval) in [
            ("checkpointInterval", self.checkpointInterval), ("followInterval", self.followInterval),
        ]
        where !Self.intervalRange.contains(interval) {
            throw PMemStreamError(
                code: .invalidArgument,
                message:
                    "\(name) \(interval): between \(Self.intervalRange.lowerBound) and \(Self.intervalRange.upperBound)"
            )
        }
    }
}
