import Foundation
import Glibc
import PMemStreamTestKit
import Testing

/// The `pmemstream` tool, built by `swift build`, run end to end on real files.
@Suite("pmemstream command line", .serialized)
struct CommandLineTests {
    /// What a run printed and how it ended.
    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    /// The built `pmemstream`, beside the test bundle.
    static let tool: String = {
        let directory = Spawned.testExecutable.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        return "\(directory.joined(separator: "/"))/pmemstream"
    }()

    /// Runs the tool with `arguments`, `input` on standard input and `environment` (`NAME=value` entries)
    /// added to this process's environment, and waits for it.
    static func run(_ arguments: [String], input: String = "", environment: [String] = []) async -> Run {
        let process = Spawned(Self.tool, arguments, environment: environment)
        await process.write(input)
        return await process.finish()
    }

    @Test("a whole session: create, allocate, append, cat, info, check, and clear errors")
    func session() async {
        #expect(access(Self.tool, X_OK) == 0, "run `swift build` first: \(Self.tool)")
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            var run = await Self.run(["create", path, "--size", "8M", "--block-size", "4096"])
            #expect(run.status == 0)
            #expect(run.output.contains("created \(path): 8388608 bytes, block size 4096"))

            run = await Self.run(["region", "allocate", path, "--size", "64K"])
            #expect(run.status == 0)
            #expect(run.output.contains("allocated region at offset 4096"))
            run = await Self.run(["region", "allocate", path, "--size", "100"])
            #expect(run.output.contains("allocated region at offset 73728"))

            run = await Self.run(["append", path, "hello", "world"])
            #expect(run.status == 0)
            #expect(run.output.contains("appended 2 entries to region 4096, timestamps 1…2"))
            run = await Self.run(["append", path, "--region", "73728", "--async"], input: "from stdin\nsecond line\n")
            #expect(run.output.contains("appended 2 entries to region 73728, timestamps 3…4; persisted up to 4"))

            run = await Self.run(["cat", path])
            #expect(run.status == 0)
            let lines = run.output.split(separator: "\n")
            #expect(lines.count == 4)
            #expect(lines.first?.hasSuffix(": hello") == true)
            #expect(lines.last?.hasSuffix(": second line") == true)
            run = await Self.run(["dump", path, "--region", "73728", "--format", "json", "--since", "3"])
            #expect(
                run.output
                    == "{\"timestamp\":4,\"region\":73728,\"offset\":73832,\"size\":11,\"hex\":\"7365636f6e64206c696e65\"}\n"
            )

            run = await Self.run(["info", path])
            #expect(run.output.contains("watermarks  committed 4, persisted 4"))
            #expect(run.output.contains("regions     2"))
            // A file on a file system: no NUMA node, so a writer's workers would not be bound.
            #expect(
                run.output.contains(
                    "persisting  a writer's workers (automatic placement): unbound: the medium's NUMA node is unknown"
                )
            )
            run = await Self.run(["region", "list", path])
            #expect(run.output == "4096 69568\n73728 4032\n")
            run = await Self.run(["check", path, "--progress"])
            #expect(run.status == 0)
            #expect(run.output == "ok: 2 regions, 4 entries with valid checksums\n")
            #expect(run.errors == "\rchecked 4 entries\n")

            // A damaged copy: one flipped byte in the data of "world".
            let damaged = directory.path("damaged")
            Self.copy(path, to: damaged, flippingByteAt: 4096 + 64 + 32 + 24)
            run = await Self.run(["check", damaged])
            #expect(run.status == 1)
            #expect(run.output.hasPrefix("DAMAGED: 2 regions, 3 entries with valid checksums; 1 problem(s):"))

            // Bad input: one clear line on standard error and a failure status.
            for arguments in [
                ["region", "free", path, "--offset", "12345"], ["region", "allocate", path, "--size", "0"],
                ["create", path, "--size", "1K"], ["info", directory.path("absent")],
                ["append", path, "--region", "8"], ["region", "free", path, "--offset", "-1"],
                ["region", "allocate", path, "--size", "-5"], ["create", directory.path("negative"), "--size", "-5"],
            ] {
                run = await Self.run(arguments)
                #expect(run.status != 0, "\(arguments)")
                #expect(run.errors.hasPrefix("pmemstream: "), "\(arguments): \(run.errors)")
                #expect(run.errors.split(separator: "\n").count == 1, "\(arguments): \(run.errors)")
            }
        }
    }

    @Test("demo: the tour runs end to end on a stream of its own, reads back all it wrote, and removes the file")
    func demo() async {
        await withTemporaryDirectory { directory in
            let run = await Self.run(["demo", "--directory", directory.path])
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output.contains("120 entries; committed 120, persisted 120"))
            #expect(run.output.contains("… 120 entries, timestamps 1…120, none missing, all checksums valid"))
            #expect(run.output.contains("watermarks  committed 120, persisted 120"))
            #expect(run.output.contains("ok: 3 regions, 120 entries with valid checksums"))
            let left = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? ["(unreadable)"]
            #expect(left.isEmpty, "the demo left \(left)")

            let nowhere = await Self.run(["demo", "--directory", directory.path("missing")])
            #expect(nowhere.status != 0)
            #expect(nowhere.errors.hasPrefix("pmemstream: "), "\(nowhere.errors)")
        }
    }

    @Test(
        "on emulated persistent memory (PMEM2_FORCE_GRANULARITY=CACHE_LINE), entries of every ending read back byte for byte"
    )
    func cacheLineGranularity() async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            let cacheLine = ["PMEM2_FORCE_GRANULARITY=CACHE_LINE"]
            #expect(await Self.run(["create", path, "--size", "1M"], environment: cacheLine).status == 0)
            #expect(await Self.run(["region", "allocate", path, "--size", "128K"], environment: cacheLine).status == 0)
            #expect(
                await Self.run(["info", path], environment: cacheLine).output.contains("store granularity: cache line")
            )
            // Sizes around every word and line boundary; up to 4 KiB a synchronous append writes the whole
            // entry with non-temporal stores, above it the data's whole lines.
            let sizes = [0, 1, 5, 7, 8, 9, 13, 40, 63, 64, 65, 100, 1000, 4095, 4096, 4097, 9000]
            var files: [String] = []
            var expected: [String] = []
            for (index, size) in sizes.enumerated() {
                let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ index &* 11 &+ 1) }
                let file = directory.path("entry\(index)")
                let fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                files += ["--file", file]
                expected.append(
                    bytes.map { String($0, radix: 16).count == 1 ? "0\(String($0, radix: 16))" : String($0, radix: 16) }
                        .joined()
                )
            }
            let appended = await Self.run(["append", path] + files, environment: cacheLine)
            #expect(appended.status == 0, "\(appended.errors)")
            #expect(appended.output.contains("appended \(sizes.count) entries"))
            #expect(await Self.dumpedHex(path) == expected)
            let check = await Self.run(["check", path])
            #expect(check.output == "ok: 1 regions, \(sizes.count) entries with valid checksums\n")
        }
    }

    @Test("cat --follow in one process prints what append in another adds, as it comes")
    func follow() async {
        await withTemporaryDirectory { directory in
            let path = directory.path("log")
            #expect(await Self.run(["create", path, "--size", "4M"]).status == 0)
            #expect(await Self.run(["region", "allocate", path, "--size", "64K"]).status == 0)
            #expect(await Self.run(["region", "allocate", path, "--size", "64K"]).status == 0)
            #expect(await Self.run(["append", path, "before"]).status == 0)

            let everything = Spawned(Self.tool, ["cat", path, "--follow"])
            let oneRegion = Spawned(Self.tool, ["cat", path, "--follow", "--region", "73728", "--format", "hex"])
            await everything.write("")
            await oneRegion.write("")
            #expect(await everything.readLine(within: .seconds(30))?.hasSuffix(": before") == true)

            #expect(await Self.run(["append", path, "after"]).status == 0)
            #expect(await everything.readLine(within: .seconds(30))?.hasSuffix(": after") == true)
            // Lines of standard input are appended as they come, before the input ends.
            let appender = Spawned(Self.tool, ["append", path, "--region", "73728", "--async", "--progress"])
            await appender.send("elsewhere\n")
            #expect(await everything.readLine(within: .seconds(30))?.hasSuffix(": elsewhere") == true)
            await appender.write("")
            let appended = await appender.finish()
            #expect(appended.status == 0)
            #expect(appended.output.hasPrefix("appended 1 entry to region 73728, timestamp 3; persisted up to 3"))
            #expect(appended.errors.hasSuffix("appended 1 entry\n"), "progress on standard error: \(appended.errors)")
            #expect(await oneRegion.readLine(within: .seconds(30)) == "#3 region 73728 (9 B): 656c73657768657265")

            // Freeing the region ends its follower; the other one runs until it is interrupted.
            #expect(await Self.run(["region", "free", path, "--offset", "73728"]).status == 0)
            let ended = await oneRegion.finish()
            #expect(ended.status == 0, "\(ended.errors)")
            everything.signal(SIGINT)
            #expect(await everything.finish().status == 128 + SIGINT)
        }
    }

    @Test("check on a stream whose writer frees and reuses a region while it reads: the region is left out")
    func checkWhileRegionsChange() async {
        // Two million entries are appended in about four seconds on tmpfs; on a disk, every round is an msync.
        await withTemporaryDirectory(in: access("/dev/shm", W_OK) == 0 ? "/dev/shm" : nil) { directory in
            let path = directory.path("log")
            #expect(await Self.run(["create", path, "--size", "128M"]).status == 0)
            func allocate(_ size: String) async -> String {
                let run = await Self.run(["region", "allocate", path, "--size", size])
                return String(run.output.split(separator: " ")[4].dropLast())  // "allocated region at offset N, …"
            }
            let large = await allocate("80M")
            let first = await allocate("4032")
            let second = await allocate("8128")
            _ = await allocate("4032")  // keeps the space after the second region taken
            let count = 2_000_000
            let lines = (1...count).map(String.init).joined(separator: "\n") + "\n"
            #expect(await Self.run(["append", path, "--region", large, "--async"], input: lines).status == 0)
            #expect(await Self.run(["append", path, "--region", second, "x"]).status == 0)
            let spanning = directory.path("spanning")
            #expect(FileManager.default.createFile(atPath: spanning, contents: Data(repeating: 7, count: 6000)))
            #expect(await Self.run(["append", path, "--region", second, "--file", spanning]).status == 0)

            // The checker has listed the regions and is reading the large one when it is stopped: its first
            // progress line comes after 200 ms, and reading the large region takes it about a second.
            let checker = Spawned(Self.tool, ["check", path, "--progress"])
            await checker.write("")
            let progress = await checker.readErrors(until: " entries", within: .seconds(60)) ?? ""
            checker.signal(SIGSTOP)
            let checkedBeforeStop = Int(progress.split(separator: " ").dropLast().last ?? "") ?? count
            #expect(checkedBeforeStop < count, "the checker was through the large region before it was stopped")
            #expect(await Self.run(["region", "free", path, "--offset", first]).status == 0)
            #expect(await Self.run(["region", "free", path, "--offset", second]).status == 0)
            // The new region starts where the first was; its remainder header lands in the second's entry.
            #expect(await allocate("8128") == first)
            checker.signal(SIGCONT)
            let checked = await checker.finish()
            // The region freed under it is left out: its entries no longer count, and none is damage.
            #expect(checked.status == 0, "\(checked.output) \(checked.errors)")
            #expect(checked.output.hasPrefix("ok: "), "\(checked.output)")
            #expect(checked.output.contains(", \(count) entries with valid checksums"), "\(checked.output)")
        }
    }

    /// The data of every entry of the stream at `path`, in hex, in timestamp order (from `dump --format json`).
    static func dumpedHex(_ path: String) async -> [String] {
        await Self.run(["dump", path, "--format", "json"]).output.split(separator: "\n").map { line in
            String(line.split(separator: "\"hex\":\"").last?.dropLast(2) ?? "")
        }
    }

    /// Copies a file, flipping the bits of one byte.
    static func copy(_ source: String, to destination: String, flippingByteAt offset: Int) {
        let input = open(source, O_RDONLY)
        let output = open(destination, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        defer {
            close(input)
            close(output)
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var position = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            if (position..<position + count).contains(offset) {
                chunk[offset - position] ^= 0xFF
            }
            _ = chunk.withUnsafeBytes { write(output, $0.baseAddress, count) }
            position += count
        }
    }
}

/// A child process with pipes to its standard input, output and error.
///
/// What waits for the child (a write to a full pipe, a read, the wait for its end) is done on a thread of its
/// own (see `onThreadOfItsOwn`): a child may take seconds, and a test that waited in its task would hold a
/// thread of the tasks' pool all that time.
final class Spawned: Sendable {
    /// The path of the running test executable.
    static let testExecutable: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return String(decoding: buffer[0..<max(count, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    private let pid: pid_t
    private let input: Int32
    private let output: Int32
    private let errors: Int32

    /// Starts `executable` with `arguments`, and `environment` (`NAME=value` entries) added to this
    /// process's environment; with its standard output written to the file `standardOutput` (such as
    /// `/dev/full`) instead of a pipe when one is given.
    init(
        _ executable: String,
        _ arguments: [String],
        environment: [String] = [],
        standardOutput: String? = nil
    ) {
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        pipe(&inPipe)
        pipe(&outPipe)
        pipe(&errPipe)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        if let standardOutput {
            posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        }
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in inPipe + outPipe + errPipe {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        // The child starts with every signal at its default action and none blocked, whatever the test
        // process inherited: a test run started in the background by a shell ignores SIGINT, and a child that
        // inherited that would never end on the SIGINT a test sends it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var signals = sigset_t()
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        var pid = pid_t()
        var inherited: [String] = []
        var entry = environ
        while let variable = entry.pointee {
            inherited.append(String(cString: variable))
            entry += 1
        }
        var envp: [UnsafeMutablePointer<CChar>?] = (inherited + environment).map { strdup($0) } + [nil]
        let status = posix_spawn(&pid, executable, &actions, &attributes, &argv, &envp)
        precondition(status == 0, "posix_spawn \(executable) failed: \(status)")
        posix_spawnattr_destroy(&attributes)
        posix_spawn_file_actions_destroy(&actions)
        for pointer in argv + envp { free(pointer) }
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        self.pid = pid
        self.input = inPipe[1]
        self.output = outPipe[0]
        self.errors = errPipe[0]
    }

    /// Writes `text` to the child's standard input, then closes it.
    func write(_ text: String) async {
        await self.send(text)
        close(self.input)
    }

    /// Writes `text` to the child's standard input and leaves it open.
    func send(_ text: String) async {
        await self.send(Array(text.utf8))
    }

    /// Writes `bytes` to the child's standard input and leaves it open; returns once the pipe took them all.
    func send(_ bytes: [UInt8]) async {
        guard !bytes.isEmpty else { return }
        let input = self.input
        await onThreadOfItsOwn("PMemStreamIntegrationTests.childInput") {
            _ = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress, $0.count) }
        }
    }

    /// The next line the child prints on standard output, without its newline; `nil` when none comes in
    /// time or the output ends.
    func readLine(within timeout: Duration) async -> String? {
        await onThreadOfItsOwn("PMemStreamIntegrationTests.childOutput") { self.waitForLine(within: timeout) }
    }

    /// Reads what the child prints on standard error until it contains `text`, and returns what it read;
    /// `nil` when that does not happen in time.
    func readErrors(until text: String, within timeout: Duration) async -> String? {
        await onThreadOfItsOwn("PMemStreamIntegrationTests.childErrors") {
            self.waitForErrors(until: text, within: timeout)
        }
    }

    /// Sends `signal` to the child.
    func signal(_ signal: Int32) {
        kill(self.pid, signal)
    }

    /// Waits for the child to end and returns what it printed.
    func finish() async -> CommandLineTests.Run {
        await onThreadOfItsOwn("PMemStreamIntegrationTests.child") { self.waitForEnd() }
    }

    // MARK: - Blocking, on a thread of its own

    /// ``readLine(within:)``, blocking the calling thread.
    private func waitForLine(within timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            var ready = pollfd(fd: self.output, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            )
            guard milliseconds > 0, poll(&ready, 1, milliseconds) == 1 else { return nil }
            var byte: UInt8 = 0
            guard read(self.output, &byte, 1) == 1 else { return nil }
            if byte == UInt8(ascii: "\n") {
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.append(byte)
        }
    }

    /// ``readErrors(until:within:)``, blocking the calling thread.
    private func waitForErrors(until text: String, within timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        while !String(decoding: bytes, as: UTF8.self).contains(text) {
            let remaining = ContinuousClock.now.duration(to: deadline)
            var ready = pollfd(fd: self.errors, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            )
            var byte: UInt8 = 0
            guard milliseconds > 0, poll(&ready, 1, milliseconds) == 1, read(self.errors, &byte, 1) == 1 else {
                return nil
            }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// ``finish()``, blocking the calling thread.
    private func waitForEnd() -> CommandLineTests.Run {
        let output = Self.readAll(self.output)
        let errors = Self.readAll(self.errors)
        var status: Int32 = 0
        waitpid(self.pid, &status, 0)
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return CommandLineTests.Run(status: exitStatus, output: output, errors: errors)
    }

    private static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        close(fd)
        return String(decoding: bytes, as: UTF8.self)
    }
}
