import PMemStreamTestKit
import Testing

@testable import PMemStream

/// Large entries, whose whole lines are flushed as they are copied and whose first and last lines are
/// flushed after the seal (`Docs/Format.md`, "Appending"), at every position of their data in a cache line.
///
/// A later append flushes the line the previous entry ends in again, which would hide a missing flush of
/// that line; here power fails right after the append returns, before anything else is written.
@Suite("Large entries across power failures")
struct StreamedEntryCrashTests {
    /// No background workers: the asynchronous case makes its entry durable with `persistCommitted()`.
    static let configuration = PMemStream.Configuration(blockSize: 4096, persistWorkers: 0)

    /// How the large entry is appended.
    enum Way: String, CaseIterable, CustomTestStringConvertible {
        case synchronous
        case batchAlone
        case batchBetweenSmallEntries
        case asynchronous

        var testDescription: String { self.rawValue }
    }

    /// Appends `bytes` the given way and returns the large entry once it is acknowledged persisted.
    private func appendDurably(_ bytes: [UInt8], _ way: Way, to writer: RegionWriter, of stream: PMemStream)
        async throws -> Entry
    {
        switch way {
        case .synchronous:
            return try await writer.append(bytes)
        case .batchAlone:
            return try await writer.append(contentsOf: [bytes])[0]
        case .batchBetweenSmallEntries:
            return try await writer.append(contentsOf: [[1, 2, 3], bytes, [4]])[1]
        case .asynchronous:
            let receipt = try await writer.appendAsync(bytes)
            await stream.persistCommitted()
            try await receipt.persisted()
            return receipt.entry
        }
    }

    @Test(
        "an entry streamed as it is copied is whole after a power failure right after it is persisted",
        arguments: Way.allCases
    )
    func durableAtEveryPositionInALine(way: Way) async throws {
        var positions = Set<[Int]>()
        // The small entry moves the large one's start by 8 bytes a step, the large one's size its end. Entries
        // of about 9 KiB are checksummed and copied in pieces, of about 2 KiB at once.
        let sizes = Array(stride(from: 2100, to: 2164, by: 8)) + Array(stride(from: 9000, to: 9064, by: 8))
        for lead in stride(from: 0, through: 56, by: 8) {
            for size in sizes {
                let medium = SimulatedMedium(size: 64 * 1024)
                let stream = try PMemStream(medium: medium, configuration: Self.configuration)
                let region = try await stream.allocateRegion(size: 20_000)
                let writer = try await stream.writer(for: region)
                let small = testBytes(lead, seed: 1)
                let large = testBytes(size, seed: size + lead)
                _ = try await writer.append(small)
                let entry = try await self.appendDurably(large, way, to: writer, of: stream)
                let dataStart = entry.offset + EntryHeader.size
                positions.insert([size / 4096, dataStart % 64, (dataStart + size) % 64])

                for mode in [CrashMode.drainedOnly, .tornWords(seed: 3)] {
                    let restarted = try PMemStream(
                        medium: SimulatedMedium(image: medium.crash(mode)),
                        configuration: Self.configuration
                    )
                    let recovered = try await restarted.region(atOffset: region.offset)
                    let found = try await restarted.entries(in: recovered).collect().map { try $0.bytes }
                    let expected = way == .batchBetweenSmallEntries ? [small, [1, 2, 3], large, [4]] : [small, large]
                    #expect(found == expected, "\(way), data at \(dataStart) + \(size), \(mode)")
                }
            }
        }
        #expect(positions.count == 128, "every 8-byte position of the data's first and last byte in a line, twice")
    }
}
