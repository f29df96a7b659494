import PMemStreamTestKit
import Testing

@testable import PMemStream

/// Chains with free extents side by side: legal in the format (`Docs/Format.md`, "Valid chain"), though the
/// allocator never leaves them.
@Suite("Adjacent free extents")
struct AdjacentFreeExtentsTests {
    /// Small blocks, so that a region's header and its first data word fill a one-block free extent.
    static let configuration = PMemStream.Configuration(blockSize: 64, persistWorkers: 0)
    /// Where the extent area starts with 64-byte blocks: right after the stream header.
    static let extentsStart = 256
    static let extentArea = 65 * 64
    static let size = extentsStart + extentArea

    /// How the free area is split, each way chosen so that the first allocation's preparation stores into a
    /// header of the chain: the new region's terminator (a one-block first extent), its free remainder's
    /// header (a first extent of exactly the region's size), or both across three extents.
    static let splits: [[Int]] = [[64, 4096], [192, 3968], [64, 128, 3968]]

    /// A durable stream whose free area is the extents of `sizes` bytes, side by side.
    static func image(splitInto sizes: [Int]) throws -> [UInt8] {
        #expect(sizes.reduce(0, +) == Self.extentArea)
        let medium = SimulatedMedium(size: Self.size)
        _ = try PMemStream(medium: medium, configuration: Self.configuration)
        var offset = Self.extentsStart
        for size in sizes {
            ExtentHeader.storeFree(at: offset, extentSize: size, on: medium)
            offset += size
        }
        medium.persist(Self.extentsStart..<offset)
        return medium.crash(.drainedOnly)
    }

    @Test(
        "a writing open merges them on the medium; a read-only open reads them merged and writes nothing",
        arguments: splits
    )
    func openMerges(split: [Int]) async throws {
        let image = try Self.image(splitInto: split)
        let readOnly = SimulatedMedium(image: image)
        let reader = try PMemStream(
            medium: readOnly,
            configuration: PMemStream.Configuration(blockSize: 64, persistWorkers: 0, access: .readOnly)
        )
        #expect(await reader.freeSize == Self.extentArea)
        #expect(readOnly.crash(.everythingWritten) == image, "the read-only open wrote nothing")
        let medium = SimulatedMedium(image: image)
        let stream = try PMemStream(medium: medium, configuration: Self.configuration)
        #expect(await stream.freeSize == Self.extentArea)
        let durable = SimulatedMedium(image: medium.crash(.drainedOnly))
        #expect(ExtentHeader.read(at: Self.extentsStart, from: durable)?.extentSize == Self.extentArea)
    }

    @Test("a crash at any persist point of opening, allocating and freeing leaves a chain that opens, nothing leaked")
    func crashesKeepTheChain() async throws {
        var states = 0
        for split in Self.splits {
            let image = try Self.image(splitInto: split)
            states += try await forEachCrashState(startingFrom: image, maxPersistPoints: .max) { medium in
                let stream = try PMemStream(medium: medium, configuration: Self.configuration)
                let first = try await stream.allocateRegion(size: 100)
                _ = try await stream.allocateRegion(size: 1000)
                try await stream.free(first)
                _ = try await stream.allocateRegion(size: 40)
            } check: { state in
                let stream = try PMemStream(medium: state.restart(), configuration: Self.configuration)
                var held = 0
                var offsets: Set<Int> = []
                for try await region in stream.regions {
                    held += region.size + 64
                    offsets.insert(region.offset)
                }
                #expect(await stream.freeSize + held == Self.extentArea, "split \(split), \(state)")
                // The space left is usable: regions of one block fill it (but for lone blocks), none overlapping.
                while let region = try? await stream.allocateRegion(size: 64) {
                    #expect(offsets.insert(region.offset).inserted, "\(region) handed out twice: \(state)")
                    held += region.size + 64
                }
                #expect(await stream.freeSize + held == Self.extentArea, "split \(split), \(state)")
            }
        }
        print("crash simulation: \(states) crash states of allocating from adjacent free extents")
        #expect(states > 100)
    }
}
