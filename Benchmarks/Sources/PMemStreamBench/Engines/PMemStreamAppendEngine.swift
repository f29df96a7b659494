import PMemStream

/// `pmemstream-sync`, `pmemstream-sync-isolated` and `pmemstream-async`: one entry per call.
///
/// - `pmemstream-sync` calls `RegionWriter.append(_:)`, which returns once the entry is persisted.
/// - `pmemstream-sync-isolated` makes the same calls from one `RegionWriter.withIsolation(_:)`: durable on
///   return each, on the writer's executor (appends are `nonisolated` and hop nowhere either way).
/// - `pmemstream-async` calls `RegionWriter.appendAsync(_:)`, which returns once the entry is written, and
///   `PMemStream.waitPersisted(_:)` every `workload.batchSize` entries and after the last: the C benchmark's
///   `--async_append --wait_period`, counted in entries, and with the final wait the C benchmark lacked. The
///   stream has its default configuration: one persist worker doing group commit in the background.
struct PMemStreamAppendEngine: Engine {
    /// How the engine appends.
    enum Mode {
        /// `append(_:)` from the engine's task.
        case synchronous
        /// `append(_:)` inside `withIsolation(_:)`: the loop runs on the writer's executor.
        case synchronousIsolated
        /// `appendAsync(_:)` with periodic waits.
        case asynchronous
    }

    let mode: Mode

    func prepare(_ workload: Workload) async throws -> any PreparedRun {
        Run(
            fixture: try await StreamFixture.make(workload, layout: workload.configuration.layout),
            workload: workload,
            mode: self.mode
        )
    }

    private struct Run: PreparedRun {
        let fixture: StreamFixture
        let workload: Workload
        let mode: Mode

        func perform(thread: Int) async throws {
            switch self.mode {
            case .synchronous: try await self.appendSynchronously(thread: thread)
            case .synchronousIsolated: try await self.appendSynchronouslyIsolated(thread: thread)
            case .asynchronous: try await self.appendAsynchronously(thread: thread)
            }
        }

        /// The timed loop of `pmemstream-sync`.
        private func appendSynchronously(thread: Int) async throws {
            let writer = self.fixture.writers[thread]
            let payload = self.workload.payload
            for index in 0..<self.workload.count {
                _ = try await writer.append(payload.entry(index))
            }
        }

        /// The timed loop of `pmemstream-sync-isolated`.
        private func appendSynchronouslyIsolated(thread: Int) async throws {
            let payload = self.workload.payload
            let count = self.workload.count
            try await self.fixture.writers[thread].withIsolation { writer in
                for index in 0..<count {
                    _ = try await writer.append(payload.entry(index))
                }
            }
        }

        /// The timed loop of `pmemstream-async`.
        private func appendAsynchronously(thread: Int) async throws {
            let writer = self.fixture.writers[thread]
            let stream = self.fixture.stream
            let payload = self.workload.payload
            let period = self.workload.batchSize
            var sinceWait = 0
            for index in 0..<self.workload.count {
                let timestamp = try await writer.appendAsync(payload.entry(index)).timestamp
                sinceWait += 1
                if sinceWait == period || index + 1 == self.workload.count {
                    try await stream.waitPersisted(timestamp)
                    sinceWait = 0
                }
            }
        }

        func finish() async throws {
            try await self.fixture.remove()
        }
    }
}
