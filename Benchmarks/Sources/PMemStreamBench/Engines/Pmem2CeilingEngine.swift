import CPMem2Bench

/// `pmem2-ceiling` and `pmem2-ceiling-batch`: libpmem2 copies into consecutive 8-aligned offsets of a
/// mapped file, with no log around them. No real log can beat these.
///
/// - `pmem2-ceiling` copies with flags 0: every copy is flushed and drained (one persist per entry).
/// - `pmem2-ceiling-batch` copies with `PMEM2_F_MEM_NODRAIN` and drains once per batch of
///   `workload.batchSize` copies, and after the last.
///
/// Each thread writes its own part of the file, so the region layout does not apply.
struct Pmem2CeilingEngine: Engine {
    /// Whether copies are drained per batch instead of one by one.
    let batched: Bool

    func prepare(_ workload: Workload) async throws -> any PreparedRun {
        try ScratchFile.remove(workload.path)
        let perThread = workload.count * workload.alignedEntrySize
        let file = try Pmem2File(creating: workload.path, size: workload.threads * perThread + 4096, prefault: true)
        return Run(file: file, workload: workload, batched: self.batched)
    }

    private struct Run: PreparedRun {
        let file: Pmem2File
        let workload: Workload
        /// Whether copies are drained per batch instead of one by one.
        let batched: Bool

        func perform(thread: Int) async throws {
            let start = thread * self.workload.count * self.workload.alignedEntrySize
            if self.batched {
                Self.drainPerBatch(self.file, from: start, workload: self.workload)
            } else {
                Self.persistEach(self.file, from: start, workload: self.workload)
            }
        }

        /// The timed loop of `pmem2-ceiling`.
        private static func persistEach(_ file: Pmem2File, from start: Int, workload: Workload) {
            let memcpy = file.memcpy
            let payload = workload.payload
            let size = payload.entrySize
            payload.withContiguousEntries { entries in
                var destination = file.base + start
                var slot = 0
                for _ in 0..<workload.count {
                    _ = memcpy(destination, entries + slot * size, size, 0)
                    destination += workload.alignedEntrySize
                    slot = slot + 1 == payload.poolCount ? 0 : slot + 1
                }
            }
        }

        /// The timed loop of `pmem2-ceiling-batch`.
        private static func drainPerBatch(_ file: Pmem2File, from start: Int, workload: Workload) {
            let batchSize = workload.batchSize
            let memcpy = file.memcpy
            let drain = file.drain
            let flags = UInt32(PMEM2_F_MEM_NODRAIN)
            let payload = workload.payload
            let size = payload.entrySize
            payload.withContiguousEntries { entries in
                var destination = file.base + start
                var slot = 0
                var inBatch = 0
                for _ in 0..<workload.count {
                    _ = memcpy(destination, entries + slot * size, size, flags)
                    destination += workload.alignedEntrySize
                    slot = slot + 1 == payload.poolCount ? 0 : slot + 1
                    inBatch += 1
                    if inBatch == batchSize {
                        drain()
                        inBatch = 0
                    }
                }
                if inBatch > 0 {
                    drain()
                }
            }
        }

        func finish() async throws {
            try self.file.remove()
        }
    }
}
