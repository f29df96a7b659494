import Synchronization

#if os(Linux)
    import Glibc
#endif

/// Background threads that run the group-commit rounds, bound to a NUMA node when there is one to use.
///
/// Each thread sleeps until it is woken (see ``GroupCommit`` for when) or its interval passes, then runs one round.
/// Threads rather than tasks: a round blocks in flushes and drains (an `msync` on page-granular files), and
/// that must never stall the cooperative thread pool; a thread can also be bound to the memory's node.
///
/// A thread binds itself before its first round and reports how that went: `init` returns once every thread
/// has, so ``placements`` says where the workers really run. The threads start together, and waiting for
/// them adds about 0.1 ms to opening a stream, for one thread or several.
final class PersistWorkers: @unchecked Sendable {
    // @unchecked Sendable: the threads, the semaphore and the placements are set in `init` and the threads
    // only joined in `stop()`; the stop flag is atomic.

    private let wakeup = MonotonicSemaphore()
    private let context: WorkerContext
    private var threads: [pthread_t] = []
    private let stopped = Lock(false)
    /// Where each worker ended up, in the order they reported it.
    private(set) var placements: [WorkerPlacement] = []

    /// Starts `count` threads that bind themselves to `node`, when there is one, then run `round` whenever
    /// woken, and at least every `interval`; returns once every thread has tried to bind itself.
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
        for _ in self.threads {
            context.started.wait()
        }
        self.placements = context.placements.withLock { $0 }
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

/// Where a persist worker ended up, as it found once it had started.
struct WorkerPlacement: Sendable, Hashable {
    /// Why binding the worker to its node failed; `nil` when it is bound or was not to be bound.
    var bindingFailure: PMemStreamError?
    /// The processors the worker may run on, as the kernel reports them once it has bound itself; empty when
    /// the kernel could not tell.
    var processors: [Int]
}

/// What a worker thread needs: the semaphores, the stop flag, its node, its interval and its round.
private final class WorkerContext: @unchecked Sendable {
    // @unchecked Sendable: immutable after init but for the atomic flag and the placements under their lock;
    // the semaphores are thread-safe.
    let wakeup: MonotonicSemaphore
    let stopping = Atomic(false)
    /// Signalled by each worker once it has reported its placement.
    let started = MonotonicSemaphore()
    /// The workers' placements, in the order they reported them.
    let placements = Lock<[WorkerPlacement]>([])
    let node: Int?
    let interval: Duration
    let round: @Sendable () -> Void
    #if ENABLE_MOCKING
        /// The failures in force for the task that started the workers: the worker threads see them too.
        let mocking = SystemCallMocking.current
    #endif

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
        #if ENABLE_MOCKING
            let placement = SystemCallMocking.$current.withValue(self.mocking) { self.place() }
        #else
            let placement = self.place()
        #endif
        self.placements.withLock { $0.append(placement) }
        self.started.signal()
        while !self.stopping.load(ordering: .acquiring) {
            // On the monotonic clock: a wall clock set back would hold up the timed rounds.
            self.wakeup.wait(timeout: self.interval)
            self.round()
        }
    }

    /// Binds the calling worker thread to the node, when there is one, and says how that went.
    private func place() -> WorkerPlacement {
        var failure: PMemStreamError?
        if let node = self.node {
            do throws(PMemStreamError) {
                try SystemCalls.bindCurrentThread(toNode: node)
            } catch {
                failure = error  // the thread stays unbound
            }
        }
        let processors = (try? SystemCalls.processorsOfCurrentThread()) ?? []
        return WorkerPlacement(bindingFailure: failure, processors: processors)
    }
}
