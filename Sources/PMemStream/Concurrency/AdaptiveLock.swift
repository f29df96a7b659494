import CPMemStreamStores

/// A ``Lock`` that a thread finding it held spins for, a while, before it sleeps: the lock of a region's
/// appends (``RegionWriter/appendLock``).
///
/// An append holds it only while it reserves, writes and publishes, from a tenth of a microsecond to a few
/// for entries of up to 64 KiB, and never while it suspends. A thread that slept on it would be woken by the
/// kernel, which on the virtual machines PMemStream is measured on takes 10 – 15 µs (the virtual CPU halts
/// while it is idle): far longer than the wait. So a thread spins first, for a few times as long as a wake takes
/// (``spinPauses``), and only then sleeps in `pthread_mutex_lock`.
package struct AdaptiveLock: ~Copyable, Sendable {
    private let lock = Lock(())

    /// How long a thread spins before it sleeps, in `pause`s: about 40 – 80 µs with a `pause` of 20 – 40 ns.
    static let spinPauses = 2048
    /// The pauses before a thread's second try; each try that fails doubles them, up to ``maximumPauses``.
    /// A try is a read-modify-write of the mutex's line, which the holder needs back to release it: the
    /// longer a thread has waited, the less often it tries. On an Intel Xeon (family 6, model 207), two tasks
    /// appending to one region kept 0.85× – 0.89× of one task's throughput with synchronous 8 and 64 B
    /// appends so, against 0.58× – 0.70× with tries 8 pauses apart (Docs/Performance.md, nineteenth pass).
    static let initialPauses = 4
    /// The most pauses between two tries.
    static let maximumPauses = 64

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
        var pauses = Self.initialPauses
        var spun = 0
        while spun < Self.spinPauses {
            for _ in 0..<pauses {
                pmemstream_spin_pause()
            }
            spun += pauses
            pauses = min(pauses * 2, Self.maximumPauses)
            if let result = try self.lock.withLockIfAvailable({ _ throws(Failure) in try body() }) {
                return result
            }
        }
        return try self.lock.withLock { _ throws(Failure) in try body() }
    }
}
