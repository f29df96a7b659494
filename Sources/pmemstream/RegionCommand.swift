import ArgumentParser
import PMemStream

/// `pmemstream region`: allocate, free and list regions.
struct RegionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "region",
        abstract: "Allocate, free or list regions.",
        subcommands: [Allocate.self, Free.self, List.self]
    )

    /// `pmemstream region allocate`.
    struct Allocate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Allocate a region; prints its offset.")

        @OptionGroup var stream: StreamOptions

        @Option(parsing: .unconditional, help: "The bytes of entries the region must hold, e.g. 1M.")
        var size: ByteCount

        func run() async throws {
            try await reportingErrors {
                try await self.stream.withStream(.readWrite) { stream in
                    let region = try await stream.allocateRegion(size: self.size.value)
                    print("allocated region at offset \(region.offset), size \(region.size)")
                }
            }
        }
    }

    /// `pmemstream region free`.
    struct Free: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Free the region at an offset.")

        @OptionGroup var stream: StreamOptions

        @Option(parsing: .unconditional, help: "The region's offset.")
        var offset: Int

        func run() async throws {
            try await reportingErrors {
                try await self.stream.withStream(.readWrite) { stream in
                    try await stream.free(try await stream.region(atOffset: self.offset))
                    print("freed region at offset \(self.offset)")
                }
            }
        }
    }

    /// `pmemstream region list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the regions in allocation order.")

        @OptionGroup var stream: StreamOptions

        func run() async throws {
            try await reportingErrors {
                try await self.stream.withStream(.readOnly) { stream in
                    for try await region in stream.regions {
                        print("\(region.offset) \(region.size)")
                    }
                }
            }
        }
    }
}
