import ArgumentParser

/// `pmemstream`: inspect and operate PMemStream logs from a shell.
@main
struct PMemStreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmemstream",
        abstract: "Inspect and operate append-only logs in persistent memory.",
        discussion: """
            A stream is a file or a DAX device divided into regions of entries; every entry has a \
            stream-wide timestamp. Run `pmemstream demo` for a tour.
            """,
        subcommands: [
            CreateCommand.self, InfoCommand.self, RegionCommand.self, AppendCommand.self, CatCommand.self,
            CheckCommand.self, BenchCommand.self, DemoCommand.self,
        ]
    )
}
