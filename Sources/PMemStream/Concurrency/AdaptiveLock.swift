/// A ``Lock`` that a thread finding it held spins for, a while, before it sleeps: the lock of a region's
/// appends (``RegionWriter/appendLock``).
///
/// An append holds it only while it reserves, writes and publishes, from a tenth of a microsecond to a few
/// for entries of up to 64 KiB, and never while it suspends. A thread that slept on it would be woken by the
/// kernel, far later than the wait would have ended; so a thread waits with a ``SpinBackoff`` first, and
/// only then sleeps in `pthread_mutex_lock`.
package struct AdaptiveLock: ~Copyable, Sendable {
    private let lock = Lock(())

    /// Creates an unlocked lock.
    package init() {}

    /// Calls `body` while holding the lock; while another thread holds it, spins and then sleeps.
    @inline(__always)
    package borrowing func withLock<Result: ~Copyable, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if let result = try self.lock.withLockIfAvailable({ _ throws(Failure) in try body() }) {
            return result
        }
        return try self.withLockContended(body)
    }

    /// ``withLock(_:)``, telling `body` whether the first try found the lock held by another thread.
    @inline(__always)
    package borrowing func withLock<Result: ~Copyable, Failure: Error>(
        notingContention body: (_ contended: Bool) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if let result = try self.lock.withLockIfAvailable({ _ throws(Failure) in try body(false) }) {
            return result
        }
        return try self.withLockContended { () throws(Failure) in try body(true) }
    }

    /// ``withLock(_:)`` once the first try found the lock held.
    private borrowing func withLockContended<Result: ~Copyable, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var backoff = SpinBackoff()
        while backoff.pause() {
            if let result = try self.lock.withLockIfAvailable({ _ throws(Failure) in try body() }) {
                return result
            }
        }
        return try self.lock.withLock { _ throws(Failure) in try body() }
    }
}
