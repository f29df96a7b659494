import Glibc

/// Why a benchmark run could not go on.
struct BenchmarkError: Error, CustomStringConvertible {
    /// What went wrong, for the person running the benchmark.
    let description: String

    /// An error with a message.
    init(_ description: String) {
        self.description = description
    }

    /// An error of a C call that set `errno`.
    static func system(_ call: String, path: String) -> BenchmarkError {
        BenchmarkError("\(call) failed for \(path): \(String(cString: strerror(errno)))")
    }
}
