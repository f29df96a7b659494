import ArgumentParser
import PMemStream

/// `pmemstream create`: makes a new stream in a file.
struct CreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a stream in a new file (or format a zero-filled one)."
    )

    @Argument(help: "The file to create.")
    var path: String

    @Option(parsing: .unconditional, help: "The stream's size, e.g. 64M or 1G.")
    var size: ByteCount

    @Option(parsing: .unconditional, help: "The block size: a power of two and a multiple of 64.")
    var blockSize: Int = PMemStream.Configuration.defaultBlockSize

    func run() async throws {
        try await reportingErrors {
            try await withPMemStream(
                path: self.path,
                size: self.size.value,
                configuration: .init(blockSize: self.blockSize)
            ) { stream in
                print(
                    "created \(self.path): \(stream.size) bytes, block size \(stream.blockSize), \(await stream.freeSize) bytes free for regions"
                )
            }
        }
    }
}
