import Testing

@testable import PMemStream

@Suite("CRC32C through ISA-L")
struct CRC32CTests {
    private func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { CRC32C.checksum($0, continuing: previous) }
    }

    @Test("matches the standard CRC32C check value")
    func checkValue() {
        #expect(self.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test("of nothing is zero, and an empty piece changes nothing")
    func empty() {
        #expect(self.checksum([]) == 0)
        #expect(self.checksum([], continuing: 0x1234_5678) == 0x1234_5678)
    }

    @Test("continues piece by piece to the checksum of the whole", arguments: [0, 1, 5, 63, 64, 200])
    func continuation(split: Int) {
        let bytes = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = self.checksum(bytes)
        let first = self.checksum(Array(bytes[..<split]))
        #expect(self.checksum(Array(bytes[split...]), continuing: first) == whole)
    }

    @Test("changes when any single bit changes")
    func detectsBitFlips() {
        let bytes = [UInt8](repeating: 0xA5, count: 64)
        let original = self.checksum(bytes)
        for bit in 0..<(64 * 8) {
            var flipped = bytes
            flipped[bit / 8] ^= 1 << (bit % 8)
            #expect(self.checksum(flipped) != original)
        }
    }
}
