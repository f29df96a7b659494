import Foundation
import Glibc
import PMemStreamTestKit
import Testing

/// How the tool behaves when its input, its output or an append fails.
extension CommandLineTests {
    /// Creates a 1 MiB stream at `path` with one region that holds 12 224 bytes of entries.
    static func createSmallStream(_ path: String) {
        #expect(Self.run(["create", path, "--size", "1M"]).status == 0)
        #expect(Self.run(["region", "allocate", path, "--size", "8K"]).output.contains("size 12224"))
    }

    /// Creates the file `path` holding `bytes`.
    static func createFile(_ path: String, _ bytes: [UInt8]) {
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    }

    @Test(
        "an append that stops at an entry too large leaves the entries before it appended and persisted",
        arguments: [[], ["--async"]]
    )
    func failedAppendPersists(mode: [String]) async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            Self.createSmallStream(path)
            Self.createFile(directory.path("ok"), Array("ok".utf8))
            Self.createFile(directory.path("big"), [UInt8](repeating: 7, count: 9000))
            let files = [
                "--file", directory.path("ok"), "--file", directory.path("big"), "--file", directory.path("big"),
            ]
            let run = Self.run(["append", path] + mode + files)
            #expect(run.status == 1)
            #expect(run.errors.hasPrefix("pmemstream: entryTooLarge: "), "\(run.errors)")
            #expect(Self.run(["info", path]).output.contains("watermarks  committed 2, persisted 2"))
        }
    }

    @Test(
        "a command whose standard output fails ends with ioError",
        arguments: [
            (["cat"], []), (["info"], []), (["check"], []), (["region", "list"], []),
            (["region", "allocate"], ["--size", "4K"]), (["append"], ["x"]), (["create"], ["--size", "1M"]),
        ]
    )
    func outputFailure(command: [String], options: [String]) async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            Self.createSmallStream(path)
            #expect(Self.run(["append", path, "hello"]).status == 0)
            let spawned = Spawned(Self.tool, command + [path] + options, standardOutput: "/dev/full")
            spawned.write("")
            let run = spawned.finish()
            #expect(run.status == 1)
            #expect(run.errors == "pmemstream: ioError: cannot write to standard output: No space left on device\n")
        }
    }

}
