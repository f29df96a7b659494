import Synchronization

#if os(Linux)
    import Glibc
    import CNuma
#endif

/// Background threads that run the group-commit rounds, bound to a NUMA node when there is one to use.
///
/// Each thread sleeps until it is woken (see ``GroupCommit`` for when) or its interval passes, then runs one round.
/// Threads rather than tasks: a round blocks in flushes and drains (an `msync` on page-granular files), and
/// that must never stall the cooperative thread pool; a thread can also be bound to the memory's node.
final class PersistWorkers: @unchecked Sendable {
    // @unchecked Sendable: the threads and the semaphore are created in `init` and only joined in `stop()`;
    // the stop flag is atomic.

    private let wakeup = MonotonicSemaphore()
    private let context: WorkerContext
    private var threads: [pthread_t] = []
    private let stopped = Lock(false)

    /// Starts `count` threads that run `round` whenever woken, and at least every `interval`.
    ///
    /// - Throws: ``PMemStreamError/Code/outOfResources`` when a thread cannot be started; the threads started
    ///   before it are stopped again.
    init(count: Int, node: Int?, interval: Duration, round: @escaping @Sendable () -> Void) throws(PMemStreamError) {
        let context = WorkerContext(
            wakeup: self.wakeup,
            node: node,
            interval: interval,
            round: round
        )
        self.context = context
        for _ in 0..<count {
            var thread = pthread_t()
            let argument = Unmanaged.passRetained(context).toOpaque()
            let status = pthread_create(
                &thread,
                nil,
                { argument in
                    let context = Unmanaged<WorkerContext>.fromOpaque(argument!).takeRetainedValue()
                    context.run()
                    return nil
                },
                argument
            )
            guard status == 0 else {
                Unmanaged<WorkerContext>.fromOpaque(argument).release()
                // `deinit` stops and joins the threads already started.
                throw PMemStreamError(
                    code: .outOfResources,
                    message: "persist worker \(self.threads.count + 1) of \(count) could not be started: "
                        + String(cString: strerror(status)),
                    errno: status
                )
            }
            self.threads.append(thread)
        }
    }

    /// Wakes one worker to run a round now.
    func wake() {
        self.wakeup.signal()
    }

    /// Stops the workers after their current round and waits for them (except the calling thread, when it is
    /// one of them). Idempotent.
    func stop() {
        let alreadyStopped = self.stopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        self.context.stopping.store(true, ordering: .releasing)
        for _ in self.threads {
            self.wakeup.signal()
        }
        for thread in self.threads {
            if pthread_equal(thread, pthread_self()) != 0 {
                // The last reference went in this worker's own round: the thread ends by itself, unjoined.
                pthread_detach(thread)
            } else {
                pthread_join(thread, nil)
            }
        }
    }

    deinit {
        self.stop()
    }
}

/// What a worker thread needs: the semaphore, the stop flag, its node, its interval and its round.
private final class WorkerContext: @unchecked Sendable {
    // @unchecked Sendable: immutable after init but for the atomic flag; the semaphore is thread-safe.
    let wakeup: MonotonicSemaphore
    let stopping = Atomic(false)
    let node: Int?
    let interval: Duration
    let round: @Sendable () -> Void

    init(
        wakeup: MonotonicSemaphore,
        node: Int?,
        interval: Duration,
        round: @escaping @Sendable () -> Void
    ) {
        self.wakeup = wakeup
        self.node = node
        self.interval = interval
        self.round = round
    }

    func run() {
        if let node = self.node {
            // The corresponding C function is `numa_run_on_node`; a failure leaves the thread unbound.
            _ = numa_run_on_node(Int32(node))
        }
        while !self.stopping.load(ordering: .acquiring) {
            // On the monotonic clock: a wall clock set back would hold up the timed rounds.
            self.wakeup.wait(timeout: self.interval)
            self.round()
        }
    }
}
