/// Fault injection for debug builds: makes chosen system and libpmem2 calls fail for the current task.
///
/// Every choke point in `SystemCalls.swift` asks for an injected failure before it calls the real
/// function. Tests wrap the code under test in `withInjectedFailures(_:times:_:)` to force `ENOSPC`, `EIO` or a
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
        /// Binding a persist worker's thread to the processors of its NUMA node; the injected value is an
        /// `errno`. The worker thread sees the failures in force for the task that opens the stream.
        case bindThread
    }

    #if ENABLE_MOCKING
        /// The failures in force: which call fails with which value.
        package var failures: [Call: Int32]
        /// How many calls fail, of each call in ``failures``, before the rest go through; `nil` for all of them.
        private let countdown: Countdown?

        /// The failures in force for the current task, if any.
        @TaskLocal package static var current: SystemCallMocking?

        /// Failures of `failures`: the first `times` calls of each fail, or every call when `times` is `nil`.
        package init(failures: [Call: Int32], times: Int? = nil) {
            self.failures = failures
            self.countdown = times.map { Countdown(failures.keys, times: $0) }
        }

        /// Runs `body` with the given calls failing.
        ///
        /// - Parameters:
        ///   - failures: Which call fails with which value.
        ///   - times: How many calls of each fail before the rest go through; `nil` for all of them.
        ///   - body: The code under test.
        /// - Returns: What `body` returns.
        package static func withInjectedFailures<R>(
            _ failures: [Call: Int32],
            times: Int? = nil,
            _ body: () throws -> R
        ) rethrows -> R {
            try self.$current.withValue(SystemCallMocking(failures: failures, times: times), operation: body)
        }

        /// The injected value for `call`, when this call of it is set to fail.
        static func injectedFailure(for call: Call) -> Int32? {
            guard let current = self.current, let value = current.failures[call] else { return nil }
            return (current.countdown?.take(call) ?? true) ? value : nil
        }

        /// The failures left of each call, shared by every copy of the setting: persist workers starting at
        /// once take from it on their threads. Behind a ``Lock``, which ThreadSanitizer sees, unlike `Mutex`.
        private final class Countdown: Sendable {
            private let left: Lock<[Call: Int]>

            init(_ calls: some Sequence<Call>, times: Int) {
                self.left = Lock(Dictionary(uniqueKeysWithValues: calls.map { ($0, times) }))
            }

            /// Whether this call of `call` fails, counting it.
            func take(_ call: Call) -> Bool {
                self.left.withLock { left in
                    guard let count = left[call], count > 0 else { return false }
                    left[call] = count - 1
                    return true
                }
            }
        }
    #endif
}
