import PMemStream
import PMemStreamTestKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Random sequences of every stream operation — allocate, free, synchronous, asynchronous and batched
/// appends, reservations published both ways or abandoned, waits, persist, clean reopen and power failure —
/// run against the library and a simple model, comparing every observable after each step: the regions,
/// each region's entries and room, the merged read, both watermarks, and the errors. A read-only stream on the
/// same medium, refreshed after each step, must see the same regions and entries.
///
/// Replay a failure with `PMEMSTREAM_MODEL_SEEDS=<seed>`; run longer with `PMEMSTREAM_MODEL_OPERATIONS`.
@Suite("The stream against a model")
struct StreamModelTests {
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)
    static let reading = PMemStream.Configuration(access: .readOnly)
    static let seeds: [UInt64] = environmentIntegers("PMEMSTREAM_MODEL_SEEDS") ?? [1, 2, 3, 4]
    static let operations = (environmentIntegers("PMEMSTREAM_MODEL_OPERATIONS") as [Int]?)?.first ?? 300

    /// What the model knows of one region.
    struct ModelRegion {
        var region: Region
        /// The room of the empty region, from its writer.
        let capacity: Int
        var entries: [(timestamp: UInt64, bytes: [UInt8])] = []

        var available: Int {
            self.capacity - self.entries.reduce(0) { $0 + footprint($1.bytes.count) }
        }
    }

    /// The library and the model side by side.
    struct Run {
        let seed: UInt64
        var generator: SeededRandomNumberGenerator
        var medium = SimulatedMedium(size: 256 * 1024)
        var stream: PMemStream
        /// Another process's view of the medium, made again at each reopen.
        var reader: PMemStream
        var regions: [ModelRegion] = []
        var freed: [Region] = []
        var committed: UInt64 = 0
        var persisted: UInt64 = 0
        var step = 0

        init(seed: UInt64) throws {
            self.seed = seed
            self.generator = SeededRandomNumberGenerator(seed: seed)
            self.stream = try PMemStream(medium: self.medium, configuration: StreamModelTests.configuration)
            self.reader = try PMemStream(medium: self.medium, configuration: StreamModelTests.reading)
        }

        var context: Comment {
            "seed \(self.seed), step \(self.step) (replay with PMEMSTREAM_MODEL_SEEDS=\(self.seed))"
        }

        mutating func random(_ range: Range<Int>) -> Int {
            Int.random(in: range, using: &self.generator)
        }

        mutating func bytes(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in UInt8.random(in: 0...255, using: &self.generator) }
        }

        /// A small size, or now and then the largest that fits the region or one byte more.
        mutating func entrySize(for region: ModelRegion) -> Int {
            let largest = region.available - EntryLayout.headerSize
            if largest >= 0, self.random(0..<12) == 0 {
                return largest + self.random(0..<2)
            }
            return self.random(0..<300)
        }

        func fits(_ size: Int, in region: ModelRegion) -> Bool {
            footprint(size) <= region.available
        }

        mutating func record(_ entry: Entry, bytes: [UInt8], in index: Int) {
            self.committed += 1
            #expect(entry.timestamp == self.committed, self.context)
            self.regions[index].entries.append((entry.timestamp, bytes))
        }
    }

    @Test("every observable matches the model after each operation", arguments: Self.seeds)
    func randomOperations(seed: UInt64) async throws {
        var run = try Run(seed: seed)
        for step in 0..<Self.operations {
            run.step = step
            try await self.perform(&run)
            try await self.compare(run)
        }
    }

    private func perform(_ run: inout Run) async throws {
        let choice = run.random(0..<100)
        guard !run.regions.isEmpty, choice >= 8 else {
            return try await self.allocate(&run)
        }
        let index = run.random(0..<run.regions.count)
        let writer = try await run.stream.writer(for: run.regions[index].region)
        switch choice {
        case 8..<12:
            try await self.free(&run, at: index)
        case 12..<35:
            let size = run.entrySize(for: run.regions[index])
            let bytes = run.bytes(size)
            guard run.fits(size, in: run.regions[index]) else {
                #expect(await thrownErrorCode { try await writer.append(bytes) } == .entryTooLarge, run.context)
                return
            }
            run.record(try await writer.append(bytes), bytes: bytes, in: index)
            run.persisted = run.committed
        case 35..<55:
            let size = run.entrySize(for: run.regions[index])
            let bytes = run.bytes(size)
            guard run.fits(size, in: run.regions[index]) else {
                #expect(await thrownErrorCode { try await writer.appendAsync(bytes) } == .entryTooLarge, run.context)
                return
            }
            run.record(try await writer.appendAsync(bytes).entry, bytes: bytes, in: index)
        case 55..<60:
            var batch: [[UInt8]] = []
            for _ in 0..<run.random(1..<5) {
                batch.append(run.bytes(run.random(0..<200)))
            }
            let total = batch.reduce(0) { $0 + footprint($1.count) }
            guard total <= run.regions[index].available else {
                #expect(
                    await thrownErrorCode { try await writer.append(contentsOf: batch) } == .entryTooLarge,
                    run.context
                )
                return
            }
            for (entry, bytes) in zip(try await writer.append(contentsOf: batch), batch) {
                run.record(entry, bytes: bytes, in: index)
            }
            run.persisted = run.committed
        case 60..<72:
            try await self.reserve(&run, writer: writer, at: index)
        case 72..<80:
            guard run.committed > 0 else { return }
            let timestamp = UInt64(run.random(1..<Int(run.committed) + 1))
            try await run.stream.waitPersisted(timestamp)
            if timestamp > run.persisted {
                run.persisted = run.committed
            }
            #expect(
                await thrownErrorCode { try await run.stream.waitCommitted(run.committed + 1) } == .timestampNotIssued,
                run.context
            )
        case 80..<85:
            await run.stream.persistCommitted()
            run.persisted = run.committed
        case 85..<90:
            guard let stale = run.freed.last else { return }
            #expect(await thrownErrorCode { try await run.stream.writer(for: stale) } == .regionFreed, run.context)
            #expect(await thrownErrorCode { try await run.stream.free(stale) } == .regionFreed, run.context)
        case 90..<93:
            try await run.stream.close()
            run.persisted = run.committed
            try await self.reopen(&run, image: run.medium.crash(.drainedOnly), mode: "clean reopen")
        default:
            let modes: [CrashMode] = [.drainedOnly, .everythingWritten, .tornWords(seed: run.seed &+ UInt64(run.step))]
            let mode = modes[run.random(0..<modes.count)]
            try await self.reopen(&run, image: run.medium.crash(mode), mode: "\(mode)")
        }
    }

    private func allocate(_ run: inout Run) async throws {
        let size = run.random(1..<20_000)
        do {
            let region = try await run.stream.allocateRegion(size: size)
            #expect(region.size >= size, run.context)
            let capacity = try await run.stream.writer(for: region).availableSize
            run.regions.append(ModelRegion(region: region, capacity: capacity))
        } catch {
            #expect(error.code == .noSpaceForRegion, "\(error): \(run.context)")
        }
    }

    /// Freeing checkpoints the region's entries first; that round may persist every committed entry.
    private func free(_ run: inout Run, at index: Int) async throws {
        let removed = run.regions.remove(at: index)
        try await run.stream.free(removed.region)
        run.freed.append(removed.region)
        let persisted = run.stream.persistedTimestamp
        #expect(persisted == run.persisted || persisted == run.committed, run.context)
        run.persisted = persisted
    }

    private func reserve(_ run: inout Run, writer: RegionWriter, at index: Int) async throws {
        let capacity = run.entrySize(for: run.regions[index])
        guard run.fits(capacity, in: run.regions[index]) else {
            #expect(await thrownErrorCode { _ = try await writer.reserve(capacity) } == .entryTooLarge, run.context)
            return
        }
        let reservation = try await writer.reserve(capacity)
        let bytes = run.bytes(run.random(0..<capacity + 1))
        reservation.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        switch run.random(0..<4) {
        case 0:
            run.record(try await reservation.publish(size: bytes.count), bytes: bytes, in: index)
            run.persisted = run.committed
        case 1:
            run.record(try await reservation.publishAsync(size: bytes.count).entry, bytes: bytes, in: index)
        case 2:
            await reservation.abandon()
        default:
            do {
                _ = try await reservation.publish(size: capacity + 1)
                Issue.record("publishing more than the reservation holds succeeded: \(run.context)")
            } catch {
                #expect(error.code == .invalidEntrySize, run.context)
            }
        }
    }

    /// Reopens on `image`: every entry up to the persisted watermark is back, byte-identical; of those
    /// above it, a contiguous run may be back too (they were written); nothing else is.
    private func reopen(_ run: inout Run, image: [UInt8], mode: String) async throws {
        run.medium = SimulatedMedium(image: image)
        run.stream = try PMemStream(medium: run.medium, configuration: Self.configuration)
        run.reader = try PMemStream(medium: run.medium, configuration: Self.reading)
        run.freed.removeAll()  // handles of the previous instance
        let recovered = run.stream.persistedTimestamp
        #expect(recovered >= run.persisted && recovered <= run.committed, "\(mode): \(run.context)")
        for index in run.regions.indices {
            run.regions[index].region = try await run.stream.region(atOffset: run.regions[index].region.offset)
            run.regions[index].entries.removeAll { $0.timestamp > recovered }
        }
        run.committed = recovered
        run.persisted = recovered
    }

    /// Compares every observable with the model.
    private func compare(_ run: Run) async throws {
        #expect(run.stream.committedTimestamp == run.committed, run.context)
        #expect(run.stream.persistedTimestamp == run.persisted, run.context)
        let listed = try await run.stream.regions.collect()
        #expect(listed == run.regions.map(\.region), run.context)
        for model in run.regions {
            let entries = try await run.stream.entries(in: model.region).collect()
            let same =
                try entries.map(\.timestamp) == model.entries.map(\.timestamp)
                && entries.map { try $0.bytes } == model.entries.map(\.bytes)
            #expect(same, "region \(model.region): \(run.context)")
            #expect(try await run.stream.writer(for: model.region).availableSize == model.available, run.context)
        }
        let merged = try await run.stream.entries().collect().map(\.timestamp)
        #expect(merged == run.regions.flatMap { $0.entries.map(\.timestamp) }.sorted(), run.context)

        // Every committed entry is whole in the medium, and every earlier one too: the reader sees them all.
        try await run.reader.refresh()
        #expect(run.reader.committedTimestamp == run.committed, "reader: \(run.context)")
        let seen = try await run.reader.entries().collect()
        let expected = run.regions.flatMap(\.entries).sorted { $0.timestamp < $1.timestamp }
        let same =
            try seen.map(\.timestamp) == expected.map(\.timestamp) && seen.map { try $0.bytes } == expected.map(\.bytes)
        #expect(same, "reader: \(run.context)")
        #expect(try await run.reader.regions.collect().map(\.offset) == run.regions.map(\.region.offset), run.context)
    }
}

/// The bytes an entry of `size` bytes takes in its region: its header and data, rounded up to 8.
private func footprint(_ size: Int) -> Int {
    (EntryLayout.headerSize + size + 7) / 8 * 8
}

/// The entry layout as `Docs/Format.md` states it.
private enum EntryLayout {
    static let headerSize = 24
}

/// The comma-separated integers of an environment variable, if it is set.
private func environmentIntegers<T: FixedWidthInteger>(_ name: String) -> [T]? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value).split(separator: ",").compactMap { T($0) }
}
