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
        let continuation: CheckedContinuation<Result<Void, PMemStreamError>, Never>
    }

    private struct State {
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closedWith: PMemStreamError?
    }

    private let current: Atomic<UInt64>
    private let state = Mutex(State())

    init(_ value: UInt64) {
        self.current = Atomic(value)
    }

    /// The current value.
    var value: UInt64 {
        self.current.load(ordering: .acquiring)
    }

    /// Moves the watermark to `value` if that is forward, and resumes every waiter it satisfies.
    func advance(to value: UInt64) {
        let satisfied = self.state.withLock { state -> [Waiter] in
            guard value > self.current.load(ordering: .relaxed) else { return [] }
            self.current.store(value, ordering: .releasing)
            let (ready, waiting) = state.waiters.partitioned { $0.target <= value }
            state.waiters = waiting
            return ready
        }
        for waiter in satisfied {
            waiter.continuation.resume(returning: .success(()))
        }
    }

    /// Resumes every waiter without moving the watermark, so that each one looks again at what it waits
    /// for (used when a region is freed under a reader that follows it).
    func wakeAll() {
        let all = self.state.withLock { state in
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in all {
            waiter.continuation.resume(returning: .success(()))
        }
    }

    /// Fails every waiter, now and later, with `error`.
    func close(with error: PMemStreamError) {
        let all = self.state.withLock { state in
            state.closedWith = state.closedWith ?? error
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in all {
            waiter.continuation.resume(returning: .failure(error))
        }
    }

    /// Returns when the watermark reaches `target` (at once if it has), or when ``wakeAll()`` is called.
    ///
    /// - Throws: The error given to ``close(with:)``, or ``PMemStreamError/Code/cancelled`` when the task is
    ///   cancelled while waiting.
    func wait(until target: UInt64) async throws(PMemStreamError) {
        guard self.value < target else { return }
        let id = self.state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate: Result<Void, PMemStreamError>? = self.state.withLock { state in
                    if let error = state.closedWith { return .failure(error) }
                    if self.current.load(ordering: .acquiring) >= target { return .success(()) }
                    if Task.isCancelled { return .failure(Self.cancelled) }
                    state.waiters.append(Waiter(id: id, target: target, continuation: continuation))
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: .failure(Self.cancelled))
        }
        try result.get()
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
