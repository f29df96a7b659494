import Dispatch

/// A task executor with a thread of its own (a serial dispatch queue's): a task that prefers it runs there,
/// and so do the default actors it calls, however busy the tasks' shared pool is.
///
/// For a task that seldom suspends, such as a loop of calls to actors that each return without waiting: on
/// the pool it would hold a thread for as long as it loops, and with a pool of one thread, nothing else ran
/// meanwhile.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: the queue is set once and is itself thread-safe.
    private let queue: DispatchQueue

    /// - Parameter label: The dispatch queue's label, which names the thread in a debugger.
    init(label: String) {
        self.queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
