import Dispatch

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
    await withCheckedContinuation { continuation in
        DispatchQueue(label: label).async {
            continuation.resume(returning: body())
        }
    }
}
