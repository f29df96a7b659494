/// Times one prepared iteration on its threads.
enum Stopwatch {
    /// Runs ``PreparedRun/perform(thread:)`` on `threads` child tasks that start together at a barrier,
    /// and returns the nanoseconds from the first thread's start to the last thread's end.
    ///
    /// The child tasks are not isolated to any actor, so the loops never run on the main actor.
    static func time(_ run: any PreparedRun, threads: Int) async throws -> UInt64 {
        let barrier = SpinBarrier(parties: threads)
        return try await withThrowingTaskGroup(of: (start: UInt64, end: UInt64).self) { group in
            for thread in 0..<threads {
                group.addTask {
                    barrier.arriveAndWait()
                    let start = MonotonicClock.now()
                    try await run.perform(thread: thread)
                    return (start, MonotonicClock.now())
                }
            }
            var first = UInt64.max
            var last: UInt64 = 0
            for try await span in group {
                first = min(first, span.start)
                last = max(last, span.end)
            }
            return last - first
        }
    }
}
