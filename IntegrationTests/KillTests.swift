import Glibc
import PMemStream
import PMemStreamTestKit
import Testing

/// Real processes, real libpmem2 mappings, killed with SIGKILL at random moments (DESIGN.md §6).
///
/// A child process appends from several tasks and writes a line to an acknowledgement log after every
/// append that returned persisted; a timer kills it at a random moment, often in the middle of an append
/// or of the recovery that opened the stream. The parent then reopens the stream and checks that every
/// acknowledged entry is there, byte for byte, and nothing beyond the persisted watermark. The number of
/// rounds is `PMEMSTREAM_KILL_ROUNDS` (default 8) for each test.
@Suite("Processes killed with SIGKILL", .serialized)
struct KillTests {
    static let rounds = getenv("PMEMSTREAM_KILL_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 8
    static let streamSize = 32 << 20

    /// A directory on tmpfs when there is one, so every persist is a cheap `msync`.
    private func withScratchDirectory(_ body: (TemporaryDirectory) async throws -> Void) async throws {
        try await withTemporaryDirectory(in: access("/dev/shm", W_OK) == 0 ? "/dev/shm" : nil, body)
    }

    @Test("appending processes killed at random moments lose nothing acknowledged and resurrect nothing")
    func killDuringAppends() async throws {
        try await self.withScratchDirectory { directory in
            let path = directory.path("stream")
            let acks = directory.path("acks")
            var verified = 0
            for round in 0..<Self.rounds {
                let seed = UInt64(round)
                await #expect(processExitsWith: .signal(SIGKILL)) {
                    [path = path as String, acks = acks as String, seed = seed as UInt64] in
                    await KillChild.append(streamPath: path, ackPath: acks, seed: seed, size: KillTests.streamSize)
                }
                verified = try await self.verify(path: path, acks: acks, context: "round \(round)")
            }
            print(
                "kill test: \(Self.rounds) processes killed while appending, \(verified) acknowledged entries verified"
            )
            #expect(verified > 0, "the children acknowledged appends before they were killed")
        }
    }

    @Test(
        "processes killed while allocating and freeing regions leave a stream that opens, with no region lost or doubled"
    )
    func killDuringAllocation() async throws {
        try await self.withScratchDirectory { directory in
            let path = directory.path("stream")
            let log = directory.path("regions")
            for round in 0..<Self.rounds {
                let seed = UInt64(round)
                await #expect(processExitsWith: .signal(SIGKILL)) {
                    [path = path as String, log = log as String, seed = seed as UInt64] in
                    await KillChild.allocateAndFree(
                        streamPath: path,
                        logPath: log,
                        seed: seed,
                        size: KillTests.streamSize
                    )
                }
                // A child killed before it sized the file leaves it empty or absent: open as a user would.
                let stream = try await PMemStream.open(path: path, size: Self.streamSize)
                var offsets = Set<Int>()
                var held = 0
                for try await region in stream.regions {
                    #expect(offsets.insert(region.offset).inserted)
                    held += region.size + 64
                }
                #expect(await stream.freeSize + held == Self.streamSize - 4096, "round \(round): no extent leaked")
                let logged = Set(
                    KillChild.readLines(log).last.map { $0.split(separator: " ").compactMap { Int($0) } } ?? []
                )
                #expect(
                    offsets.symmetricDifference(logged).count <= 1,
                    "round \(round): at most the operation under way differs"
                )
                try await stream.close()
            }
        }
    }

    /// Reopens the stream and checks it against the acknowledgement log.
    /// - Returns: The number of acknowledged entries checked.
    private func verify(path: String, acks: String, context: String) async throws -> Int {
        // A child killed before it sized the file leaves it empty or absent: open as a user would.
        let stream = try await PMemStream.open(path: path, size: Self.streamSize)
        let watermark = stream.persistedTimestamp
        var visible: [UInt64: [UInt8]] = [:]
        var previous: UInt64 = 0
        for try await entry in stream.entries() {
            #expect(entry.timestamp == previous + 1, "\(context): timestamps are contiguous")
            previous = entry.timestamp
            visible[entry.timestamp] = try entry.bytes
        }
        #expect(previous == watermark, "\(context): exactly the entries up to the watermark")
        var checked = 0
        for line in KillChild.readLines(acks) {
            let fields = line.split(separator: " ").compactMap { UInt64($0) }
            guard fields.count == 3 else { continue }
            let (timestamp, seed, counter) = (fields[0], fields[1], fields[2])
            #expect(
                visible[timestamp] == KillChild.payload(seed: seed, counter: counter),
                "\(context): acknowledged \(timestamp)"
            )
            checked += 1
        }
        try await stream.close()
        return checked
    }
}

/// What the killed child processes do.
enum KillChild {
    /// The bytes of the `counter`-th append of the child with `seed`.
    static func payload(seed: UInt64, counter: UInt64) -> [UInt8] {
        var generator = SeededRandomNumberGenerator(seed: seed &* 1_000_003 &+ counter)
        let count = Int.random(in: 0...2000, using: &generator)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Kills this process after a random delay, from a thread of its own.
    static func scheduleKill(seed: UInt64, maximumMilliseconds: UInt32) {
        var generator = SeededRandomNumberGenerator(seed: seed ^ 0x5EED)
        let microseconds = UInt32.random(in: 0...maximumMilliseconds * 1000, using: &generator)
        var thread = pthread_t()
        pthread_create(
            &thread,
            nil,
            { argument in
                usleep(UInt32(UInt(bitPattern: argument)))
                kill(getpid(), SIGKILL)
                return nil
            },
            UnsafeMutableRawPointer(bitPattern: UInt(microseconds))
        )
    }

    /// Opens (recovering) or creates the stream, then appends from four tasks until killed. Every append
    /// acknowledged persisted is logged as `timestamp seed counter`.
    static func append(streamPath: String, ackPath: String, seed: UInt64, size: Int) async {
        self.scheduleKill(seed: seed, maximumMilliseconds: seed % 3 == 0 ? 5 : 80)
        do {
            let stream = try await PMemStream.open(path: streamPath, size: size)
            var regions: [Region] = []
            for try await region in stream.regions { regions.append(region) }
            while regions.count < 4 {
                regions.append(try await stream.allocateRegion(size: 4 << 20))
            }
            let log = open(ackPath, O_CREAT | O_WRONLY | O_APPEND, 0o644)
            let allRegions = regions
            try await withThrowingTaskGroup { group in
                for task in 0..<4 {
                    group.addTask {
                        let writer = try await stream.writer(for: allRegions[task])
                        var counter = UInt64(task) << 32
                        while true {
                            counter += 1
                            let bytes = Self.payload(seed: seed, counter: counter)
                            let timestamp: UInt64
                            if counter % 3 == 0 {
                                let receipt = try await writer.appendAsync(bytes)
                                try await receipt.persisted()
                                timestamp = receipt.timestamp
                            } else {
                                timestamp = try await writer.append(bytes).timestamp
                            }
                            var line = "\(timestamp) \(seed) \(counter)\n"
                            _ = line.withUTF8 { write(log, $0.baseAddress, $0.count) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            // A region filled up: wait for the kill.
            pause()
        }
    }

    /// Opens or creates the stream, then allocates and frees regions until killed, logging the live
    /// regions' offsets after every completed operation.
    static func allocateAndFree(streamPath: String, logPath: String, seed: UInt64, size: Int) async {
        self.scheduleKill(seed: seed, maximumMilliseconds: 40)
        var generator = SeededRandomNumberGenerator(seed: seed)
        do {
            let stream = try await PMemStream.open(path: streamPath, size: size)
            var live: [Region] = []
            for try await region in stream.regions { live.append(region) }
            let log = open(logPath, O_CREAT | O_WRONLY | O_APPEND, 0o644)
            // The regions this child found come first: the last line must never be older than this child's
            // first operation, or an operation the previous child finished but did not log would count too.
            while true {
                var line = live.map { String($0.offset) }.joined(separator: " ") + "\n"
                _ = line.withUTF8 { write(log, $0.baseAddress, $0.count) }
                if live.isEmpty || (live.count < 40 && Bool.random(using: &generator)) {
                    if let region = try? await stream.allocateRegion(
                        size: Int.random(in: 1...(512 << 10), using: &generator)
                    ) {
                        live.append(region)
                    }
                } else {
                    try await stream.free(live.remove(at: Int.random(in: 0..<live.count, using: &generator)))
                }
            }
        } catch {
            pause()
        }
    }

    /// The complete lines of a text file, empty ones included (a child with no region logs one); none when
    /// it does not exist.
    static func readLines(_ path: String) -> [Substring] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        // The last piece is either empty (the text ends with a newline) or a line cut short by the kill.
        return Array(
            String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        )
    }
}
