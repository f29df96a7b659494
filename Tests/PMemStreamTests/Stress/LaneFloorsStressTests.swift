import Foundation
import PMemStreamTestKit
import Synchronization
import Testing

@testable import PMemStream

/// The lanes' floors (see ``DurabilityTracker``) driven from several threads at once, to reach the
/// interleavings the hand-driven tests cannot. Longer runs: `PMEMSTREAM_LANE_ITERATIONS` (default 200 000;
/// the two threads of the first test wait for each other, so it also stops after 5 s, and 2 047 meetings,
/// when the machine is busy).
@Suite("Lane floors under threads", .serialized, .timeLimit(.minutes(5)))
struct LaneFloorsStressTests {
    static let iterations: Int = {
        guard let text = ProcessInfo.processInfo.environment["PMEMSTREAM_LANE_ITERATIONS"] else { return 200_000 }
        return Int(text) ?? 200_000
    }()

    /// Thread A takes a timestamp and keeps it; thread B takes one and publishes it. When B's is the lower,
    /// committed must cover it as soon as B is done: B may have taken it after A held its floor at the clock
    /// and before A's own timestamp was taken, and A's floor then held B's back for a moment.
    @Test("a timestamp published below another writer's held one is committed at once")
    func publishedBelowAHeldOne() {
        let tracker = DurabilityTracker(persistedTimestamp: 0)
        let handshake = Handshake()
        let laneA = Box(tracker.floors.claim())
        let laneB = Box(tracker.floors.claim())
        var stuck = 0
        var early = 0
        let iterations = Self.iterations
        let writerB = Thread {
            var spin: UInt64 = 0x9E37_79B9_7F4A_7C15
            for iteration in 1...iterations {
                while case let go = handshake.go.load(ordering: .acquiring), go != iteration {
                    if go < 0 { return }
                    Handshake.pause()
                }
                handshake.delay(&spin)
                let timestamp = tracker.takeTimestamps(1, in: &laneB.value)
                tracker.published(in: &laneB.value, next: LaneFloors.none)
                handshake.taken.store(timestamp, ordering: .relaxed)
                handshake.done.store(iteration, ordering: .releasing)
            }
        }
        writerB.start()
        var spin: UInt64 = 0x2545_F491_4F6C_DD1D
        let deadline = ContinuousClock.now + .seconds(5)
        for iteration in 1...iterations {
            // Cut short on a busy machine, but only after the threads met at least 2 047 times.
            if iteration % 1024 == 0, iteration > 1024, ContinuousClock.now > deadline {
                handshake.go.store(-1, ordering: .releasing)
                break
            }
            handshake.go.store(iteration, ordering: .releasing)
            handshake.delay(&spin)
            let mine = tracker.takeTimestamps(1, in: &laneA.value)
            while handshake.done.load(ordering: .acquiring) != iteration { Handshake.pause() }
            let theirs = handshake.taken.load(ordering: .relaxed)
            if tracker.committed.value >= mine { early += 1 }
            if theirs < mine, tracker.committed.value < theirs { stuck += 1 }
            tracker.published(in: &laneA.value, next: LaneFloors.none)
        }
        #expect(early == 0, "committed passed a timestamp not yet published")
        #expect(stuck == 0, "a published timestamp stayed uncommitted while another writer held a later one")
        #expect(tracker.committed.value == tracker.lastIssuedTimestamp)
    }

    /// Two writers (one with a lane of its own, one sharing the shared lane; some take several timestamps,
    /// some publish in two steps, some queue their entries for group commit and publish them as an
    /// asynchronous append does, scanning only when a round took them first, the others publish them as a
    /// synchronous append does, and check that all before them is durable when told so) and a thread running
    /// rounds; a
    /// fourth thread checks that every timestamp up to committed is published and every one up to persisted
    /// durable, and that persisted, read first, never exceeds committed. At the end, with nothing held, both
    /// watermarks must have reached the clock.
    @Test("writers, rounds and a checker on four threads: the watermarks never pass an unfinished timestamp")
    func watermarksNeverPassUnfinishedTimestamps() {
        let operations = Self.iterations / 4
        let run = SafetyRun(tracker: DurabilityTracker(persistedTimestamp: 0), capacity: operations * 6 + 16)
        let owned = run.tracker.floors.claim()
        let othersOwned = (0..<LaneFloors.ownedCount - 1).map { _ in run.tracker.floors.claim() }
        let sharing = run.tracker.floors.claim()
        #expect(owned.line != LaneFloors.sharedLane && sharing.line == LaneFloors.sharedLane)
        let writers = [owned, sharing].map { WriterQueue(lane: $0) }
        run.writers = writers
        let threads = [
            Thread { run.write(writers[0], seed: 1, operations: operations) },
            Thread { run.write(writers[1], seed: 2, operations: operations) },
            Thread { run.runRounds() },
            Thread { run.check() },
        ]
        for thread in threads { thread.start() }
        while run.finished.load(ordering: .acquiring) < 4 { usleep(1000) }
        _ = othersOwned
        #expect(run.violations.load(ordering: .relaxed) == 0)
        // Persisted first: reading committed up to date scans, which would raise persisted too.
        #expect(run.tracker.persisted.value == run.tracker.lastIssuedTimestamp, "persisted stayed behind")
        #expect(run.tracker.upToDateCommitted == run.tracker.lastIssuedTimestamp, "committed stayed behind")
    }
}

private final class Box<Value>: @unchecked Sendable {
    // @unchecked Sendable: each box is used by one thread only.
    var value: Value
    init(_ value: Value) { self.value = value }
}

private final class Handshake: Sendable {
    let go = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let taken = Atomic<UInt64>(0)
    private let sink = Atomic<Int>(0)

    /// Yields the processor to the other thread of the pair, if it waits for one.
    static func pause() {
        sched_yield()
    }

    /// Spins for a pseudo-random while (up to 63 steps), so the two threads meet at varying points.
    func delay(_ state: inout UInt64) {
        state = state &* 6_364_136_223_846_793_005 &+ 1
        for _ in 0..<(state >> 58) { self.sink.add(1, ordering: .relaxed) }
    }
}

/// Whether each timestamp was published and made durable, set by the writers and rounds of a run.
private final class Flags: @unchecked Sendable {
    // @unchecked Sendable: each element is only ever accessed through its atomic operations.
    let published: UnsafeMutablePointer<Atomic<Bool>>
    let durable: UnsafeMutablePointer<Atomic<Bool>>

    init(_ capacity: Int) {
        self.published = .allocate(capacity: capacity)
        self.durable = .allocate(capacity: capacity)
        for index in 0..<capacity {
            (self.published + index).initialize(to: Atomic(false))
            (self.durable + index).initialize(to: Atomic(false))
        }
    }
}

/// A writer's lane and its queue of entries for group commit, as a ``GroupCommit/RegionQueue`` keeps them.
private final class WriterQueue: Sendable {
    let lane: LaneFloors.Lane
    let queued = Lock<[UInt64]>([])

    init(lane: LaneFloors.Lane) {
        self.lane = lane
    }
}

private final class SafetyRun: @unchecked Sendable {
    // @unchecked Sendable: the flags are atomics, the queues and rounds are behind their locks, and
    // `writers` is set before the threads start.
    let tracker: DurabilityTracker
    let flags: Flags
    var writers: [WriterQueue] = []
    let roundLock = Lock(())
    let finished = Atomic<Int>(0)
    let violations = Atomic<Int>(0)

    init(tracker: DurabilityTracker, capacity: Int) {
        self.tracker = tracker
        self.flags = Flags(capacity)
    }

    /// Marks `timestamp` finished before its publication: durable at once (a synchronous entry, drained
    /// before it is published), or queued for a round (an asynchronous one, queued before it is published).
    func finish(_ timestamp: UInt64, of writer: WriterQueue, async: Bool) {
        if async {
            writer.queued.withLock { queued in
                queued.append(timestamp)
                self.tracker.floors.queued(timestamp, in: writer.lane)
            }
        } else {
            (self.flags.durable + Int(timestamp)).pointee.store(true, ordering: .releasing)
        }
        (self.flags.published + Int(timestamp)).pointee.store(true, ordering: .releasing)
    }

    func write(_ writer: WriterQueue, seed: UInt64, operations: Int) {
        var lane = writer.lane
        var random = SeededRandomNumberGenerator(seed: seed)
        // Every timestamp up to this one was found durable when a synchronous publication said so.
        var verified: UInt64 = 0
        for _ in 0..<operations {
            let count = Int.random(in: 1...3, using: &random)
            let first = self.tracker.takeTimestamps(count, in: &lane)
            if self.tracker.committed.value >= first || self.tracker.persisted.value >= first {
                self.violations.add(1, ordering: .relaxed)
            }
            var from = first
            if count > 1, Bool.random(using: &random) {
                self.finish(first, of: writer, async: Bool.random(using: &random))
                self.tracker.published(in: &lane, next: first + 1)
                from = first + 1
            }
            let async = Bool.random(using: &random)
            for timestamp in from..<first + UInt64(count) {
                self.finish(timestamp, of: writer, async: async)
            }
            if async {
                // As an asynchronous append: no scan unless a round took the entries meanwhile.
                self.tracker.publishedQueued(in: &lane, next: LaneFloors.none, last: first + UInt64(count) - 1)
            } else if self.tracker.publishedDurable(in: &lane, next: LaneFloors.none, last: first + UInt64(count) - 1) {
                // As a synchronous append alone in its region: it returns at once, so all up to it is durable.
                while verified < first + UInt64(count) - 1 {
                    verified += 1
                    if !(self.flags.durable + Int(verified)).pointee.load(ordering: .acquiring) {
                        self.violations.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        self.finished.add(1, ordering: .releasing)
    }

    /// A round as ``GroupCommit`` runs it: each queue taken under its lock, its floor moved to the flushing
    /// one; then the entries made durable, the flushing floor cleared, and a scan.
    func round() {
        self.roundLock.withLock { _ in
            var taken: [UInt64] = []
            for writer in self.writers {
                writer.queued.withLock { queued in
                    taken += queued
                    self.tracker.floors.startFlushing(writer.lane)
                    queued.removeAll()
                }
            }
            guard !taken.isEmpty else {
                self.tracker.advanceWatermarks()  // as a round that took nothing: for the checkpoint
                return
            }
            for timestamp in taken {
                (self.flags.durable + Int(timestamp)).pointee.store(true, ordering: .releasing)
            }
            self.tracker.floors.flushed()
            self.tracker.advanceWatermarks()
        }
    }

    func runRounds() {
        while self.finished.load(ordering: .acquiring) < 2 { self.round() }
        self.round()
        self.finished.add(1, ordering: .releasing)
    }

    func check() {
        var committedChecked: UInt64 = 0
        var persistedChecked: UInt64 = 0
        while self.finished.load(ordering: .acquiring) < 3 {
            let persisted = self.tracker.persisted.value
            let committed = self.tracker.committed.value
            if persisted > committed { self.violations.add(1, ordering: .relaxed) }
            while committedChecked < committed {
                committedChecked += 1
                if !(self.flags.published + Int(committedChecked)).pointee.load(ordering: .acquiring) {
                    self.violations.add(1, ordering: .relaxed)
                }
            }
            while persistedChecked < persisted {
                persistedChecked += 1
                if !(self.flags.durable + Int(persistedChecked)).pointee.load(ordering: .acquiring) {
                    self.violations.add(1, ordering: .relaxed)
                }
            }
        }
        self.finished.add(1, ordering: .releasing)
    }
}
