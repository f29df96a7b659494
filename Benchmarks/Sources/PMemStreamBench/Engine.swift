/// One way of doing the benchmark's operations: a peer's append loop, the libpmem2 ceiling, or PMemStream.
///
/// An engine sets up each iteration afresh (a new file, warm pages), untimed, and hands back a
/// ``PreparedRun`` whose ``PreparedRun/perform(thread:)`` is the only thing timed.
protocol Engine: Sendable {
    /// Sets up one iteration, untimed: a fresh file at `workload.path`, regions, writers, payload.
    ///
    /// - Parameter workload: What to do and where.
    /// - Returns: The iteration, ready to time.
    func prepare(_ workload: Workload) async throws -> any PreparedRun
}

/// An iteration of an ``Engine`` that is set up and ready to time.
protocol PreparedRun: Sendable {
    /// The timed work of one thread: `workload.count` operations of `workload.entrySize` bytes.
    ///
    /// Called once for each thread, from tasks that are not isolated to any actor, so that no hot loop runs on
    /// the main actor.
    /// - Parameter thread: The thread's index, from 0.
    func perform(thread: Int) async throws

    /// Untimed, after ``CacheEviction/evict()``: reads what the timed loop appends from, beyond the payload's
    /// entries, back into the caches. Nothing by default.
    func warm()

    /// Untimed clean-up: closes and deletes the iteration's file.
    func finish() async throws
}

extension PreparedRun {
    func warm() {}
}
