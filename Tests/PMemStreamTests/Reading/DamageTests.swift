import PMemStreamTestKit
import Testing

@testable import PMemStream

/// What reading calls damage: an entry that fails validation before its region's checkpoint tail (or, in
/// the writing session, its published tail) is `corruptedEntry`; beyond it, the first entry that fails ends
/// the region, whatever its header claims (see `Docs/Format.md`, "Entries").
@Suite("Damage and torn ends")
struct DamageTests {
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)

    // MARK: - Torn headers over stale bytes

    /// r1's tail after [1], [2], [3] in `sessionWithStaleTail`, where its stale tail starts.
    static func staleTailStart(of region: Region) -> Int {
        region.offset + ExtentHeader.size + 3 * 32
    }

    /// The stale tail of ``sessionWithStaleTail(_:)``: X (timestamp 5, 120 bytes), then Y (timestamp 6) at
    /// `p`, whose header crosses a cache line (its timestamp word in one line, its kind word in the next).
    static func staleXAndY() async throws -> (medium: SimulatedMedium, r1: Region, r2: Region, p: Int) {
        let (medium, r1, r2) = try await sessionWithStaleTail { _ in
            [Array(repeating: 0x50, count: 120), Array(repeating: 0xA5, count: 40)]
        }
        let p = Self.staleTailStart(of: r1) + 144
        #expect(p % 64 == 48 && medium.word(at: p) == 6, "Y's header crosses a line, its timestamp word is 6")
        return (medium, r1, r2, p)
    }

    /// One group-commit round of A (timestamp 4, ending at `p`) and B (timestamp 7, at `p`) in `region`, with
    /// [55] and [66] (timestamps 5 and 6) in `other`, cut by a power failure in its drain.
    static func roundOverStaleHeader(
        _ medium: SimulatedMedium,
        region: (PMemStream) async throws -> Region,
        other: Region,
        firstEntry: [UInt8],
        p: Int
    ) async throws {
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        let writer = try await stream.writer(for: try await region(stream))
        let otherWriter = try await stream.writer(for: try await stream.region(atOffset: other.offset))
        let a = try await writer.appendAsync(firstEntry)
        _ = try await otherWriter.appendAsync([55])
        _ = try await otherWriter.appendAsync([66])
        let b = try await writer.appendAsync(Array(repeating: 0x60, count: 40))
        #expect(a.entry.timestamp == 4 && b.entry.timestamp == 7 && b.entry.offset == p)
        medium.cutPower(atPersistPoint: medium.persistPointCount + 1)
        await stream.persistCommitted()
        #expect(medium.isPowerCut)
    }

    /// Reopens every state of `seeds` random lines of `medium`'s cut round, and returns the seeds whose
    /// stream threw when read, or when `region`'s writer recovered it; the stream must start with the
    /// entries of `durable`, every time.
    static func seedsReadAsDamage(
        _ medium: SimulatedMedium,
        region: Region,
        durable: [[UInt8]] = [],
        seeds: Range<UInt64>
    ) async -> [UInt64] {
        var damaged: [UInt64] = []
        for seed in seeds {
            do {
                let restarted = SimulatedMedium(image: medium.crash(.randomLines(seed: seed)))
                let stream = try PMemStream(medium: restarted, configuration: Self.configuration)
                let bytes = try await stream.entries().collect().map { try $0.bytes }
                #expect(!bytes.contains { $0.contains(0xA5) }, "seed \(seed): the stale Y came back")
                #expect(bytes.starts(with: durable), "seed \(seed): durable entries were lost")
                _ = try await stream.writer(for: try await stream.region(atOffset: region.offset))
            } catch {
                damaged.append(seed)
            }
        }
        return damaged
    }

    @Test("a new header torn over a stale timestamp word whose kind word was lost ends the region, not damage")
    func tornHeaderOverStaleTimestampInRecoveredRegion() async throws {
        let (crashed, r1, r2, p) = try await Self.staleXAndY()
        var image = crashed.crash()
        image.replaceSubrange((p + 16)..<(p + 24), with: repeatElement(0, count: 8))  // Y's kind word never durable
        let medium = SimulatedMedium(image: image)
        try await Self.roundOverStaleHeader(
            medium,
            region: { try await $0.region(atOffset: r1.offset) },
            other: r2,
            firstEntry: Array(repeating: 0x50, count: 120),
            p: p
        )
        let damaged = await Self.seedsReadAsDamage(medium, region: r1, durable: [[1], [2], [3]], seeds: 0..<64)
        #expect(damaged.isEmpty, "random-lines seeds \(damaged): a torn header read as damage, the region unusable")
    }

    @Test("a new header torn over a freed region's stale timestamp word ends the region, not damage")
    func tornHeaderOverStaleTimestampInNewRegion() async throws {
        let (crashed, r1, r2, p) = try await Self.staleXAndY()
        let medium = SimulatedMedium(image: crashed.crash())
        try await Self.roundOverStaleHeader(
            medium,
            region: { stream in
                try await stream.free(try await stream.region(atOffset: r1.offset))
                let r3 = try await stream.allocateRegion(size: 4032)
                #expect(r3.offset == r1.offset)
                return r3
            },
            other: r2,
            firstEntry: Array(repeating: 0x33, count: 96) + Array(repeating: 0x50, count: 120),
            p: p
        )
        let damaged = await Self.seedsReadAsDamage(medium, region: r1, seeds: 0..<256)
        #expect(damaged.isEmpty, "random-lines seeds \(damaged): a torn header read as damage, the region unusable")
    }

    // MARK: - Damage before the checkpoint tail

    /// A stream with one region of three 40-byte entries, appended synchronously: durable, and with no
    /// persist worker, not checkpointed until the stream closes.
    static func threeEntries() async throws -> (SimulatedMedium, PMemStream, Region, [Entry]) {
        let medium = SimulatedMedium(size: 64 * 1024)
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        let region = try await stream.allocateRegion(size: 4032)
        let writer = try await stream.writer(for: region)
        var entries: [Entry] = []
        for seed in 1...3 {
            entries.append(try await writer.append(testBytes(40, seed: seed)))
        }
        return (medium, stream, region, entries)
    }

    /// A closed stream with one region of three 40-byte entries, all checkpointed.
    static func closedStream() async throws -> (image: [UInt8], region: Region, entries: [Entry]) {
        let (medium, stream, region, entries) = try await Self.threeEntries()
        try await stream.close()
        let image = medium.crash()
        let tail = Int(medium.word(at: region.offset + ExtentHeader.Field.checkpointTail))
        #expect(tail == entries[2].offset + 64, "close checkpoints every entry")
        return (image, region, entries)
    }

    @Test(
        "any damaged word of a checkpointed entry's header is reported, by readers and by the writer's recovery",
        arguments: [
            EntryHeader.Field.timestamp, EntryHeader.Field.size, EntryHeader.Field.checksum, EntryHeader.Field.kind,
        ]
    )
    func damagedHeaderBeforeCheckpointTail(field: Int) async throws {
        let (image, region, entries) = try await Self.closedStream()
        var damaged = image
        damaged[entries[1].offset + field] ^= 0x5A
        for access in [PMemStream.Access.readOnly, .readWrite] {
            let medium = SimulatedMedium(image: damaged)
            var configuration = Self.configuration
            configuration.access = access
            let stream = try PMemStream(medium: medium, configuration: configuration)
            let handle = try await stream.region(atOffset: region.offset)
            var seen: [UInt64] = []
            let code = await thrownErrorCode {
                for try await entry in stream.entries(in: handle) { seen.append(entry.timestamp) }
            }
            #expect(code == .corruptedEntry, "field \(field), \(access)")
            #expect(seen == [1], "field \(field), \(access)")
            if access == .readWrite {
                let before = medium.crash()
                #expect(await thrownErrorCode { try await stream.writer(for: handle) } == .corruptedEntry)
                let unchanged = medium.crash() == before
                #expect(unchanged, "a writer that finds damage writes nothing")
            }
        }
    }

    @Test("recovery moves a region's checkpoint tail over the entries it recovers, so their damage is reported")
    func recoveryCheckpointsWhatItRecovers() async throws {
        let (medium, _, region, entries) = try await Self.threeEntries()
        let field = region.offset + ExtentHeader.Field.checkpointTail
        #expect(Int(medium.word(at: field)) == region.offset + ExtentHeader.size, "no checkpoint ran")
        let restarted = SimulatedMedium(image: medium.crash(.drainedOnly))
        _ = try PMemStream(medium: restarted, configuration: Self.configuration)
        #expect(Int(restarted.word(at: field)) == entries[2].offset + 64, "the tail moved over all three")
        var damaged = restarted.crash(.drainedOnly)
        damaged[entries[2].offset + EntryHeader.size + 7] ^= 0x01
        let reopened = try PMemStream(medium: SimulatedMedium(image: damaged), configuration: Self.configuration)
        #expect(await thrownErrorCode { try await reopened.entries().collect() } == .corruptedEntry)
    }

    // MARK: - Read-only streams

    /// A stream with one region holding [1], and a read-only stream opened on the same medium after it.
    static func writerAndReader() async throws -> (SimulatedMedium, PMemStream, Region, PMemStream) {
        let medium = SimulatedMedium(size: 64 * 1024)
        let writer = try PMemStream(medium: medium, configuration: Self.configuration)
        let region = try await writer.allocateRegion(size: 4032)
        _ = try await writer.writer(for: region).append([1])
        let reader = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
        return (medium, writer, region, reader)
    }

    @Test("an iteration of a read-only stream ends at its watermark, even before checkpoint tails it read since")
    func readerEndsBeforeNewerCheckpointTail() async throws {
        let (_, writer, region, reader) = try await Self.writerAndReader()
        var walk = reader.entries(in: try await reader.region(atOffset: region.offset)).makeAsyncIterator()
        #expect(try await walk.next()?.timestamp == 1, "the walk's watermark is 1")
        _ = try await writer.writer(for: region).append([2])
        try await writer.close()  // checkpoints entry 2: the region's checkpoint tail moves past it
        try await reader.refresh()
        #expect(try await walk.next() == nil, "entry 2 is whole, beyond the walk's watermark: not damage")
        #expect(try await reader.entries().collect().map(\.timestamp) == [1, 2])
    }

    @Test("a read-only stream reports damage to an entry its own snapshot found whole, not yet checkpointed")
    func readerReportsDamageToEntryItWalked() async throws {
        let (medium, writer, region, _) = try await Self.writerAndReader()
        let regionWriter = try await writer.writer(for: region)
        let second = try await regionWriter.append(testBytes(40, seed: 2))
        _ = try await regionWriter.append([3])
        #expect(
            Int(medium.word(at: region.offset + ExtentHeader.Field.checkpointTail)) == region.offset + 64,
            "no checkpoint covers the entries yet"
        )
        let reader = try PMemStream(medium: medium, configuration: .init(access: .readOnly))
        let handle = try await reader.region(atOffset: region.offset)
        #expect(try await reader.entries(in: handle).collect().map(\.timestamp) == [1, 2, 3])
        medium.fill(second.offset + EntryHeader.size..<second.offset + EntryHeader.size + 1, with: 0xFF, flags: [])
        #expect(await thrownErrorCode { try await reader.entries(in: handle).collect() } == .corruptedEntry)
    }

    @Test("a read-only stream reports damage to an entry it first saw after a refresh")
    func readerReportsDamageFoundAfterRefresh() async throws {
        let (medium, writer, region, reader) = try await Self.writerAndReader()
        let handle = try await reader.region(atOffset: region.offset)
        #expect(try await reader.entries(in: handle).collect().map(\.timestamp) == [1])
        let second = try await writer.writer(for: region).append(testBytes(40, seed: 2))
        try await writer.close()
        try await reader.refresh()
        medium.fill(second.offset + EntryHeader.size..<second.offset + EntryHeader.size + 1, with: 0xFF, flags: [])
        #expect(await thrownErrorCode { try await reader.entries(in: handle).collect() } == .corruptedEntry)
    }
}
