import Synchronization

/// A timestamp that only moves forward, readable without a lock, that tasks can wait on.
///
/// The value is mirrored in an atomic so that ``value`` costs one load. Waiters live in a mutex-protected
/// list and are resumed outside the lock. Nobody has to poll: whoever advances the watermark resumes the
/// waiters it satisfies.
final class Watermark: Sendable {
    private struct Waiter {
        let id: UInt64
        let target: UInt64
        /// Whether ``nudgeFollowers()`` resumes it too: readers that follow a region, not public waits.
        let followsNudges: Bool
        let continuation: CheckedContinuation<Result<Void, PMemStreamError>, Never>
    }

    private struct State {
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closedWith: PMemStreamError?
        var subscribers: [UInt64: AsyncStream<UInt64>.Continuation] = [:]
        var lastPublished: UInt64 = 0
    }

    private let current: Atomic<UInt64>
    private let state = Lock(State())
    /// Held while values are sent to the progress streams, so that they go out in the order they were read.
    /// Apart from ``state``: a stream's termination handler takes ``state``, and the concurrency runtime
    /// calls it holding the consuming task's lock, which sending a value takes too.
    private let publishing = Lock(())
    /// How many waiters are registered, so that raising the watermark skips the lock when nobody waits.
    private let waiterCount = Atomic(0)
    /// How many times ``nudgeFollowers()`` ran; changed only under the state lock.
    private let nudges = Atomic<UInt64>(0)

    init(_ value: UInt64) {
        self.current = Atomic(value)
    }

    /// Finishes the progress streams of a stream dropped without ``close(with:)``: their consumers end, rather
    /// than wait for values that will never come. (No waiter is left: a waiting task holds the watermark.)
    deinit {
        for subscriber in self.state.withLock({ Array($0.subscribers.values) }) {
            subscriber.finish()
        }
    }

    /// The current value.
    var value: UInt64 {
        self.current.load(ordering: .acquiring)
    }

    /// Whether a task waits for the watermark to move. A sequentially consistent load, paired with a
    /// waiter's store of the count (see ``wait(until:followsNudgesSince:cancellable:afterRegistering:)``).
    var hasWaiters: Bool {
        self.waiterCount.load(ordering: .sequentiallyConsistent) > 0
    }

    /// A count of the nudges so far: a follower reads it before it looks at what it follows, and hands it to
    /// ``wait(until:followsNudgesSince:)``, so that a nudge between its look and its wait is not missed.
    var nudgeCount: UInt64 {
        self.nudges.load(ordering: .acquiring)
    }

    /// Moves the watermark to `value` if that is forward, from any thread, without resuming anyone yet:
    /// the caller then calls ``resumeSatisfied()``.
    ///
    /// A sequentially consistent compare-and-exchange, paired with the waiter's store of the count and load
    /// of the value (see ``resumeSatisfied()``).
    ///
    /// - Returns: Whether it moved the watermark.
    func raise(to value: UInt64) -> Bool {
        var current = self.current.load(ordering: .relaxed)
        while value > current {
            let (exchanged, original) = self.current.compareExchange(
                expected: current,
                desired: value,
                ordering: .sequentiallyConsistent
            )
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Resumes every waiter the current value satisfies.
    ///
    /// A waiter checks the value and registers under the state lock, and this takes the same lock after the
    /// value was raised, so no waiter is missed.
    func resumeSatisfied() {
        // Sequentially consistent, paired with the waiter's store of the count and load of the value: a
        // raise either sees the waiter registered, or the waiter sees the raised value.
        guard self.waiterCount.load(ordering: .sequentiallyConsistent) > 0 else { return }
        let value = self.value
        let satisfied = self.state.withLock { state -> [Waiter] in
            guard state.waiters.contains(where: { $0.target <= value }) else { return [] }
            let (ready, waiting) = state.waiters.partitioned { $0.target <= value }
            state.waiters = waiting
            self.waiterCount.store(waiting.count, ordering: .releasing)
            return ready
        }
        for waiter in satisfied {
            waiter.continuation.resume(returning: .success(()))
        }
    }

    /// Resumes the waiters that follow nudges without moving the watermark, so that each looks again at
    /// what it follows (used when a region is freed under a reader that follows it). Public waits are not
    /// resumed: they return only when the watermark reaches their target.
    func nudgeFollowers() {
        let followers = self.state.withLock { state in
            self.nudges.add(1, ordering: .releasing)
            let (followers, others) = state.waiters.partitioned { $0.followsNudges }
            state.waiters = others
            self.waiterCount.store(others.count, ordering: .releasing)
            return followers
        }
        for waiter in followers {
            waiter.continuation.resume(returning: .success(()))
        }
    }

    /// Fails every waiter, now and later, with `error`, and finishes every progress stream.
    func close(with error: PMemStreamError) {
        let (waiters, subscribers) = self.state.withLock { state in
            state.closedWith = state.closedWith ?? error
            defer {
                state.waiters.removeAll()
                state.subscribers.removeAll()
                self.waiterCount.store(0, ordering: .releasing)
            }
            return (state.waiters, Array(state.subscribers.values))
        }
        for waiter in waiters {
            waiter.continuation.resume(returning: .failure(error))
        }
        for subscriber in subscribers {
            subscriber.finish()
        }
    }

    // MARK: - Progress streams

    /// A stream of the watermark's values: the current one first, then one per ``publishProgress()`` that
    /// finds it moved; never a smaller one after a larger. A slow consumer sees only the newest value (the
    /// buffer holds one), so the stream never grows.
    func progress() -> AsyncStream<UInt64> {
        let (stream, continuation) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.publishing.withLock { _ -> UInt64? in
            let id = self.state.withLock { state -> UInt64? in
                guard state.closedWith == nil else { return nil }
                defer { state.nextWaiterID += 1 }
                state.subscribers[state.nextWaiterID] = continuation
                return state.nextWaiterID
            }
            // As every later value, read and sent while publishing: after any value already sent.
            if id != nil {
                continuation.yield(self.value)
            }
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Sends the current value to every progress stream, if it moved since the last time. Called once per
    /// group-commit round, never once per append (an element costs about 2 µs).
    ///
    /// The value is read and sent under ``publishing``: rounds that end at once on several threads send
    /// their values in the order they read them, so no stream ever goes back (a yield does not block).
    func publishProgress() {
        self.publishing.withLock { _ in
            let value = self.value
            let subscribers = self.state.withLock { state -> [AsyncStream<UInt64>.Continuation] in
                guard value > state.lastPublished, !state.subscribers.isEmpty else { return [] }
                state.lastPublished = value
                return Array(state.subscribers.values)
            }
            for subscriber in subscribers {
                subscriber.yield(value)
            }
        }
    }

    /// Returns when the watermark reaches `target` (at once if it has) — or, for a follower, when
    /// ``nudgeFollowers()`` is called.
    ///
    /// - Parameters:
    ///   - target: The value to wait for.
    ///   - nudgeCount: For a follower, the ``nudgeCount`` it read before it looked at what it follows: any
    ///     nudge since then, or during the wait, ends the wait early. `nil` for a public wait.
    ///   - cancellable: Whether cancelling the task ends the wait; `false` for a caller whose work is done
    ///     whatever happens to it.
    ///   - afterRegistering: Called once the waiter is registered and counted, outside the lock, when the
    ///     watermark is below `target`: for a watermark that is raised only when someone waits (see
    ///     `DurabilityTracker.publishedQueued(in:next:last:)`), it raises the watermark, which resumes the waiter
    ///     if that reaches `target`.
    /// - Throws: The error given to ``close(with:)``, or ``PMemStreamError/Code/cancelled`` when the task is
    ///   cancelled while waiting (and the wait is cancellable).
    func wait(
        until target: UInt64,
        followsNudgesSince nudgeCount: UInt64? = nil,
        cancellable: Bool = true,
        afterRegistering: () -> Void = {}
    ) async throws(PMemStreamError) {
        guard self.value < target else { return }
        let id = self.state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        guard cancellable else {
            try await self.suspend(
                id: id,
                until: target,
                followsNudgesSince: nudgeCount,
                cancellable: false,
                afterRegistering: afterRegistering
            ).get()
            return
        }
        let result = await withTaskCancellationHandler {
            await self.suspend(
                id: id,
                until: target,
                followsNudgesSince: nudgeCount,
                cancellable: true,
                afterRegistering: afterRegistering
            )
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                defer { self.waiterCount.store(state.waiters.count, ordering: .releasing) }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: .failure(Self.cancelled))
        }
        try result.get()
    }

    /// Registers the waiter `id` and suspends until it is resumed, unless the wait is over already; then
    /// calls `afterRegistering`.
    private func suspend(
        id: UInt64,
        until target: UInt64,
        followsNudgesSince nudgeCount: UInt64?,
        cancellable: Bool,
        afterRegistering: () -> Void
    ) async -> Result<Void, PMemStreamError> {
        await withCheckedContinuation { continuation in
            let immediate: Result<Void, PMemStreamError>? = self.state.withLock { state in
                if let error = state.closedWith { return .failure(error) }
                if self.current.load(ordering: .acquiring) >= target { return .success(()) }
                if let nudgeCount, self.nudges.load(ordering: .acquiring) != nudgeCount { return .success(()) }
                if cancellable, Task.isCancelled { return .failure(Self.cancelled) }
                state.waiters.append(
                    Waiter(id: id, target: target, followsNudges: nudgeCount != nil, continuation: continuation)
                )
                // Published before the value is checked again below, so a concurrent raise either
                // sees this waiter or is seen by the check.
                self.waiterCount.store(state.waiters.count, ordering: .sequentiallyConsistent)
                if self.current.load(ordering: .sequentiallyConsistent) >= target {
                    state.waiters.removeLast()
                    self.waiterCount.store(state.waiters.count, ordering: .releasing)
                    return .success(())
                }
                return nil
            }
            if let immediate {
                continuation.resume(returning: immediate)
            } else {
                afterRegistering()
            }
        }
    }

    private static let cancelled = PMemStreamError(code: .cancelled, message: "the wait was cancelled")
}

extension Array {
    /// The elements that satisfy `predicate`, and the others, each in their original order.
    fileprivate func partitioned(by predicate: (Element) -> Bool) -> (matching: [Element], rest: [Element]) {
        var matching: [Element] = []
        var rest: [Element] = []
        for element in self {
            if predicate(element) { matching.append(element) } else { rest.append(element) }
        }
        return (matching, rest)
    }
}
