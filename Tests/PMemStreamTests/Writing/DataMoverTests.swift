import PMemStream
import PMemStreamTestKit
import Testing

/// A mover that gives up halfway: it copies the first half of each entry and returns.
private struct HalfDataMover: DataMover {
    func copy(_ bytes: [UInt8], toOffset offset: Int, of medium: any PersistentMedium) async {
        bytes.withUnsafeBytes {
            medium.copy(toOffset: offset, from: UnsafeRawBufferPointer(rebasing: $0[..<(bytes.count / 2)]), flags: [])
        }
    }
}

@Suite("Data movers")
struct DataMoverTests {
    @Test("a mover that returns before every byte is in place: the entries hold what was appended, also after a crash")
    func incompleteCopy() async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0, dataMover: HalfDataMover()))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 64 * 1024))
        let appended = [1, 100, 5000].map { testBytes($0, seed: $0) }
        for bytes in appended {
            let receipt = try await writer.appendAsync(bytes)
            try await receipt.persisted()
            #expect(try receipt.entry.bytes == bytes)
        }
        let reopened = try PMemStream(medium: SimulatedMedium(image: medium.crash(.drainedOnly)))
        let region = try await reopened.region(atOffset: writer.region.offset)
        #expect(try await reopened.entries(in: region).collect().map { try $0.bytes } == appended)
    }

    @Test(
        "ThreadedDataMover copies large entries whole whatever its part count; a stream refuses parts or threshold below 1",
        arguments: [2, 3, 1000, Int.max]
    )
    func threadedPartCounts(parts: Int) async throws {
        let medium = SimulatedMedium(size: 1 << 20)
        let mover = ThreadedDataMover(threshold: 1024, parts: parts)
        let stream = try PMemStream(medium: medium, configuration: .init(persistWorkers: 0, dataMover: mover))
        let writer = try await stream.writer(for: try await stream.allocateRegion(size: 128 * 1024))
        let appended = [1024, 4095, 4096, 4097, 40_000].map { testBytes($0, seed: $0) }
        for bytes in appended {
            try await writer.appendAsync(bytes).persisted()
        }
        #expect(try await stream.entries(in: writer.region).collect().map { try $0.bytes } == appended)

        for (threshold, parts) in [(0, 4), (1024, 0), (1024, -1)] {
            let error = #expect(throws: PMemStreamError.self) {
                try PMemStream(
                    medium: SimulatedMedium(size: 1 << 20),
                    configuration: .init(dataMover: ThreadedDataMover(threshold: threshold, parts: parts))
                )
            }
            #expect(error?.code == .invalidArgument)
        }
    }
}
