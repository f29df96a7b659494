import Synchronization

extension GroupCommit {
    /// A region writer's asynchronous entries waiting for a round, behind a lock of their own.
    ///
    /// Queueing takes only this lock, which no other writer takes: the group commit's lock is taken once
    /// per round and region, when the queue gets its first entry and is listed for the next round, and the
    /// group commit's count of queued entries is raised once per ``countingChunk`` entries. The queue also
    /// owns the writer's lane (see ``LaneFloors``), whose queued floor holds its entries back from the
    /// persisted watermark, and gives it back when its region is freed, or when it goes away: once the
    /// writer is gone and no round has the queue listed.
    final class RegionQueue: Sendable {
        /// The region of the entries.
        let region: RegionState
        /// The writer's lane; its unpublished floor is the writer's.
        let lane: LaneFloors.Lane
        /// How many entries the queue adds to the group commit's count at a time (see
        /// `GroupCommit.countingChunk(capacity:)`).
        let countingChunk: Int
        private let tracker: DurabilityTracker
        private let pending = Lock(Pending())
        private let laneGivenBack = Atomic(false)

        private struct Pending {
            var entries: [Queued] = []
            /// How many of ``entries`` the group commit's count includes: a multiple of ``countingChunk``.
            var counted = 0
            /// Whether the queue is on the group commit's list for the next round.
            var isListed = false
        }

        /// Claims a lane for the writer of `region`.
        init(region: RegionState, tracker: DurabilityTracker, countingChunk: Int) {
            self.region = region
            self.tracker = tracker
            self.countingChunk = countingChunk
            self.lane = tracker.floors.claim()
        }

        deinit {
            self.giveBackLane()
        }

        /// Gives the lane back, once: when the region is freed (its writer can take no timestamp any more,
        /// and a free waits until its entries are durable, so none is queued), or when the queue goes away.
        /// A receipt may keep the writer, and with it this queue, long after the free.
        func giveBackLane() {
            guard !self.laneGivenBack.exchange(true, ordering: .relaxed) else { return }
            self.tracker.floors.release(self.lane)
        }

        /// Queues `entry`, before it is published, and lowers the lane's queued floor to it.
        ///
        /// - Returns: Whether the queue must be listed for the next round (it was not listed), and how many
        ///   entries to add to the group commit's count: ``countingChunk`` when the entries not counted yet
        ///   reach it, else 0.
        func append(_ entry: Queued) -> (listing: Bool, counting: Int) {
            self.pending.withLock { pending in
                pending.entries.append(entry)
                self.tracker.floors.queued(entry.timestamp, in: self.lane)
                defer { pending.isListed = true }
                let counting = pending.entries.count - pending.counted >= self.countingChunk ? self.countingChunk : 0
                pending.counted += counting
                return (!pending.isListed, counting)
            }
        }

        /// Moves every queued entry to `taken`, for a round; their floor moves to the round's.
        ///
        /// - Returns: How many of the entries it moved the group commit's count included.
        func take(into taken: inout Queue) -> Int {
            self.pending.withLock { pending in
                taken.append(contentsOf: pending.entries, of: self.region)
                self.tracker.floors.startFlushing(self.lane)
                defer {
                    pending.entries.removeAll(keepingCapacity: true)
                    pending.counted = 0
                    pending.isListed = false
                }
                return pending.counted
            }
        }
    }
}
