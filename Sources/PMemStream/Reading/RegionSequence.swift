/// What the sequences read from: the stream, which they reach with one actor hop per batch or wait.
protocol ReadingSource: Actor {
    /// Up to `limit` live regions allocated after the region with sequence number `sequence`, in
    /// allocation order. Once the stream is closing or closed, it throws ``PMemStreamError/Code/streamClosed``,
    /// unless `evenIfClosed`: then it lists the regions the stream was left with, for a follower that yields
    /// what was committed before it finishes.
    func regions(allocatedAfter sequence: UInt64, limit: Int, evenIfClosed: Bool) throws(PMemStreamError) -> [Region]
    /// The shared state of a live region, created on first use; once the stream is closing or closed, only
    /// `evenIfClosed` (see ``regions(allocatedAfter:limit:evenIfClosed:)``).
    func regionState(for region: Region, evenIfClosed: Bool) throws(PMemStreamError) -> RegionState
    /// The committed watermark, raised first over every entry published so far (see
    /// `DurabilityTracker.upToDateCommitted`): entries up to it are visible. Its value may later lag behind
    /// the appends again, until someone reads it up to date or waits for it.
    nonisolated var committedWatermark: Watermark { get }
    /// Returns when entries above `limit` may have become visible or a region may have gone away since the
    /// committed watermark's `nudgeCount` was read (perhaps when neither happened: the caller looks again);
    /// throws when the stream closes or the task is cancelled.
    nonisolated func waitForChange(after limit: UInt64, nudgeCount: UInt64) async throws(PMemStreamError)
    /// Looks again at what another process wrote, for a read-only stream (see ``PMemStream/refresh()``); `nil`
    /// when the writer changed the region chain during every read and nothing was updated.
    func attemptRefresh() throws(PMemStreamError) -> Bool?
}

extension ReadingSource {
    /// What an error met while walking the entries of `state` means. In a stream that another process
    /// writes, an entry that fails its checksum may only mean that the writer freed the region and wrote
    /// there since the last refresh: a refresh tells, and the error is then ``PMemStreamError/Code/regionFreed``.
    ///
    /// A refresh that could not read the region chain, because the writer changed it during every read, tells
    /// nothing: it is tried again after a pause, for about ``StreamSnapshot/patience`` (see
    /// ``StreamSnapshot/Pauses``). The error stands as it was when the stream closes, the task is cancelled, or
    /// the writer never leaves the chain still that long.
    nonisolated func confirmed(_ error: PMemStreamError, walking state: RegionState) async -> PMemStreamError {
        guard error.code == .corruptedEntry, state.isWrittenElsewhere, !state.isFreed else { return error }
        var pauses = StreamSnapshot.Pauses(patience: StreamSnapshot.patience)
        while let pause = pauses.next() {
            do {
                if try await self.attemptRefresh() != nil {
                    break
                }
                try await Task.sleep(for: pause)
            } catch {
                break
            }
        }
        return state.isFreed ? state.freedError() : error
    }

    /// Whether an error ends a wait for more entries quietly: the stream closed, or the task was cancelled.
    nonisolated func endsFollowing(_ error: PMemStreamError) -> Bool {
        error.code == .streamClosed || error.code == .cancelled
    }
}

/// The regions of a stream, in allocation order, as an `AsyncSequence`.
///
/// The sequence is a live view. The iterator fetches regions in batches of up to 64 per hop to the stream
/// actor, each batch continuing after the last region it yielded, in allocation order; it ends when a
/// fetch finds no later region. So regions allocated during the iteration are yielded at the end; a
/// region freed before its batch is fetched is skipped; a region already fetched is still yielded even if
/// it was freed meanwhile (using it then throws ``PMemStreamError/Code/regionFreed``). It is single-pass,
/// and it throws ``PMemStreamError/Code/streamClosed`` if the stream is closed before it ends.
///
/// ```swift
/// for try await region in stream.regions {
///     print(region.offset, region.size)
/// }
/// ```
public struct RegionSequence: AsyncSequence, Sendable {
    /// A region.
    public typealias Element = Region
    /// Iteration fails only with ``PMemStreamError``.
    public typealias Failure = PMemStreamError

    private let source: any ReadingSource

    init(source: any ReadingSource) {
        self.source = source
    }

    /// Creates an iterator that starts before the first region.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: self.source)
    }

    /// The iterator of a ``RegionSequence``: single-pass, not to be shared between tasks.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private static let batchSize = 64
        private let source: any ReadingSource
        private var buffer: [Region] = []
        private var position = 0
        private var lastSequence: UInt64 = 0

        init(source: any ReadingSource) {
            self.source = source
        }

        /// The next region, or `nil` after the last one.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(PMemStreamError) -> Region? {
            if self.position == self.buffer.count {
                self.buffer = try await self.source.regions(
                    allocatedAfter: self.lastSequence,
                    limit: Self.batchSize,
                    evenIfClosed: false
                )
                self.position = 0
                guard !self.buffer.isEmpty else { return nil }
            }
            let region = self.buffer[self.position]
            self.position += 1
            self.lastSequence = region.sequence
            return region
        }

        /// The next region, or `nil` after the last one.
        public mutating func next() async throws(PMemStreamError) -> Region? {
            try await self.next(isolation: nil)
        }
    }
}

@available(*, unavailable)
extension RegionSequence.AsyncIterator: Sendable {}
