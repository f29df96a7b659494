import ArgumentParser
import PMemStream

#if os(Linux)
    @preconcurrency import Glibc
#endif

/// The options every command that opens a stream shares.
struct StreamOptions: ParsableArguments {
    @Argument(help: "The stream: a file or a DAX device.")
    var path: String

    @Option(
        parsing: .unconditional,
        help: "The block size the stream was created with (default: read from the stream)."
    )
    var blockSize: Int?

    /// Opens the stream, which must exist, runs `body` with it, and closes it however `body` ends: what
    /// `body` committed is persisted before this returns, also when `body` throws (its error is rethrown).
    ///
    /// - Parameters:
    ///   - access: ``PMemStream/Access/readWrite`` recovers the stream first if its last writer did not close
    ///     it, and fails with `streamInUse` while another process writes it. ``PMemStream/Access/readOnly``
    ///     writes nothing and works while another process writes the stream.
    ///   - body: The command's work on the stream.
    /// - Returns: What `body` returns.
    func withStream<Value>(
        _ access: PMemStream.Access,
        _ body: (PMemStream) async throws -> Value
    ) async throws -> Value {
        try await withPMemStream(path: self.path, configuration: .init(blockSize: self.blockSize, access: access), body)
    }
}

/// A byte count written as `4096`, `64K`, `16M` or `1G`. A negative one is passed on, for the library to
/// refuse with its own error.
struct ByteCount: ExpressibleByArgument {
    let value: Int

    init?(argument: String) {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = argument.uppercased()
        var multiplier = 1
        if digits.hasSuffix("B") { digits.removeLast() }
        if let unit = digits.last, let factor = units[unit] {
            multiplier = factor
            digits.removeLast()
        }
        guard let number = Int(digits) else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        self.value = product
    }
}

/// Runs a command's body and turns a ``PMemStreamError`` into one clear line and exit status 1. What the body
/// printed is written out before this returns: a failure to write it is an error too.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
        try flushStandardOutput()
    } catch let error as PMemStreamError {
        printError("pmemstream: \(error.code): \(error.message)")
        throw ExitCode.failure
    }
}

/// Writes out what was printed to standard output and still waits in its buffer, and checks that every
/// write to it so far succeeded, so that output lost to a full disk, say, is not mistaken for success.
///
/// - Throws: ``PMemStreamError/Code/ioError`` when standard output refused some of it.
func flushStandardOutput() throws(PMemStreamError) {
    while fflush(stdout) != 0 {
        let failure = errno
        guard failure == EINTR else {
            throw PMemStreamError(
                code: .ioError,
                message: "cannot write to standard output: \(String(cString: strerror(failure)))",
                errno: failure
            )
        }
        clearerr(stdout)
    }
    guard ferror(stdout) == 0 else {
        throw PMemStreamError(code: .ioError, message: "cannot write to standard output: an earlier write failed")
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    var standardError = StandardError()
    print(line, to: &standardError)
}

/// Standard error as a `TextOutputStream`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileStream.standardError.write(string)
    }
}
