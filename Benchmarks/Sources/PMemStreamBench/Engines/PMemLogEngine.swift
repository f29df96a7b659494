import CPMemLog
import Glibc

/// `pmemlog`: libpmemlog's `pmemlog_append`, the C predecessor, appending the same entries.
///
/// Every thread appends to the one log of the pool (libpmemlog has one log per pool and a lock around it),
/// so the region layout does not apply. Before timing, the log is filled once with large appends and
/// rewound, so that its pages are faulted in like the other engines' prefaulted mappings.
struct PMemLogEngine: Engine {
    /// `PMEMLOG_MIN_POOL` of `<libpmemlog.h>`, 2 MiB: a macro with a cast, which Swift does not import.
    static let minimumPoolSize = 2 << 20

    func prepare(_ workload: Workload) async throws -> any PreparedRun {
        try ScratchFile.remove(workload.path)
        let dataSize = workload.threads * workload.count * workload.entrySize
        let poolSize = max(Self.minimumPoolSize, dataSize + (1 << 20))
        guard let pool = pmemlog_create(workload.path, poolSize, 0o600) else {
            throw BenchmarkError.system("pmemlog_create of \(poolSize) bytes", path: workload.path)
        }
        let log = Log(pool: pool, path: workload.path)
        try log.warmUp()
        return Run(log: log, workload: workload)
    }

    /// An open pool.
    ///
    /// - Important: `@unchecked Sendable`: libpmemlog serialises appends to a pool with its own lock.
    final class Log: @unchecked Sendable {
        let pool: OpaquePointer
        let path: String

        init(pool: OpaquePointer, path: String) {
            self.pool = pool
            self.path = path
        }

        /// Writes the whole log once with 1 MiB appends, then rewinds it.
        ///
        /// - Throws: ``BenchmarkError`` when an append fails: the timed loop would fault pages in.
        func warmUp() throws {
            let chunk = [UInt8](repeating: 0xA5, count: 1 << 20)
            let capacity = Int(pmemlog_nbyte(self.pool))
            var written = Int(pmemlog_tell(self.pool))
            while written < capacity {
                let size = min(chunk.count, capacity - written)
                guard chunk.withUnsafeBytes({ pmemlog_append(self.pool, $0.baseAddress, size) }) == 0 else {
                    let call = "pmemlog_append of \(size) bytes at \(written) to warm the log"
                    throw BenchmarkError.system(call, path: self.path)
                }
                written += size
            }
            pmemlog_rewind(self.pool)
        }
    }

    private struct Run: PreparedRun {
        let log: Log
        let workload: Workload

        func perform(thread: Int) async throws {
            try Self.appendLoop(self.log.pool, payload: self.workload.payload, count: self.workload.count)
        }

        /// The timed loop.
        private static func appendLoop(_ pool: OpaquePointer, payload: Payload, count: Int) throws {
            let size = payload.entrySize
            let failures = payload.withContiguousEntries { entries in
                var failures = 0
                var slot = 0
                for _ in 0..<count {
                    if pmemlog_append(pool, entries + slot * size, size) != 0 {
                        failures += 1
                    }
                    slot = slot + 1 == payload.poolCount ? 0 : slot + 1
                }
                return failures
            }
            guard failures == 0 else {
                throw BenchmarkError("pmemlog_append failed \(failures) times: \(String(cString: strerror(errno)))")
            }
        }

        func finish() async throws {
            pmemlog_close(self.log.pool)
            try ScratchFile.remove(self.log.path)
        }
    }
}
