#if canImport(Glibc)
    import Glibc
#endif

/// A counting semaphore whose timed wait ends on the monotonic clock, so that setting the wall clock back
/// holds up nothing. (`DispatchSemaphore`'s timed wait waits until a wall-clock time on Linux.)
///
/// A POSIX mutex and a condition variable on `CLOCK_MONOTONIC`, which ThreadSanitizer sees.
final class MonotonicSemaphore: @unchecked Sendable {
    // @unchecked Sendable: `count` is read and written only while `mutex` is held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var count = 0

    /// Creates the semaphore with a count of 0.
    init() {
        pthread_mutex_init(self.mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(self.condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(self.condition)
        pthread_mutex_destroy(self.mutex)
        self.condition.deallocate()
        self.mutex.deallocate()
    }

    /// Adds one to the count, and wakes a waiter if there is one.
    func signal() {
        pthread_mutex_lock(self.mutex)
        self.count += 1
        pthread_cond_signal(self.condition)
        pthread_mutex_unlock(self.mutex)
    }

    /// Takes one from the count, waiting while it is 0.
    func wait() {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        while self.count == 0 {
            pthread_cond_wait(self.condition, self.mutex)
        }
        self.count -= 1
    }

    /// Takes one from the count, waiting while it is 0 for at most `duration` on the monotonic clock.
    ///
    /// - Returns: Whether it took one; `false` when the time ran out first.
    @discardableResult
    func wait(timeout duration: Duration) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        while self.count == 0, pthread_cond_timedwait(self.condition, self.mutex, &deadline) != ETIMEDOUT {}
        guard self.count > 0 else { return false }
        self.count -= 1
        return true
    }
}
