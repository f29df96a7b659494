import PMemStream
import PMemStreamTestKit
import Testing

/// Random allocate/free/restart sequences checked against a model of the live regions.
@Suite("Region allocator against a model")
struct AllocatorModelTests {
    static let size = 256 * 1024
    static let blockSize = 1024
    static let extentArea = 1024..<(256 * 1024)

    /// The gaps between the model's regions: where free extents must be.
    private func holes(_ regions: [Region]) -> [Range<Int>] {
        var holes: [Range<Int>] = []
        var cursor = Self.extentArea.lowerBound
        for region in regions.sorted(by: { $0.offset < $1.offset }) {
            if region.offset > cursor { holes.append(cursor..<region.offset) }
            cursor = region.offset + region.size + 64
        }
        if cursor < Self.extentArea.upperBound { holes.append(cursor..<Self.extentArea.upperBound) }
        return holes
    }

    @Test(
        "allocations follow best fit, never overlap, and the region set matches the model",
        arguments: [1, 2, 3, 4] as [UInt64]
    )
    func randomOperations(seed: UInt64) async throws {
        var generator = SeededRandomNumberGenerator(seed: seed)
        var medium = SimulatedMedium(size: Self.size)
        var stream = try PMemStream(medium: medium, configuration: .init(blockSize: Self.blockSize))
        var model: [Region] = []  // live regions in allocation order
        for operation in 0..<300 {
            let context = "seed \(seed), operation \(operation)"
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                let size = Int.random(in: 1...20_000, using: &generator)
                let needed = (size + 64 + Self.blockSize - 1) / Self.blockSize * Self.blockSize
                let fitting = self.holes(model).filter { $0.count >= needed }
                do {
                    let region = try await stream.allocateRegion(size: size)
                    #expect(region.size + 64 == needed, "\(context)")
                    let hole = fitting.first { $0.contains(region.offset) }
                    #expect(hole?.lowerBound == region.offset, "placed at the start of a free hole: \(context)")
                    #expect(hole?.count == fitting.map(\.count).min(), "best fit: \(context)")
                    model.append(region)
                } catch {
                    #expect(error.code == .noSpaceForRegion && fitting.isEmpty, "\(error): \(context)")
                }
            case 5..<9:
                guard !model.isEmpty else { continue }
                try await stream.free(model.remove(at: Int.random(in: 0..<model.count, using: &generator)))
            default:
                // Restart from what is durable, and look every region up again.
                medium = SimulatedMedium(image: medium.crash(.drainedOnly))
                stream = try PMemStream(medium: medium, configuration: .init(blockSize: Self.blockSize))
                var reopened: [Region] = []
                for region in model {
                    reopened.append(try await stream.region(atOffset: region.offset))
                }
                #expect(reopened.map(\.size) == model.map(\.size), "\(context)")
                model = reopened
            }
            var listed: [Region] = []
            for try await region in stream.regions {
                listed.append(region)
            }
            #expect(listed == model, "\(context)")
            let held = model.reduce(0) { $0 + $1.size + 64 }
            #expect(await stream.freeSize == Self.extentArea.count - held, "\(context)")
        }
    }
}
