import Dispatch
import Synchronization

/// Runs `body` on a thread of its own and returns what it returns, for work that blocks its thread: a wait
/// for a child process, a read of a pipe, a wait for another thread, or a loop that spins until one is done.
///
/// Tasks share a pool with one thread per processor (two in CI). A test that blocks in a task holds one of
/// them for as long as it blocks, and two such tests at once hold all of them: no other test runs, and a
/// test that waits for one of them never ends. A serial dispatch queue of its own gets a thread of its own
/// however busy the pool is, and the calling task waits for it without holding a thread.
///
/// ```swift
/// let run = await onThreadOfItsOwn("PMemStreamIntegrationTests.child") { child.waitForEnd() }
/// #expect(run.status == 0)
/// ```
///
/// - Parameters:
///   - label: The dispatch queue's label, which names the thread in a debugger.
///   - body: The blocking work. It runs outside the task, so keep `#expect` out of it: check what it returns.
/// - Returns: What `body` returns.
package func onThreadOfItsOwn<R: Sendable>(
    _ label: String = "PMemStreamTestKit.threadOfItsOwn",
    _ body: @escaping @Sendable () -> R
) async -> R {
    await ThreadOfItsOwn(label, body).value
}

/// Work started on a thread of its own at once, whose result a task awaits later: for work that must run
/// beside other blocking work, such as two threads that spin until the other is done.
///
/// Starting such work in a child task (`async let`, a task group) is not enough: a child task needs a thread
/// of the tasks' pool to start, and while the pool is busy with other tests, its partner, already running,
/// spins alone and takes a processor from the tests it waits for.
///
/// ```swift
/// let writer = ThreadOfItsOwn("PMemStreamTests.writer") { spinUntilTheReaderIsDone() }
/// let read = await onThreadOfItsOwn("PMemStreamTests.reader") { spinUntilTheWriterIsDone() }
/// await writer.value
/// ```
package final class ThreadOfItsOwn<R: Sendable>: Sendable {
    private let outcome = Mutex<(value: R?, waiter: CheckedContinuation<R, Never>?)>((nil, nil))

    /// Starts `body` on a thread of its own (a serial dispatch queue's) before it returns.
    ///
    /// - Parameters:
    ///   - label: The dispatch queue's label, which names the thread in a debugger.
    ///   - body: The blocking work; keep `#expect` out of it, and check what it returns.
    package init(_ label: String = "PMemStreamTestKit.threadOfItsOwn", _ body: @escaping @Sendable () -> R) {
        DispatchQueue(label: label).async {
            let value = body()
            let waiter = self.outcome.withLock { outcome in
                defer { outcome.waiter = nil }
                if outcome.waiter == nil {
                    outcome.value = value
                }
                return outcome.waiter
            }
            waiter?.resume(returning: value)
        }
    }

    /// What the work returned, once it has: the task waits without holding a thread. Await it once.
    package var value: R {
        get async {
            await withCheckedContinuation { continuation in
                let value = self.outcome.withLock { outcome in
                    if outcome.value == nil {
                        outcome.waiter = continuation
                    }
                    return outcome.value
                }
                if let value {
                    continuation.resume(returning: value)
                }
            }
        }
    }
}
