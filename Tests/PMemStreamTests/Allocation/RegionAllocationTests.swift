import PMemStream
import PMemStreamTestKit
import Testing

@Suite("Allocating and freeing regions")
struct RegionAllocationTests {
    private func makeStream(size: Int = 64 * 1024, blockSize: Int = 4096) throws -> (PMemStream, SimulatedMedium) {
        let medium = SimulatedMedium(size: size)
        return (try PMemStream(medium: medium, configuration: .init(blockSize: blockSize)), medium)
    }

    private func regions(of stream: PMemStream) async throws -> [Region] {
        var regions: [Region] = []
        for try await region in stream.regions {
            regions.append(region)
        }
        return regions
    }

    @Test(
        "a region fills whole blocks with its 64-byte header",
        arguments: [(1, 4032), (4032, 4032), (4033, 8128), (4096, 8128), (100_000, 102_336)]
    )
    func regionSizes(requested: Int, size: Int) async throws {
        let (stream, _) = try self.makeStream(size: 1 << 20)
        let region = try await stream.allocateRegion(size: requested)
        #expect(region.size == size)
        #expect(region.offset % 4096 == 0)
    }

    @Test("regions are carved in allocation order from the start of the extent area, with any sizes")
    func allocationOrder() async throws {
        let (stream, _) = try self.makeStream()
        let sizes = [100, 5000, 4032, 9000]
        var regions: [Region] = []
        for size in sizes {
            regions.append(try await stream.allocateRegion(size: size))
        }
        #expect(regions.map(\.offset) == [4096, 8192, 16384, 20480])
        #expect(try await self.regions(of: stream) == regions)
    }

    @Test("a freed region's space is reused, and the smallest hole that fits is chosen")
    func bestFitReuse() async throws {
        let (stream, _) = try self.makeStream(size: 1 << 20)
        let small = try await stream.allocateRegion(size: 4032)
        _ = try await stream.allocateRegion(size: 100)
        let large = try await stream.allocateRegion(size: 3 * 4096)
        _ = try await stream.allocateRegion(size: 100)
        try await stream.free(large)
        try await stream.free(small)
        let reused = try await stream.allocateRegion(size: 2000)
        #expect(reused.offset == small.offset, "the one-block hole fits best")
        let second = try await stream.allocateRegion(size: 5000)
        #expect(second.offset == large.offset, "then the three-block hole, ahead of the tail")
        #expect(try await self.regions(of: stream).last == second, "iteration follows allocation order, not offsets")
    }

    @Test(
        "freed neighbours merge, so the whole stream can be one region again",
        arguments: [[0, 1, 2], [2, 1, 0], [0, 2, 1], [1, 0, 2]]
    )
    func coalescing(freeOrder: [Int]) async throws {
        let (stream, _) = try self.makeStream()
        let usable = await stream.freeSize
        var regions: [Region] = []
        for size in [4032, 8128, 4032] {
            regions.append(try await stream.allocateRegion(size: size))
        }
        for index in freeOrder {
            try await stream.free(regions[index])
        }
        #expect(await stream.freeSize == usable)
        let whole = try await stream.allocateRegion(size: usable - 64)
        #expect(whole.offset == 4096)
        #expect(whole.size == usable - 64)
    }

    @Test("the stream fills exactly, and a region that takes the last byte writes nothing past the end")
    func exactFill() async throws {
        // 70 016 bytes with 4096-byte blocks: the extent area is 4096..<69 632; the 384 bytes past it are never used.
        let (stream, medium) = try self.makeStream(size: 70_016)
        var regions: [Region] = []
        while let region = try? await stream.allocateRegion(size: 4032) {
            regions.append(region)
        }
        #expect(regions.count == 16)
        #expect(await stream.freeSize == 0)
        #expect(await thrownErrorCode { try await stream.allocateRegion(size: 1) } == .noSpaceForRegion)
        try await stream.free(regions[15])
        let last = try await stream.allocateRegion(size: 4032)
        #expect(last.offset + 64 + last.size == 69_632)
        #expect(medium.allBytes[69_632...].allSatisfy { $0 == 0 })
    }

    @Test(
        "a region size of 0, a negative one or 2^62 and more is invalidRegionSize; the stream is unchanged",
        arguments: [0, -1, 1 << 62, (1 << 62) + 100, Int.max]
    )
    func invalidSizes(size: Int) async throws {
        let (stream, medium) = try self.makeStream()
        let before = medium.allBytes
        #expect(await thrownErrorCode { try await stream.allocateRegion(size: size) } == .invalidRegionSize)
        #expect(medium.allBytes == before)
        #expect(await stream.regionCount == 0)
    }

    @Test("a region larger than the largest free extent is noSpaceForRegion; the stream is unchanged")
    func tooLarge() async throws {
        let (stream, medium) = try self.makeStream()
        let first = try await stream.allocateRegion(size: 4032)
        _ = try await stream.allocateRegion(size: 4032)
        try await stream.free(first)
        let before = medium.allBytes
        let free = await stream.freeSize
        #expect(
            await thrownErrorCode { try await stream.allocateRegion(size: free - 64) } == .noSpaceForRegion,
            "enough bytes, but not in one piece"
        )
        #expect(await thrownErrorCode { try await stream.allocateRegion(size: 1 << 40) } == .noSpaceForRegion)
        #expect(medium.allBytes == before)
    }

    @Test("freeing twice, a stale handle, a foreign handle or an unknown offset is a typed error; nothing changes")
    func misuse() async throws {
        let (stream, medium) = try self.makeStream()
        let region = try await stream.allocateRegion(size: 100)
        try await stream.free(region)
        var before = medium.allBytes
        #expect(await thrownErrorCode { try await stream.free(region) } == .regionFreed)
        #expect(medium.allBytes == before)

        let successor = try await stream.allocateRegion(size: 100)
        #expect(successor.offset == region.offset)
        before = medium.allBytes
        #expect(await thrownErrorCode { try await stream.free(region) } == .regionFreed, "same offset, new region")
        #expect(medium.allBytes == before)

        let (other, _) = try self.makeStream()
        let foreign = try await other.allocateRegion(size: 100)
        #expect(await thrownErrorCode { try await stream.free(foreign) } == .notARegion)
        for offset in [0, 4096 + 64, 8192, -4096, 1 << 40] {
            #expect(
                await thrownErrorCode { try await stream.region(atOffset: offset) } == .notARegion,
                "offset \(offset)"
            )
        }
        #expect(medium.allBytes == before)
        #expect(try await stream.region(atOffset: successor.offset) == successor)
    }

    @Test("regions and their order survive a restart, and are found again by offset")
    func survivesRestart() async throws {
        let (stream, medium) = try self.makeStream()
        let a = try await stream.allocateRegion(size: 5000)
        let b = try await stream.allocateRegion(size: 100)
        try await stream.free(a)
        let c = try await stream.allocateRegion(size: 100)
        let reopened = try PMemStream(
            medium: SimulatedMedium(image: medium.crash(.drainedOnly)),
            configuration: .init(blockSize: 4096)
        )
        let regions = try await self.regions(of: reopened)
        #expect(regions.map(\.offset) == [b.offset, c.offset])
        #expect(regions.map(\.size) == [b.size, c.size])
        #expect(await thrownErrorCode { try await reopened.free(b) } == .notARegion, "handles belong to their instance")
        try await reopened.free(try await reopened.region(atOffset: b.offset))
        #expect(try await self.regions(of: reopened).map(\.offset) == [c.offset])
    }

    @Test("the regions sequence is a live view: new regions appear at the end, freed ones ahead are skipped")
    func liveIteration() async throws {
        let (stream, _) = try self.makeStream(size: 1 << 20)
        var regions: [Region] = []
        for _ in 0..<100 {
            regions.append(try await stream.allocateRegion(size: 100))
        }
        var seen: [Region] = []
        var added: [Region] = []
        for try await region in stream.regions {
            seen.append(region)
            if seen.count == 1 {
                try await stream.free(regions[1])
                try await stream.free(regions[80])
                added.append(try await stream.allocateRegion(size: 100))
            }
        }
        // The first batch of 64 was fetched before the frees: region 1 is still yielded, region 80 is not.
        let expected = [regions[0]] + regions[1..<80] + regions[81...] + added
        #expect(seen == Array(expected))
    }
}
