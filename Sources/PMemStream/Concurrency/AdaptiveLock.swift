import CPMemStreamStores

#if canImport(Glibc)
    import Glibc
#endif

/// A `pthread_mutex_t` that a thread finding it held spins for, a while, before it sleeps: the lock of a
/// region's appends (``RegionWriter/appendLock``).
///
/// An append holds it only while it reserves, writes and publishes, from a tenth of a microsecond to a few
/// for entries of up to 64 KiB, and never while it suspends. A thread that slept on it would be woken by the
/// kernel, which on the virtual machines PMemStream is measured on takes 10 – 15 µs (the virtual CPU halts
/// while it is idle): far longer than the wait. So a thread spins first, for about as long as a wake takes
/// (``spinAttempts``), and only then sleeps in `pthread_mutex_lock`. Like ``Lock``, it is a POSIX mutex so
/// that ThreadSanitizer sees it.
package struct AdaptiveLock: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the mutex is only ever used through the pthread calls, which are thread-safe.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// How many times a thread tries the lock, ``pausesPerAttempt`` pauses apart, before it sleeps: about
    /// 20 – 40 µs in all, with a `pause` of 20 – 40 ns.
    static let spinAttempts = 128
    /// The pauses between two tries: a try is a read-modify-write of the mutex's line, which the holder
    /// needs back to release it.
    static let pausesPerAttempt = 8

    /// Creates an unlocked lock, alone on its cache line.
    package init() {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        self.mutex = memory.initializeMemory(as: pthread_mutex_t.self, to: pthread_mutex_t())
        pthread_mutex_init(self.mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        UnsafeMutableRawPointer(self.mutex).deallocate()
    }

    /// Calls `body` while holding the lock; while another thread holds it, spins and then sleeps.
    @inline(__always)
    package borrowing func withLock<Result: ~Copyable, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if pthread_mutex_trylock(self.mutex) != 0 {
            self.lockContended()
        }
        defer { pthread_mutex_unlock(self.mutex) }
        return try body()
    }

    /// Takes the lock, which was held at the first try.
    private borrowing func lockContended() {
        for _ in 0..<Self.spinAttempts {
            for _ in 0..<Self.pausesPerAttempt {
                pmemstream_spin_pause()
            }
            if pthread_mutex_trylock(self.mutex) == 0 {
                return
            }
        }
        pthread_mutex_lock(self.mutex)
    }
}
