import PMemStream

/// `pmemstream-batch`: `RegionWriter.append(contentsOf:)` with batches of `workload.batchSize` entries: one
/// drain per batch. The batches are assembled before timing.
struct PMemStreamBatchEngine: Engine {
    func prepare(_ workload: Workload) async throws -> any PreparedRun {
        Run(
            fixture: try await StreamFixture.make(workload, layout: workload.configuration.layout),
            batches: workload.payload.batches(count: workload.count, batchSize: workload.batchSize)
        )
    }

    private struct Run: PreparedRun {
        let fixture: StreamFixture
        let batches: [[[UInt8]]]

        /// The timed loop.
        func perform(thread: Int) async throws {
            let writer = self.fixture.writers[thread]
            for batch in self.batches {
                _ = try await writer.append(contentsOf: batch)
            }
        }

        /// Reads each batch's list of entries (the entries are the payload's).
        func warm() {
            var count = 0
            for batch in self.batches {
                batch.withUnsafeBufferPointer { entries in
                    for entry in entries {
                        count &+= entry.count
                    }
                }
            }
            Sink.consume(count)
        }

        func finish() async throws {
            try await self.fixture.remove()
        }
    }
}
