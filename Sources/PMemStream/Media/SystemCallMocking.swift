/// Fault injection for debug builds: makes chosen system and libpmem2 calls fail for the current task.
///
/// Every choke point in `SystemCalls.swift` asks for an injected failure before it calls the real
/// function. Tests wrap the code under test in `withInjectedFailures(_:_:)` to force `ENOSPC`, `EIO` or a
/// `PMEM2_E_*` code without a full disk or broken hardware. The setting is task-local, so tests running in
/// parallel never see each other's failures. Release builds keep only ``Call``; nothing can be injected.
package struct SystemCallMocking: Sendable {
    /// A call that can be made to fail.
    package enum Call: Hashable, Sendable {
        /// `open(2)`; the injected value is an `errno`.
        case open
        /// `posix_fallocate(3)`; the injected value is an `errno`.
        case fallocate
        /// `mmap(2)`; the injected value is an `errno`.
        case mmap
        /// A deep flush: `pmem2_deep_flush`, or `msync` for a page-granular mapping; the injected value is a
        /// libpmem2 status (`-errno` or `PMEM2_E_*`).
        case deepFlush
    }

    #if ENABLE_MOCKING
        /// The failures in force: which call fails with which value.
        package var failures: [Call: Int32]

        /// The failures in force for the current task, if any.
        @TaskLocal package static var current: SystemCallMocking?

        /// Runs `body` with the given calls failing.
        ///
        /// - Parameters:
        ///   - failures: Which call fails with which value.
        ///   - body: The code under test.
        /// - Returns: What `body` returns.
        package static func withInjectedFailures<R>(_ failures: [Call: Int32], _ body: () throws -> R) rethrows -> R {
            try self.$current.withValue(SystemCallMocking(failures: failures), operation: body)
        }

        /// The injected value for `call`, when it is set to fail.
        static func injectedFailure(for call: Call) -> Int32? {
            self.current?.failures[call]
        }
    #endif
}
