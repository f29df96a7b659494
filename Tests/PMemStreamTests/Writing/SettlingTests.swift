import PMemStream
import PMemStreamTestKit
import Testing

/// The writer of a region recovered in this session zeroes the stale headers beyond its tail before its
/// appends reach them (`Docs/Format.md`, "Appending", step 1): small entries by scanning 64 KiB at a time,
/// large ones by reading their own positions. Here a stale entry's header lies at, across or just before
/// the boundary between two such 64 KiB chunks, under the terminator of a new append.
@Suite("Stale headers at a 64 KiB boundary of a recovered region")
struct SettlingTests {
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)
    /// The first 64 KiB boundary in r1.
    static let boundary = 64 * 1024
    /// Every byte of the stale entries but the last one.
    static let staleByte: UInt8 = 0xA5

    /// Data sizes of entries that take `distance` bytes (a multiple of 8) together, each taking about `piece`
    /// bytes or less (one entry when `piece` is nil).
    static func sizes(filling distance: Int, piece: Int?) -> [Int] {
        let count = piece.map { (distance + $0 - 1) / $0 } ?? 1
        let footprint = distance / count & ~7
        return (0..<count).map { $0 == count - 1 ? distance - footprint * (count - 1) - 24 : footprint - 24 }
    }

    /// A first session (see `sessionWithStaleTail`) whose stale tail in r1 is two runs of entries, the
    /// first ending 2 KiB before ``boundary`` and the second `shift` bytes from it, then [7] there. A second
    /// session appends [44] to r2 (timestamp 4) and the same two runs to r1, each as one batch of other
    /// bytes: the second run's terminator goes where the header of the stale [7] starts, and its timestamp
    /// is the next one. With `small`, the entries are under a kilobyte; otherwise each run is one entry.
    /// Power is cut at persist point `cut` of the second run's append, when given.
    /// - Returns: The medium, and the persist points of the second run's append.
    static func appendOverStaleTail(shift: Int, small: Bool, cut: Int?) async throws -> (SimulatedMedium, Int) {
        var runs: ([Int], [Int]) = ([], [])
        let (medium, r1, r2) = try await sessionWithStaleTail(mediumSize: 256 * 1024, firstRegionSize: 160 * 1024) {
            let firstEnd = Self.boundary - 2048
            runs = (
                Self.sizes(filling: firstEnd - $0, piece: small ? 1000 : nil),
                Self.sizes(filling: Self.boundary + shift - firstEnd, piece: small ? 1000 : nil)
            )
            return (runs.0 + runs.1).map { Array(repeating: Self.staleByte, count: $0) } + [[7]]
        }
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        #expect(try await stream.writer(for: try await stream.region(atOffset: r2.offset)).append([44]).timestamp == 4)
        let writer = try await stream.writer(for: try await stream.region(atOffset: r1.offset))
        _ = try await writer.append(contentsOf: runs.0.map { Array(repeating: 0x50, count: $0) })
        let before = medium.persistPointCount
        if let cut {
            medium.cutPower(atPersistPoint: before + cut)
        }
        let second = try await writer.append(contentsOf: runs.1.map { Array(repeating: 0x60, count: $0) })
        #expect(second.last!.offset + (24 + runs.1.last! + 7) & ~7 == Self.boundary + shift)
        return (medium, medium.persistPointCount - before)
    }

    @Test(
        "a stale header at, across or before a 64 KiB boundary never comes back under a lost terminator",
        arguments: [true, false],
        [-24, -16, -8, 0]
    )
    func staleHeaderAtBoundary(small: Bool, shift: Int) async throws {
        let modes = [CrashMode.everythingWritten] + (0..<6).flatMap { [.randomLines(seed: $0), .tornWords(seed: $0)] }
        let (_, points) = try await Self.appendOverStaleTail(shift: shift, small: small, cut: nil)
        for point in 1...points {
            let (medium, _) = try await Self.appendOverStaleTail(shift: shift, small: small, cut: point)
            for mode in modes {
                let image = medium.crash(mode)
                let reopened = try PMemStream(medium: SimulatedMedium(image: image), configuration: Self.configuration)
                let bytes = try await reopened.entries().collect().map { try $0.bytes }
                #expect(
                    !bytes.contains([7]) && !bytes.contains { $0.contains(Self.staleByte) },
                    "small \(small), shift \(shift), point \(point) of \(points), \(mode): a stale entry came back"
                )
            }
            if point == points {
                // The append's own drain: everything drained before it, the scrub included, is on the medium.
                let header = (Self.boundary + shift)..<(Self.boundary + shift + 24)
                #expect(
                    medium.crash(.drainedOnly)[header].allSatisfy { $0 == 0 },
                    "the stale header is not zeroed whole"
                )
            }
        }
    }

    /// A first session whose stale tail in r1 is L (1008 bytes, timestamp 5), an empty entry (6) and [7]; a
    /// second one appends [44] to r2 (timestamp 4), then to r1 1008 bytes (5: its places are checked one by
    /// one) and an empty entry (6), whose terminator goes where the stale [7]'s header starts, on a line
    /// of its own. Power is cut at persist point `cut` of the empty entry's append, when given.
    /// - Returns: The medium, and the persist points of the empty entry's append.
    static func smallAfterLarge(cut: Int?) async throws -> (SimulatedMedium, Int) {
        var start = 0
        let (medium, r1, r2) = try await sessionWithStaleTail {
            start = $0
            return [Array(repeating: Self.staleByte, count: 1008), [], [7]]
        }
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        #expect(try await stream.writer(for: try await stream.region(atOffset: r2.offset)).append([44]).timestamp == 4)
        let writer = try await stream.writer(for: try await stream.region(atOffset: r1.offset))
        let large = try await writer.append(Array(repeating: 0x50, count: 1008))
        #expect(large.timestamp == 5 && large.offset == start)
        let before = medium.persistPointCount
        if let cut {
            medium.cutPower(atPersistPoint: before + cut)
        }
        let small = try await writer.append([UInt8]())
        #expect(small.offset == start + 1032 && (small.offset + 24) % 64 == 0)
        return (medium, medium.persistPointCount - before)
    }

    @Test("a small entry right after a large one: the stale header just beyond its terminator never comes back")
    func smallAfterLargeEntry() async throws {
        let modes = [CrashMode.everythingWritten] + (0..<16).flatMap { [.randomLines(seed: $0), .tornWords(seed: $0)] }
        let (_, points) = try await Self.smallAfterLarge(cut: nil)
        for point in 1...points {
            let (medium, _) = try await Self.smallAfterLarge(cut: point)
            for mode in modes {
                let reopened = try PMemStream(
                    medium: SimulatedMedium(image: medium.crash(mode)),
                    configuration: Self.configuration
                )
                let bytes = try await reopened.entries().collect().map { try $0.bytes }
                #expect(!bytes.contains([7]), "point \(point) of \(points), \(mode): the stale [7] came back")
            }
        }
    }
}
