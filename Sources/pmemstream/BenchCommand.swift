import ArgumentParser

#if os(Linux)
    import Glibc
#endif

/// `pmemstream bench`: runs the benchmark against the peers, when it has been built.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the benchmark against libpmemlog and the libpmem2 ceiling (see `make bench`).",
        discussion: "Every argument goes to pmemstream-bench, `--help` included; a leading `--` is dropped."
    )

    @Argument(parsing: .captureForPassthrough, help: "Arguments for pmemstream-bench.")
    var arguments: [String] = []

    func run() async throws {
        let candidates = ["Benchmarks/.build/release/pmemstream-bench", "pmemstream-bench"]
        guard let binary = candidates.first(where: { access($0, X_OK) == 0 }) else {
            printError("pmemstream: the benchmark is not built; run `make bench` in the PMemStream checkout")
            throw ExitCode.failure
        }
        let arguments = self.arguments.first == "--" ? Array(self.arguments.dropFirst()) : self.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        execv(binary, &argv)
        printError("pmemstream: cannot run \(binary): \(String(cString: strerror(errno)))")
        throw ExitCode.failure
    }
}
