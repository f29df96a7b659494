/// The committed entries of every region, merged in global timestamp order, as an `AsyncSequence`.
///
/// It yields the entries with a timestamp greater than `since`. Without `follow`, it finishes after the
/// entries committed when iteration starts; with `follow`, it waits for new commits, also in regions
/// allocated later, and finishes when the stream is closed or its task is cancelled. Entries of a region
/// freed during the iteration stop appearing. Every entry's checksum is verified; a damaged entry ends the
/// iteration with ``PMemStreamError/Code/corruptedEntry``. The iterator is single-pass.
///
/// ```swift
/// for try await entry in stream.entries(since: 0) {
///     print(entry.timestamp, entry.region.offset)
/// }
/// ```
public struct MergedEntrySequence: AsyncSequence, Sendable {
    /// An entry.
    public typealias Element = Entry
    /// Iteration fails only with ``PMemStreamError``.
    public typealias Failure = PMemStreamError

    private let source: any ReadingSource
    private let since: UInt64
    private let follow: Bool

    init(source: any ReadingSource, since: UInt64, follow: Bool) {
        self.source = source
        self.since = since
        self.follow = follow
    }

    /// Creates an iterator that starts after timestamp `since`.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: self.source, since: self.since, follow: self.follow)
    }

    /// The iterator of a ``MergedEntrySequence``: single-pass, not to be shared between tasks.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private let source: any ReadingSource
        private let since: UInt64
        private let follow: Bool
        /// One cursor per region, and the entry it is positioned at, if any up to ``limit``.
        private var cursors: [(cursor: RegionCursor, head: Entry?)] = []
        private var lastRegionSequence: UInt64 = 0
        /// Every entry up to this timestamp is in a head or was yielded.
        private var limit: UInt64?
        private var isFinished = false

        init(source: any ReadingSource, since: UInt64, follow: Bool) {
            self.source = source
            self.since = since
            self.follow = follow
        }

        /// The next entry in timestamp order, or `nil` at the end.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(PMemStreamError) -> Entry? {
            guard !self.isFinished else { return nil }
            if self.limit == nil {
                try await self.extend(to: self.source.committedWatermark.value)
            }
            while true {
                if let index = self.indexOfEarliestHead() {
                    let entry = self.cursors[index].head!
                    self.cursors[index].head = try await self.nextEntry(ofCursorAt: index, limit: self.limit!)
                    if entry.timestamp > self.since, !entry.state.isFreed {
                        return entry
                    }
                    continue
                }
                guard self.follow else { break }
                let committed = self.source.committedWatermark
                do {
                    // A free needs no wake-up here: the entries of a freed region are skipped as they come.
                    try await self.source.waitForChange(after: self.limit!, nudgeCount: committed.nudgeCount)
                } catch let error where self.source.endsFollowing(error) {
                    break
                }
                try await self.extend(to: committed.value)
            }
            self.isFinished = true
            return nil
        }

        /// The next entry in timestamp order, or `nil` at the end.
        public mutating func next() async throws(PMemStreamError) -> Entry? {
            try await self.next(isolation: nil)
        }

        /// Raises the limit to `committed`, picks up regions allocated since, and refills empty heads.
        /// Every timestamp up to `committed` was published before it was read here, in a region that
        /// existed then, so reading the watermark first and the regions second misses nothing.
        private mutating func extend(to committed: UInt64) async throws(PMemStreamError) {
            self.limit = committed
            while true {
                let regions = try await self.source.regions(allocatedAfter: self.lastRegionSequence, limit: 64)
                for region in regions {
                    self.lastRegionSequence = region.sequence
                    if let state = try? await self.source.regionState(for: region) {
                        self.cursors.append((RegionCursor(state: state), nil))
                    }
                }
                if regions.count < 64 { break }
            }
            self.cursors.removeAll { $0.cursor.state.isFreed }
            for index in self.cursors.indices where self.cursors[index].head == nil {
                self.cursors[index].head = try await self.nextEntry(ofCursorAt: index, limit: committed)
            }
        }

        /// The next entry of the cursor at `index`, up to `limit`; `nil` also when the cursor's region turned
        /// out to be freed, whose entries are no longer part of the stream.
        private mutating func nextEntry(ofCursorAt index: Int, limit: UInt64) async throws(PMemStreamError) -> Entry? {
            do {
                return try self.cursors[index].cursor.next(limit: limit)
            } catch {
                let confirmed = await self.source.confirmed(error, walking: self.cursors[index].cursor.state)
                guard confirmed.code == .regionFreed else { throw confirmed }
                return nil
            }
        }

        private func indexOfEarliestHead() -> Int? {
            var earliest: Int?
            for (index, element) in self.cursors.enumerated() {
                guard let head = element.head else { continue }
                if earliest == nil || head.timestamp < self.cursors[earliest!].head!.timestamp {
                    earliest = index
                }
            }
            return earliest
        }
    }
}

@available(*, unavailable)
extension MergedEntrySequence.AsyncIterator: Sendable {}
