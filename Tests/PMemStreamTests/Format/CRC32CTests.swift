import CPMemStreamCRC
import Glibc
import PMemStreamTestKit
import Testing

@testable import PMemStream

/// A way to compute a checksum: `CRC32C.checksum` or one of the two ways it chooses between.
private typealias Checksum = (UnsafeRawBufferPointer, UInt32) -> UInt32

/// `CRC32C.isalChecksum` in pieces of the longest length ISA-L takes.
private func isal(_ bytes: UnsafeRawBufferPointer, _ previous: UInt32) -> UInt32 {
    CRC32C.isalChecksum(bytes, continuing: previous)
}

/// The checksum of `bytes` by `way`, continuing `previous`.
private func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0, by way: Checksum) -> UInt32 {
    bytes.withUnsafeBytes { way($0, previous) }
}

/// Expects that `way`, continued from the checksum of the first piece, gives the checksum of the whole at
/// every split of 1100 bytes (pieces on both sides of `CRC32C.hardwareLimit` and `CRC32C.foldingLimit`).
private func expectContinuesAtEverySplit(by way: Checksum) {
    var generator = SeededRandomNumberGenerator(seed: 0x5EED_C0DE)
    let bytes = (0..<1100).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    let whole = checksum(bytes, by: way)
    for split in 0...bytes.count {
        let first = checksum(Array(bytes[..<split]), by: way)
        #expect(checksum(Array(bytes[split...]), continuing: first, by: way) == whole, "split at \(split)")
    }
}

/// Expects that `way` gives ISA-L's checksum at every length in `lengths`, from random checksums and from
/// each of the first eight bytes of a 64-byte aligned buffer, and that `CRC32C.checksum` does too.
private func expectAgreesWithISAL(by way: Checksum, lengths: [Int], seed: UInt64) {
    var generator = SeededRandomNumberGenerator(seed: seed)
    let maximum = lengths.max() ?? 0
    let starts = 0..<8
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maximum + starts.count, alignment: 64)
    defer { buffer.deallocate() }
    for index in buffer.indices { buffer[index] = UInt8.random(in: .min ... .max, using: &generator) }
    var mismatches: [String] = []
    for length in lengths {
        for start in starts {
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + length)])
            let previous = UInt32.random(in: .min ... .max, using: &generator)
            let expected = CRC32C.isalChecksum(bytes, continuing: previous)
            if way(bytes, previous) != expected || CRC32C.checksum(bytes, continuing: previous) != expected {
                mismatches.append("\(length) bytes at +\(start) from \(previous)")
            }
        }
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(3))")
}

@Suite("CRC32C, by the crc32 instruction for short buffers, and by folding or by ISA-L")
struct CRC32CTests {
    @Test("matches the standard CRC32C check value")
    func checkValue() {
        let bytes = Array("123456789".utf8)
        #expect(checksum(bytes, by: CRC32C.checksum) == 0xE306_9283)
        #expect(checksum(bytes, by: isal) == 0xE306_9283)
    }

    @Test("of nothing is zero, and an empty piece changes nothing")
    func empty() {
        #expect(checksum([], by: CRC32C.checksum) == 0)
        #expect(checksum([], continuing: 0x1234_5678, by: CRC32C.checksum) == 0x1234_5678)
        #expect(checksum([], continuing: 0x1234_5678, by: isal) == 0x1234_5678)
    }

    @Test("continues piece by piece to the checksum of the whole, split anywhere")
    func continuation() {
        expectContinuesAtEverySplit(by: CRC32C.checksum)
        expectContinuesAtEverySplit(by: isal)
    }

    @Test("by ISA-L, handed over in pieces (as buffers of 2 GiB and more are), is the checksum of the whole")
    func isalPieces() {
        var generator = SeededRandomNumberGenerator(seed: 0x2_61B)
        let bytes = (0..<1000).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let whole = checksum(bytes, by: isal)
        for pieceLength in [1, 7, 64, 999] {
            #expect(
                bytes.withUnsafeBytes { CRC32C.isalChecksum($0, pieceLength: pieceLength) } == whole,
                "pieces of \(pieceLength)"
            )
        }
        #expect(CRC32C.isalLengthLimit <= Int(Int32.max))
    }

    @Test("of three words and then bytes, in one call, equals ISA-L over the words' bytes and the bytes")
    func wordsThenBytes() {
        var generator = SeededRandomNumberGenerator(seed: 0x3_0D5)
        var mismatches: [Int] = []
        for length in 0...(CRC32C.hardwareLimit + 64) {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let words = (
                UInt64.random(in: .min ... .max, using: &generator),
                UInt64.random(in: .min ... .max, using: &generator),
                UInt64(length)
            )
            let prefix = withUnsafeBytes(of: (words.0.littleEndian, words.1.littleEndian, words.2.littleEndian)) {
                Array($0)
            }
            let expected = (prefix + bytes).withUnsafeBytes { CRC32C.isalChecksum($0) }
            if bytes.withUnsafeBytes({ CRC32C.checksum(words: words, then: $0) }) != expected {
                mismatches.append(length)
            }
        }
        #expect(mismatches.isEmpty, "lengths \(mismatches.prefix(5))")
    }

    @Test("changes when any single bit changes")
    func detectsBitFlips() {
        let bytes = [UInt8](repeating: 0xA5, count: 64)
        let original = checksum(bytes, by: CRC32C.checksum)
        for bit in 0..<(64 * 8) {
            var flipped = bytes
            flipped[bit / 8] ^= 1 << (bit % 8)
            #expect(checksum(flipped, by: CRC32C.checksum) != original)
        }
    }

    /// ISA-L's AVX-512 kernel returns with the upper halves in use, and on Intel CPUs the SSE code after it
    /// then runs slowly (Docs/Performance.md, nineteenth pass). The lengths take every way: the crc32
    /// instruction, ISA-L, and folding where the CPU has it.
    @Test(
        "leaves the vector registers' upper halves cleared, whatever the length",
        .enabled(if: pmemstream_vector_upper_halves_in_use() >= 0, "this CPU cannot tell whether they are in use")
    )
    func upperHalvesCleared() {
        let bytes = [UInt8](repeating: 0xA5, count: 1 << 16)
        var inUse: [Int] = []
        for length in [8, 255, 256, 1000, 1024, 4096, 1 << 16] {
            _ = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
            if pmemstream_vector_upper_halves_in_use() != 0 {
                inUse.append(length)
            }
        }
        #expect(inUse.isEmpty, "in use after checksums of \(inUse) bytes")
    }

    @Suite(
        "by the crc32 instruction",
        .enabled(if: CRC32C.hardwareAvailable, "this CPU has no SSE4.2 crc32 instruction to test")
    )
    struct Instruction {
        @Test("matches the standard CRC32C check value, and an empty piece changes nothing")
        func checkValue() {
            #expect(checksum(Array("123456789".utf8), by: CRC32C.hardwareChecksum) == 0xE306_9283)
            #expect(checksum([], continuing: 0x1234_5678, by: CRC32C.hardwareChecksum) == 0x1234_5678)
        }

        @Test("agrees with ISA-L at every length up to 1100, from random checksums and unaligned starts")
        func agreesWithISAL() {
            expectAgreesWithISAL(by: CRC32C.hardwareChecksum, lengths: Array(0...1100), seed: 0xC3C3_2C)
        }

        @Test("continues piece by piece to the checksum of the whole, split anywhere")
        func continuation() {
            expectContinuesAtEverySplit(by: CRC32C.hardwareChecksum)
        }
    }

    @Suite(
        "by folding with carry-less multiplications",
        .enabled(if: CRC32C.foldingAvailable, "this CPU has no VPCLMULQDQ with AVX2, or has AVX-512")
    )
    struct Folding {
        @Test("matches the standard CRC32C check value, and an empty piece changes nothing")
        func checkValue() {
            #expect(checksum(Array("123456789".utf8), by: CRC32C.foldingChecksum) == 0xE306_9283)
            #expect(checksum([], continuing: 0x1234_5678, by: CRC32C.foldingChecksum) == 0x1234_5678)
        }

        /// Every length to 1100 takes each way through the kernel: the 128-byte steps, the 32-byte steps
        /// after them, the 16-byte step and the last bytes; the long ones many steps.
        @Test("agrees with ISA-L at every length up to 1100 and at long ones, from random checksums and offsets")
        func agreesWithISAL() {
            let lengths = Array(0...1100) + [4096, 4097, 4120, 65_536 + 24, 1 << 20, (1 << 20) + 13]
            expectAgreesWithISAL(by: CRC32C.foldingChecksum, lengths: lengths, seed: 0xF01D)
        }

        @Test("continues piece by piece to the checksum of the whole, split anywhere")
        func continuation() {
            expectContinuesAtEverySplit(by: CRC32C.foldingChecksum)
        }

        /// Destinations at each 8-byte place of a 32-byte span take every way to the kernel's aligned
        /// stores (whole words before them, or all of a copy too short to fold); sources at odd offsets.
        @Test("copying: stores exactly the words, nothing beside them, and gives ISA-L's checksum")
        func copying() {
            var generator = SeededRandomNumberGenerator(seed: 0xC09F)
            let lengths = Array(stride(from: 0, through: 1104, by: 8)) + [4096, 4120, 65_536 + 24]
            let guardBytes = 64
            let maximum = lengths.max()!
            let source = UnsafeMutableRawBufferPointer.allocate(byteCount: maximum + 8, alignment: 64)
            let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: maximum + 2 * guardBytes, alignment: 64)
            defer {
                source.deallocate()
                destination.deallocate()
            }
            for index in source.indices { source[index] = UInt8.random(in: .min ... .max, using: &generator) }
            var mismatches: [String] = []
            for length in lengths {
                for place in stride(from: 0, to: 32, by: 8) {
                    let sourceStart = Int.random(in: 0..<8, using: &generator)
                    let bytes = UnsafeRawBufferPointer(rebasing: source[sourceStart..<(sourceStart + length)])
                    let previous = UInt32.random(in: .min ... .max, using: &generator)
                    destination.initializeMemory(as: UInt8.self, repeating: 0xA5)
                    let start = destination.baseAddress! + guardBytes + place
                    let copied = CRC32C.foldingChecksum(copying: bytes, nonTemporallyTo: start, continuing: previous)
                    let storedExactly =
                        memcmp(start, bytes.baseAddress!, length) == 0
                        && Self.holdsOnly(0xA5, destination.baseAddress!, count: guardBytes + place)
                        && Self.holdsOnly(0xA5, start + length, count: guardBytes - place)
                    if copied != CRC32C.isalChecksum(bytes, continuing: previous) || !storedExactly {
                        mismatches.append("\(length) bytes to +\(place) from +\(sourceStart)")
                    }
                }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(3))")
        }

        /// Whether the `count` bytes at `start` all equal `byte`.
        private static func holdsOnly(_ byte: UInt8, _ start: UnsafeRawPointer, count: Int) -> Bool {
            UnsafeRawBufferPointer(start: start, count: count).allSatisfy { $0 == byte }
        }
    }
}
