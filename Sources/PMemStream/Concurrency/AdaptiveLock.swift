import CPMemStreamStores

/// A ``Lock`` that a thread finding it held spins for, a while, before it sleeps: the lock of a region's
/// appends (``RegionWriter/appendLock``).
///
/// An append holds it only while it reserves, writes and publishes, from a tenth of a microsecond to a few
/// for entries of up to 64 KiB, and never while it suspends. A thread that slept on it would be woken by the
/// kernel, which on the virtual machines PMemStream is measured on takes 10 – 15 µs (the virtual CPU halts
/// while it is idle): far longer than the wait. So a thread spins first, for about as long as a wake takes
/// (``spinAttempts``), and only then sleeps in `pthread_mutex_lock`.
package struct AdaptiveLock: ~Copyable, Sendable {
    private let lock = Lock(())

    /// How many times a thread tries the lock, ``pausesPerAttempt`` pauses apart, before it sleeps: about
    /// 20 – 40 µs in all, with a `pause` of 20 – 40 ns.
    static let spinAttempts = 128
    /// The pauses between two tries: a try is a read-modify-write of the mutex's line, which the holder
    /// needs back to release it.
    static let pausesPerAttempt = 8

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

    /// ``withLock(_:)`` once the first try found the lock held.
    private borrowing func withLockContended<Result: ~Copyable, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        for _ in 0..<Self.spinAttempts {
            for _ in 0..<Self.pausesPerAttempt {
                pmemstream_spin_pause()
            }
            if let result = try self.lock.withLockIfAvailable({ _ throws(Failure) in try body() }) {
                return result
            }
        }
        return try self.lock.withLock { _ throws(Failure) in try body() }
    }
}
