/// The committed entries of every region, merged in global timestamp order, as an `AsyncSequence`.
///
/// It yields the entries with a timestamp greater than `since`. Without `follow`, it finishes after the
/// entries committed when iteration starts; with `follow`, it waits for new commits, also in regions
/// allocated later, and finishes when the stream is closed (after the entries committed by then, also when it
/// closed before the first step) or its task is cancelled. Without `follow`, a first step after the stream
/// closed throws ``PMemStreamError/Code/streamClosed``. Entries of a region freed during the iteration stop appearing. Every entry's checksum is
/// verified; a damaged entry ends the iteration with ``PMemStreamError/Code/corruptedEntry``, after every
/// entry that surely comes before it in timestamp order: the entries of its region before it, and those of
/// other regions up to the timestamp after the last of these. The iterator is single-pass.
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
        /// One cursor per region, and what it holds next, if anything up to ``limit``.
        private var cursors: [(cursor: RegionCursor, head: Head?)] = []
        private var lastRegionSequence: UInt64 = 0
        /// Every entry up to this timestamp is in a head, was yielded, or lies beyond a failure in a head.
        private var limit: UInt64?
        private var isFinished = false

        /// What a cursor holds next: the entry it is positioned at, or the error it met reading on.
        private enum Head {
            case entry(Entry)
            /// Reading on from the cursor's last entry, with timestamp `after` (0 when none), failed: the
            /// entry there is damaged, and its timestamp, unreadable, is larger than `after`.
            case failure(PMemStreamError, after: UInt64)

            /// Where the head falls in timestamp order. A failure comes after every entry with a timestamp up
            /// to `after + 1` (the damaged entry's is larger than `after`, and no other entry has `after + 1`
            /// if it does) and before every later one: entries of other regions that surely come before the
            /// damage are yielded first, and none that might come after it.
            var order: (timestamp: UInt64, isFailure: Bool) {
                switch self {
                case .entry(let entry): (entry.timestamp, false)
                case .failure(_, let after): (after + 1, true)
                }
            }
        }

        init(source: any ReadingSource, since: UInt64, follow: Bool) {
            self.source = source
            self.since = since
            self.follow = follow
        }

        /// The next entry in timestamp order, or `nil` at the end.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(PMemStreamError) -> Entry? {
            guard !self.isFinished else { return nil }
            if self.limit == nil {
                try await self.extend(to: self.source.committedWatermark.value, evenIfClosed: self.follow)
            }
            while true {
                if let index = self.indexOfEarliestHead() {
                    switch self.cursors[index].head! {
                    case .failure(let error, _):
                        guard !self.cursors[index].cursor.state.isFreed else {
                            // The region was freed since: its entries, damaged or not, are gone.
                            self.cursors[index].head = nil
                            continue
                        }
                        self.isFinished = true
                        throw error
                    case .entry(let entry):
                        self.cursors[index].head = await self.nextHead(ofCursorAt: index)
                        if entry.timestamp > self.since, !entry.state.isFreed {
                            return entry
                        }
                        continue
                    }
                }
                guard self.follow else { break }
                let committed = self.source.committedWatermark
                do {
                    // A free needs no wake-up here: the entries of a freed region are skipped as they come.
                    try await self.source.waitForChange(after: self.limit!, nudgeCount: committed.nudgeCount)
                } catch let error where self.source.endsFollowing(error) {
                    break
                }
                // Even if the stream closed since the wait returned: the entries committed before it closed
                // are still yielded, also in regions allocated meanwhile; the next wait ends the iteration.
                try await self.extend(to: committed.value, evenIfClosed: true)
            }
            self.isFinished = true
            return nil
        }

        /// The next entry in timestamp order, or `nil` at the end.
        public mutating func next() async throws(PMemStreamError) -> Entry? {
            try await self.next(isolation: nil)
        }

        /// Raises ``limit`` to `committed`, adds a cursor for each region allocated since the last one added,
        /// drops those of freed regions, and refills empty heads. Every timestamp up to `committed` was
        /// published before it was read, in a region that existed then, so reading the watermark first and
        /// the regions second misses nothing. With `evenIfClosed`, the regions are listed also once the
        /// stream is closing or closed (see ``ReadingSource/regions(allocatedAfter:limit:evenIfClosed:)``).
        private mutating func extend(to committed: UInt64, evenIfClosed: Bool) async throws(PMemStreamError) {
            self.limit = committed
            while true {
                let regions = try await self.source.regions(
                    allocatedAfter: self.lastRegionSequence,
                    limit: 64,
                    evenIfClosed: evenIfClosed
                )
                for region in regions {
                    self.lastRegionSequence = region.sequence
                    if let state = try? await self.source.regionState(for: region, evenIfClosed: evenIfClosed) {
                        self.cursors.append((RegionCursor(state: state), nil))
                    }
                }
                if regions.count < 64 { break }
            }
            self.cursors.removeAll { $0.cursor.state.isFreed }
            for index in self.cursors.indices where self.cursors[index].head == nil {
                self.cursors[index].head = await self.nextHead(ofCursorAt: index)
            }
        }

        /// What the cursor at `index` holds next, up to ``limit``: its next entry, or the error it meets
        /// reading on; `nil` when there is no entry (yet), and also when the cursor's region turned out to be
        /// freed, whose entries are no longer part of the stream.
        private mutating func nextHead(ofCursorAt index: Int) async -> Head? {
            do {
                return try self.cursors[index].cursor.next(limit: self.limit!).map(Head.entry)
            } catch {
                let confirmed = await self.source.confirmed(error, walking: self.cursors[index].cursor.state)
                guard confirmed.code == .regionFreed else {
                    return .failure(confirmed, after: self.cursors[index].cursor.lastTimestamp)
                }
                return nil
            }
        }

        private func indexOfEarliestHead() -> Int? {
            var earliest: (index: Int, order: (timestamp: UInt64, isFailure: Bool))?
            for (index, element) in self.cursors.enumerated() {
                guard let order = element.head?.order else { continue }
                if earliest == nil || order.timestamp < earliest!.order.timestamp
                    || (order.timestamp == earliest!.order.timestamp && !order.isFailure)
                {
                    earliest = (index, order)
                }
            }
            return earliest?.index
        }
    }
}

@available(*, unavailable)
extension MergedEntrySequence.AsyncIterator: Sendable {}
