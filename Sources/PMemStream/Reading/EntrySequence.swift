/// The committed entries of one region, in order, as an `AsyncSequence`.
///
/// Without `follow`, the sequence yields the entries committed when iteration starts and finishes. With
/// `follow`, it then waits for new commits and yields them as they come, like `tail -f`; it finishes when
/// the region is freed or the stream is closed (also when the stream closed before its first step: it then
/// yields the entries committed by then and finishes), and returns `nil` when its task is cancelled. Without
/// `follow`, a first step after the stream closed throws ``PMemStreamError/Code/streamClosed``, and a step
/// that finds an entry after the region was freed throws ``PMemStreamError/Code/regionFreed`` (one at the end
/// returns `nil`).
///
/// The iterator reads the medium directly and verifies every entry's checksum; it hops to the stream actor
/// only once, to start, and waits without polling. A damaged entry ends the iteration with
/// ``PMemStreamError/Code/corruptedEntry``; its bytes are never yielded. The iterator is single-pass. A long
/// walk is fastest in a `@concurrent` function (see <doc:Concurrency>, "Iterators").
///
/// ```swift
/// for try await entry in stream.entries(in: region) {
///     print(entry.timestamp, try entry.bytes)
/// }
/// ```
public struct EntrySequence: AsyncSequence, Sendable {
    /// An entry.
    public typealias Element = Entry
    /// Iteration fails only with ``PMemStreamError``.
    public typealias Failure = PMemStreamError

    private let source: any ReadingSource
    private let region: Region
    private let follow: Bool

    init(source: any ReadingSource, region: Region, follow: Bool) {
        self.source = source
        self.region = region
        self.follow = follow
    }

    /// Creates an iterator that starts before the region's first entry.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: self.source, region: self.region, follow: self.follow)
    }

    /// The iterator of an ``EntrySequence``: single-pass, not to be shared between tasks.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private let source: any ReadingSource
        private let region: Region
        private let follow: Bool
        private var cursor: RegionCursor?
        /// The stream's committed watermark, taken when iteration starts.
        private var committed: Watermark?
        private var snapshotLimit: UInt64?
        private var isFinished = false

        init(source: any ReadingSource, region: Region, follow: Bool) {
            self.source = source
            self.region = region
            self.follow = follow
        }

        /// The next entry, or `nil` at the end.
        ///
        /// Inlined into the caller: the usual step, an entry already committed, is a synchronous read with no
        /// async frame of its own.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(PMemStreamError) -> Entry? {
            if let entry = self.nextCommitted() {
                return entry
            }
            return try await self.readNext(isolation: actor)
        }

        /// The next entry if it is committed and reads back valid, without waiting; `nil` in every other
        /// case (not started, finished, nothing committed yet, the region freed, an error), which
        /// ``readNext(isolation:)`` then sorts out, reading the same place again.
        @usableFromInline
        mutating func nextCommitted() -> Entry? {
            // No binding of the watermark: a copy of it was a retain and a release per entry.
            guard !self.isFinished, self.committed != nil, !self.cursor!.state.isFreed else { return nil }
            return try? self.cursor!.next(limit: self.follow ? self.committed!.value : self.snapshotLimit!)
        }

        /// ``next(isolation:)`` past the synchronous step: starts the iteration, waits for entries when
        /// following, and reports errors.
        @usableFromInline
        mutating func readNext(isolation actor: isolated (any Actor)?) async throws(PMemStreamError) -> Entry? {
            guard !self.isFinished else { return nil }
            if self.cursor == nil {
                // The limit is read before the region; both are kept only once the region is found, so that
                // a start that throws is tried again by the next call.
                let committed = self.source.committedWatermark
                let snapshotLimit = committed.value
                self.cursor = RegionCursor(
                    state: try await self.source.regionState(for: self.region, evenIfClosed: self.follow)
                )
                self.committed = committed
                self.snapshotLimit = snapshotLimit
            }
            let committed = self.committed!
            while true {
                let nudgeCount = committed.nudgeCount  // before looking: a free after it ends the wait
                let limit = self.limit(committed)
                let next: Entry?
                do {
                    next = try self.cursor!.next(limit: limit)
                } catch {
                    let confirmed = await self.source.confirmed(error, walking: self.cursor!.state)
                    guard self.follow, confirmed.code == .regionFreed else { throw confirmed }
                    break  // a followed region that was freed: the end
                }
                if let next {
                    // An entry left in a region freed since the iteration started still reads valid: a
                    // follower ends there, a walk throws, as when the region was freed before the start.
                    guard self.cursor!.state.isFreed else { return next }
                    guard self.follow else { throw self.cursor!.state.freedError() }
                    break
                }
                guard self.follow, !self.cursor!.state.isFreed else { break }
                do {
                    try await self.source.waitForChange(after: limit, nudgeCount: nudgeCount)
                } catch let error where self.source.endsFollowing(error) {
                    break
                }
            }
            self.isFinished = true
            return nil
        }

        /// The largest timestamp the walk may return now: the committed watermark when following, the one
        /// taken when iteration started otherwise.
        private func limit(_ committed: Watermark) -> UInt64 {
            self.follow ? committed.value : self.snapshotLimit!
        }

        /// The next entry, or `nil` at the end.
        @inlinable
        public mutating func next() async throws(PMemStreamError) -> Entry? {
            try await self.next(isolation: nil)
        }
    }
}

@available(*, unavailable)
extension EntrySequence.AsyncIterator: Sendable {}
