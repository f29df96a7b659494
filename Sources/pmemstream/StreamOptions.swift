import ArgumentParser
import PMemStream

/// The options every command that opens a stream shares.
struct StreamOptions: ParsableArguments {
    @Argument(help: "The stream: a file or a DAX device.")
    var path: String

    @Option(
        parsing: .unconditional,
        help: "The block size the stream was created with (default: read from the stream)."
    )
    var blockSize: Int?

    /// Opens the stream, which must exist, for writing: it fails with `streamInUse` while another process
    /// writes it.
    func open() async throws(PMemStreamError) -> PMemStream {
        try await PMemStream.open(path: self.path, configuration: .init(blockSize: self.blockSize, persistWorkers: 1))
    }

    /// Opens the stream, which must exist, for reading only: it writes nothing and works while another
    /// process writes the stream.
    func openForReading() async throws(PMemStreamError) -> PMemStream {
        try await PMemStream.open(path: self.path, configuration: .init(blockSize: self.blockSize, access: .readOnly))
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

/// Runs a command's body and turns a ``PMemStreamError`` into one clear line and exit status 1.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as PMemStreamError {
        printError("pmemstream: \(error.code): \(error.message)")
        throw ExitCode.failure
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
