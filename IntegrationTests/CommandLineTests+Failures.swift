import Foundation
import Glibc
import PMemStreamTestKit
import Testing

/// How the tool behaves when its input, its output or an append fails.
extension CommandLineTests {
    /// Creates a 1 MiB stream at `path` with one region that holds 12 224 bytes of entries.
    static func createSmallStream(_ path: String) async {
        #expect(await Self.run(["create", path, "--size", "1M"]).status == 0)
        #expect(await Self.run(["region", "allocate", path, "--size", "8K"]).output.contains("size 12224"))
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
            await Self.createSmallStream(path)
            Self.createFile(directory.path("ok"), Array("ok".utf8))
            Self.createFile(directory.path("big"), [UInt8](repeating: 7, count: 9000))
            let files = [
                "--file", directory.path("ok"), "--file", directory.path("big"), "--file", directory.path("big"),
            ]
            let run = await Self.run(["append", path] + mode + files)
            #expect(run.status == 1)
            #expect(run.errors.hasPrefix("pmemstream: entryTooLarge: "), "\(run.errors)")
            #expect(await Self.run(["info", path]).output.contains("watermarks  committed 2, persisted 2"))
        }
    }

    @Test(
        "a --file that cannot be read appends nothing, not even the files before it",
        arguments: [("a directory", "Is a directory"), ("absent", "No such file or directory")]
    )
    func unreadableFile(name: String, reason: String) async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            await Self.createSmallStream(path)
            Self.createFile(directory.path("ok"), Array("ok".utf8))
            mkdir(directory.path("a directory"), 0o755)
            let bad = directory.path(name)
            let run = await Self.run(["append", path, "--file", directory.path("ok"), "--file", bad])
            #expect(run.status == 1)
            #expect(run.errors == "pmemstream: cannotOpenFile: cannot read \(bad): \(reason)\n")
            #expect(await Self.dumpedHex(path).isEmpty)
        }
    }

    @Test(
        "an input larger than the region can still hold fails at once with entryTooLarge, without reading to its end",
        arguments: [["--file", "/dev/stdin"], []]
    )
    func inputLargerThanTheRegion(source: [String]) async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            await Self.createSmallStream(path)
            // Standard input stays open: a tool that read to its end would wait forever.
            let appender = Spawned(Self.tool, ["append", path] + source)
            await appender.send([UInt8](repeating: UInt8(ascii: "x"), count: 13_000))
            let errors = await appender.readErrors(until: "\n", within: .seconds(30))
            await appender.write("")
            let run = await appender.finish()
            #expect(errors?.hasPrefix("pmemstream: entryTooLarge: ") == true, "\(errors ?? "no error in time")")
            #expect(run.status == 1)
            #expect(await Self.dumpedHex(path).isEmpty)
        }
    }

    @Test("lines of standard input are stored byte for byte, split only at newlines")
    func rawLines() async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            await Self.createSmallStream(path)
            let appender = Spawned(Self.tool, ["append", path])
            await appender.send(Array("a".utf8) + [0xFF] + Array("b\nc\r\n\nd".utf8))
            await appender.write("")
            #expect(await appender.finish().status == 0)
            #expect(await Self.dumpedHex(path) == ["61ff62", "630d", "", "64"])
        }
    }

    @Test("lines read from standard input are cut right when they span many reads")
    func longLines() async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            #expect(await Self.run(["create", path, "--size", "2M"]).status == 0)
            #expect(await Self.run(["region", "allocate", path, "--size", "1M"]).status == 0)
            // Lines longer than a read (64 KiB), the first ending where a read ends, an empty one after it.
            let lines = [
                [UInt8](repeating: 0x61, count: 131_072), [], [UInt8](repeating: 0x62, count: 65_535),
                [UInt8](repeating: 0x63, count: 65_536), [0x64],
            ]
            let appender = Spawned(Self.tool, ["append", path])
            await appender.send(Array(lines.joined(separator: [0x0A])))
            await appender.write("")
            #expect(await appender.finish().status == 0)
            let hex = lines.map { line in line.map { String($0, radix: 16) }.joined() }
            #expect(await Self.dumpedHex(path) == hex)
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
            await Self.createSmallStream(path)
            #expect(await Self.run(["append", path, "hello"]).status == 0)
            let spawned = Spawned(Self.tool, command + [path] + options, standardOutput: "/dev/full")
            await spawned.write("")
            let run = await spawned.finish()
            #expect(run.status == 1)
            #expect(run.errors == "pmemstream: ioError: cannot write to standard output: No space left on device\n")
        }
    }

    @Test(
        "bench passes its arguments to pmemstream-bench, without a leading --",
        arguments: [(["--", "--help", "x"], "--help\nx\n"), (["--help"], "--help\n"), ([], "")]
    )
    func benchArguments(arguments: [String], passed: String) async {
        await withTemporaryDirectory { directory in
            // A stand-in for the benchmark, found in the current directory: it prints its arguments.
            Self.createFile(
                directory.path("pmemstream-bench"),
                Array("#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done\n".utf8)
            )
            chmod(directory.path("pmemstream-bench"), 0o755)
            let bench = Spawned("/usr/bin/env", ["-C", directory.path, Self.tool, "bench"] + arguments)
            await bench.write("")
            let run = await bench.finish()
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == passed)
        }
    }
}
