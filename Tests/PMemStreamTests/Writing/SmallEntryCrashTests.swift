import PMemStreamTestKit
import Testing

@testable import PMemStream

/// Small lone entries, which a writer that writes non-temporally stores whole, header, data and terminator,
/// from an image of the entry assembled on the stack (`Docs/Format.md`, "Appending"): at every position of
/// their start in a cache line, with a terminator after them and filling their region to the last byte.
/// Power fails right after the append returns, before anything else is written.
@Suite("Small entries across power failures")
struct SmallEntryCrashTests {
    /// A writer of a new region of a new stream, which writes every lone entry up to 4 KiB whole with
    /// non-temporal stores, whatever the CPU; its first entry holds `lead` bytes.
    private func writerAfterLead(_ lead: Int) async throws -> (SimulatedMedium, Region, RegionWriter, [UInt8]) {
        let medium = SimulatedMedium(size: 64 * 1024)
        let stream = try PMemStream(medium: medium, configuration: .init(blockSize: 4096, persistWorkers: 0))
        let region = try await stream.allocateRegion(size: 4000)
        let writer = try await RegionWriter.$nonTemporalSizesOverride.withValue(0...4096) {
            try await stream.writer(for: region)
        }
        let first = testBytes(lead, seed: lead + 1)
        _ = try await writer.append(first)
        return (medium, region, writer, first)
    }

    @Test("a small entry written from an image of it is whole after a power failure, terminated or at its region's end")
    func wholeAtEveryPosition() async throws {
        for lead in stride(from: 0, through: 56, by: 8) {
            for size in [0, 1, 8, 63, 64, 100, 255, RegionWriter.assembledLimit] {
                for fillsRegion in [false, true] {
                    let (medium, region, writer, first) = try await self.writerAfterLead(lead)
                    var expected = [first]
                    if fillsRegion {
                        // An entry that leaves exactly the room of the small one.
                        let room = EntryHeader.footprint(dataSize: size)!
                        let filler = testBytes(
                            await writer.availableSize - EntryHeader.size - room,
                            seed: size + lead
                        )
                        _ = try await writer.append(filler)
                        expected.append(filler)
                    }
                    let small = testBytes(size, seed: size)
                    let entry = try await writer.append(small)
                    expected.append(small)
                    if fillsRegion {
                        #expect(await writer.availableSize == 0, "the entry at \(entry.offset) fills the region")
                    }
                    for mode in [CrashMode.drainedOnly, .tornWords(seed: 5)] {
                        let restarted = try PMemStream(
                            medium: SimulatedMedium(image: medium.crash(mode)),
                            configuration: .init(blockSize: 4096, persistWorkers: 0)
                        )
                        let found = try await restarted.entries(in: restarted.region(atOffset: region.offset))
                            .collect().map { try $0.bytes }
                        #expect(found == expected, "\(size) bytes at \(entry.offset), \(mode), filling: \(fillsRegion)")
                    }
                }
            }
        }
    }
}
