import CPMemStreamStores
import Testing

/// The non-temporal copy a ``Pmem2Mapping`` on persistent memory uses for whole words (see
/// `Pmem2Mapping.copy(toOffset:from:flags:)`): it must store exactly the bytes asked for, whatever the
/// alignments, and nothing beside them.
@Suite("Non-temporal copies of whole words")
struct NonTemporalCopyTests {
    @Test(
        "every 8-byte-aligned destination and whole-word length, from any source alignment: exactly the range changes",
        .enabled(if: pmemstream_nontemporal_stores_available())
    )
    func copiesExactlyTheRange() {
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 64)
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 64)
        defer {
            destination.deallocate()
            source.deallocate()
        }
        for index in source.indices {
            source[index] = UInt8(truncatingIfNeeded: index &* 131 &+ 7)
        }
        for sourceShift in [0, 1, 3, 8, 13] {
            for start in stride(from: 0, to: 64, by: 8) {
                // Short copies use 8-byte stores only; from 256 bytes, 32-byte ones from the first 32-byte boundary.
                for length in Array(stride(from: 0, through: 400, by: 8)) + [2040, 2048, 2056, 2104, 4096, 4104] {
                    destination.initializeMemory(as: UInt8.self, repeating: 0xEE)
                    pmemstream_copy_nontemporal(
                        destination.baseAddress! + start,
                        source.baseAddress! + sourceShift,
                        length
                    )
                    let copied = Array(destination[start..<start + length])
                    let expected = Array(source[sourceShift..<sourceShift + length])
                    let context = "source + \(sourceShift), destination + \(start), \(length) bytes"
                    #expect(copied == expected, "\(context)")
                    #expect(destination[..<start].allSatisfy { $0 == 0xEE }, "\(context): bytes before it changed")
                    #expect(
                        destination[(start + length)...].allSatisfy { $0 == 0xEE },
                        "\(context): bytes after it changed"
                    )
                }
            }
        }
    }
}
