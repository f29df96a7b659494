import Glibc

/// Runs `body` on a new thread, which ends with it, waits for it, and returns what it returned.
///
/// A processor affinity belongs to one thread: a test that changes it does so on a thread of its own, which
/// ends with the test, never on a thread of the shared pools that other tests run on next.
func onNewThread<Result>(_ body: () -> Result) -> Result {
    withoutActuallyEscaping(body) { body in
        var result: Result?
        let work = ThreadWork { result = body() }
        var thread = pthread_t()
        let status = pthread_create(
            &thread,
            nil,
            { argument in
                Unmanaged<ThreadWork>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            },
            Unmanaged.passRetained(work).toOpaque()
        )
        precondition(status == 0, "pthread_create: \(String(cString: strerror(status)))")
        pthread_join(thread, nil)
        return result!
    }
}

/// The work of a thread of its own.
private final class ThreadWork: @unchecked Sendable {
    // @unchecked Sendable: `run` is called once, on the new thread, while its creator waits in `pthread_join`.
    let run: () -> Void

    init(_ run: @escaping () -> Void) {
        self.run = run
    }
}
