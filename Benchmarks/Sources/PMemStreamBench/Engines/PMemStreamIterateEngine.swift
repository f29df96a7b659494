import PMemStream

/// `pmemstream-iterate`: reads a region's entries back with `PMemStream.entries(in:)`, which verifies each
/// entry's CRC32C, and touches every entry's bytes in place.
///
/// The entries are appended in batches before timing. Each thread reads a region of its own, whatever the
/// layout, so that its `count` operations are `count` distinct entries; compare it with ``MemcpyEngine``.
struct PMemStreamIterateEngine: Engine {
    func prepare(_ workload: Workload) async throws -> any PreparedRun {
        let fixture = try await StreamFixture.make(workload, layout: .perThread)
        let batches = workload.payload.batches(count: workload.count, batchSize: 256)
        do {
            for writer in fixture.writers {
                for batch in batches {
                    _ = try await writer.append(contentsOf: batch)
                }
            }
        } catch {
            // The stream is closed; the session deletes the file.
            try? await fixture.stream.close()
            throw error
        }
        return Run(fixture: fixture, workload: workload)
    }

    private struct Run: PreparedRun {
        let fixture: StreamFixture
        let workload: Workload

        func perform(thread: Int) async throws {
            try await self.readAll(thread: thread)
        }

        /// The timed loop, `@concurrent` as `EntrySequence` advises for long walks: in this package's
        /// `nonisolated(nonsending)` functions, every step of a `for try await` loop hops back to the caller's
        /// isolation, about 40 ns per entry on the Zen 3 VM of Docs/Performance.md's seventeenth pass.
        @concurrent
        private func readAll(thread: Int) async throws {
            var entries = 0
            var touched: UInt8 = 0
            for try await entry in self.fixture.stream.entries(in: self.fixture.regions[thread]) {
                touched &+= try entry.withUnsafeBytes { $0.last ?? 0 }
                entries += 1
            }
            Sink.consume(touched)
            guard entries == self.workload.count else {
                throw BenchmarkError("read \(entries) entries back instead of \(self.workload.count)")
            }
        }

        func finish() async throws {
            try await self.fixture.remove()
        }
    }
}
