#if canImport(Glibc)
    import Glibc
#endif

/// State behind a `pthread_mutex_t`, the one lock every layer of PMemStream uses.
///
/// `Synchronization.Mutex` would do the same, but ThreadSanitizer does not see its futex-based locking on
/// Linux and reports every access it protects as a race; a POSIX mutex keeps `make tsan` meaningful.
/// Uncontended, both cost one atomic exchange to lock and one to unlock.
package struct Lock<State>: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: `state` is read and written only while `mutex` is held.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let state: UnsafeMutablePointer<State>

    /// Where the state starts in the one allocation that holds the mutex and then the state, so that a
    /// state of up to 24 bytes shares the mutex's cache line (a thread that takes the lock finds it there),
    /// and a larger one begins on it.
    private static var stateOffset: Int {
        let alignment = MemoryLayout<State>.alignment
        return (MemoryLayout<pthread_mutex_t>.size + alignment - 1) / alignment * alignment
    }

    /// Creates the lock, guarding `initialState`.
    package init(_ initialState: consuming State) {
        let memory = UnsafeMutableRawPointer.allocate(
            byteCount: Self.stateOffset + MemoryLayout<State>.size,
            alignment: max(MemoryLayout<pthread_mutex_t>.alignment, MemoryLayout<State>.alignment, 64)
        )
        self.mutex = memory.initializeMemory(as: pthread_mutex_t.self, to: pthread_mutex_t())
        pthread_mutex_init(self.mutex, nil)
        self.state = (memory + Self.stateOffset).initializeMemory(as: State.self, to: initialState)
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        self.state.deinitialize(count: 1)
        UnsafeMutableRawPointer(self.mutex).deallocate()
    }

    /// Calls `body` with the state while holding the lock.
    package borrowing func withLock<Result: ~Copyable, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return try body(&self.state.pointee)
    }

    /// Calls `body` with the state if the lock is free; returns `nil` at once, without calling it, while
    /// another thread holds the lock.
    package borrowing func withLockIfAvailable<Result: ~Copyable, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        guard pthread_mutex_trylock(self.mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(self.mutex) }
        return try body(&self.state.pointee)
    }
}
