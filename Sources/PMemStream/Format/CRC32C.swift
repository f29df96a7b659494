import CPMemStreamCRC

#if os(Linux)
    import CISAL
#endif

/// CRC32C (Castagnoli), the checksum of every PMemStream header and entry: computed with the SSE4.2 `crc32`
/// instruction (three streams at once from 256 bytes) for buffers shorter than ``hardwareLimit`` bytes when
/// the CPU has it; from ``foldingLimit`` bytes by folding with 256-bit carry-less multiplications when the CPU
/// has them but no AVX-512 (``foldingAvailable``); by ISA-L otherwise.
///
/// The value is the standard CRC32C: `CRC32C.checksum` of the ASCII bytes `123456789` is `0xE306_9283`.
/// A checksum can be extended piece by piece: the checksum of `a + b` equals
/// `CRC32C.checksum(b, continuing: CRC32C.checksum(a))`. Both ways give the same value for every input.
enum CRC32C {
    /// The buffer size from which ISA-L is faster than the `crc32` instruction: below it, its fixed cost is
    /// higher. With carry-less multiplication, `pmemstream_crc32c_hardware` runs three streams of `crc32`
    /// instructions over buffers of 256 bytes and more, and joins them. On a Zen 4 CPU (AMD EPYC, family
    /// 25), a chain of checksums took 16.4 ns so against ISA-L's 20.5 at 256 bytes, 18.0 against 24.3 at
    /// 320, 23.9 against 27.9 at 448, but 26.1 against 22.0 at 512 and 43.5 against 30.0 at 1 KiB (a C loop);
    /// in the benchmark, with the limit raised from 256, batches of 320-byte entries took 104 ns per entry
    /// against 124, reading them back 51 against 70, synchronous 320-byte appends 279 against 301 (six
    /// alternating runs each, faster in five or six; Docs/Performance.md, twenty-fourth pass). In one
    /// stream, without carry-less multiplication, ISA-L is faster from 256 bytes on (27 ns against 18 at
    /// 256, on an earlier CPU).
    static var hardwareLimit: Int { pmemstream_crc32c_three_streams_available() ? 512 : 256 }

    /// The buffer size from which ``foldingChecksum(_:continuing:)`` is used when ``foldingAvailable``.
    /// Below it, ISA-L is as fast out of the caches and a little faster in them (batches of 256-byte
    /// entries took 123 – 132 ns per entry folded against 113 – 118 with ISA-L, on a Zen 3 CPU).
    static let foldingLimit = 1024

    /// Whether the CPU has the `crc32` instruction (x86-64 with SSE4.2), asked once when the program loads.
    static var hardwareAvailable: Bool { pmemstream_crc32c_hardware_available() }

    /// Whether buffers of ``foldingLimit`` bytes and more are checksummed by ``foldingChecksum(_:continuing:)``
    /// rather than ISA-L: on x86-64 CPUs with AVX2 and 256-bit carry-less multiplication (VPCLMULQDQ) but
    /// without AVX-512, where ISA-L runs three streams of `crc32` instructions over three parts of the buffer.
    /// Reading the buffer once from front to back instead made a 4 KiB checksum of bytes out of the caches
    /// 2.2× faster on a Zen 3 CPU (about 270 ns against 600), and one in the caches as fast. With AVX-512,
    /// ISA-L folds with 512-bit registers itself. Asked once when the program loads.
    static var foldingAvailable: Bool { pmemstream_crc32c_folding_available() }

    /// The checksum of `bytes`, optionally continuing the checksum of the bytes before them.
    ///
    /// - Parameters:
    ///   - bytes: The bytes to checksum.
    ///   - previous: The checksum of the bytes that precede `bytes`; 0 to start afresh.
    /// - Returns: The CRC32C of the preceding bytes and `bytes`.
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        if bytes.count < Self.hardwareLimit, Self.hardwareAvailable {
            return Self.hardwareChecksum(bytes, continuing: previous)
        }
        if bytes.count >= Self.foldingLimit, Self.foldingAvailable {
            return Self.foldingChecksum(bytes, continuing: previous)
        }
        return Self.isalChecksum(bytes, continuing: previous)
    }

    /// ``checksum(_:continuing:)`` with the `crc32` instruction, whatever the size; only when
    /// ``hardwareAvailable``.
    ///
    /// The corresponding C function is `pmemstream_crc32c_hardware`.
    static func hardwareChecksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        assert(Self.hardwareAvailable, "the CPU has no crc32 instruction")
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return previous }
        // Like ISA-L, the C function takes and returns the raw register.
        return ~pmemstream_crc32c_hardware(base, bytes.count, ~previous)
    }

    /// ``checksum(_:continuing:)`` by folding (buffers under 256 bytes with the `crc32` instruction), whatever
    /// the size; only when ``foldingAvailable``.
    ///
    /// The corresponding C function is `pmemstream_crc32c_folding`.
    static func foldingChecksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        assert(Self.foldingAvailable, "the CPU cannot fold with 256-bit carry-less multiplications")
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return previous }
        return ~pmemstream_crc32c_folding(base, bytes.count, ~previous)
    }

    /// ``foldingChecksum(_:continuing:)`` of `bytes`, which it also copies to `destination` with non-temporal
    /// stores only and no flush, reading them once for both; only when ``foldingAvailable``. `destination`
    /// must be 8-byte aligned, `bytes.count` a multiple of 8, and the two must not overlap.
    ///
    /// The corresponding C function is `pmemstream_crc32c_folding_copy_nontemporal`.
    static func foldingChecksum(
        copying bytes: UnsafeRawBufferPointer,
        nonTemporallyTo destination: UnsafeMutableRawPointer,
        continuing previous: UInt32 = 0
    ) -> UInt32 {
        assert(Self.foldingAvailable, "the CPU cannot fold with 256-bit carry-less multiplications")
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return previous }
        return ~pmemstream_crc32c_folding_copy_nontemporal(destination, base, bytes.count, ~previous)
    }

    /// The checksum of three 64-bit words, each as its 8 little-endian bytes, followed by `bytes`: one
    /// call for an entry's header fields and data.
    ///
    /// - Parameters:
    ///   - words: The words, in order.
    ///   - bytes: The bytes after them.
    /// - Returns: The CRC32C of the 24 bytes of the words and then `bytes`.
    static func checksum(words: (UInt64, UInt64, UInt64), then bytes: UnsafeRawBufferPointer) -> UInt32 {
        if bytes.count < Self.hardwareLimit, Self.hardwareAvailable {
            // The C function takes and returns the raw register, as ISA-L does.
            return ~pmemstream_crc32c_hardware_words_then_bytes(
                words.0,
                words.1,
                words.2,
                bytes.baseAddress,
                bytes.count,
                ~0
            )
        }
        let wordsChecksum = withUnsafeBytes(of: (words.0.littleEndian, words.1.littleEndian, words.2.littleEndian)) {
            Self.checksum($0)
        }
        return Self.checksum(bytes, continuing: wordsChecksum)
    }

    /// ``checksum(_:continuing:)`` by ISA-L, whatever the size, handed over in pieces of at most
    /// `pieceLength` bytes (``isalLengthLimit``; tests choose smaller pieces).
    ///
    /// The corresponding C function is `crc32_iscsi`.
    static func isalChecksum(
        _ bytes: UnsafeRawBufferPointer,
        continuing previous: UInt32 = 0,
        pieceLength: Int = Self.isalLengthLimit
    ) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return previous }
        // ISA-L takes and returns the raw register; the standard CRC32C inverts it on the way in and out. It
        // takes an `Int32` length, so a buffer of 2 GiB or more goes in pieces.
        var register = ~previous
        var offset = 0
        while offset < bytes.count {
            let length = min(bytes.count - offset, pieceLength)
            register = crc32_iscsi(
                UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: UInt8.self)),
                Int32(length),
                register
            )
            offset += length
        }
        // ISA-L's AVX-512 kernel leaves the registers' upper halves in use; on Intel CPUs the SSE code after
        // it would run slowly until something cleared them.
        pmemstream_clear_vector_upper_halves()
        return ~register
    }

    /// The longest piece handed to ISA-L at once: its length parameter is an `Int32`.
    static let isalLengthLimit = 1 << 30
}
