/// The stream header at offset 0 of the medium (see `Docs/Format.md`, "Stream header").
///
/// Its first cache line holds the static fields and their CRC32C; the second holds the persisted
/// timestamp watermark alone. The magic is written last when a stream is formatted, so a medium whose
/// magic is set always has valid static fields.
struct StreamHeader: Hashable, Sendable {
    /// The bytes reserved for the header at the start of the medium (the extent area starts at the next block).
    static let reservedSize = 256
    /// `PMEMSTRM` in ASCII, read as a little-endian word.
    static let magic: UInt64 = 0x4D52_5453_4D45_4D50
    /// The format version this build writes and reads.
    static let currentFormatVersion: UInt32 = 2

    /// Byte offsets of the header's fields.
    enum Field {
        static let magic = 0
        static let formatVersion = 8
        static let blockSize = 16
        static let streamSize = 24
        /// The CRC32C of bytes 0..<56 (with the magic in place), as a little-endian 32-bit value.
        static let checksum = 56
        /// The persisted timestamp watermark: alone on the second cache line.
        static let persistedTimestamp = 64
        /// The largest region sequence number ever handed out, so that none is handed out twice.
        static let regionSequence = 128
        /// How many times a writer's recovery began or ended: raised before it caps any region and again
        /// after, so that a reader in another process can tell that caps may have come and gone while it
        /// read (see `Docs/Format.md`, "One writer, and readers in other processes").
        static let recoveryCount = 136
    }

    /// The range the static fields and their checksum occupy.
    static let staticLine = 0..<64
    /// The bytes the checksum covers.
    static let checksummed = 0..<Field.checksum

    var formatVersion: UInt32
    var blockSize: Int
    var streamSize: Int

    /// The 64 bytes of the static line, checksum included, with the magic set.
    func encodedStaticLine() -> [UInt8] {
        var line = [UInt8](repeating: 0, count: 64)
        line.withUnsafeMutableBytes { bytes in
            bytes.storeBytes(of: Self.magic.littleEndian, toByteOffset: Field.magic, as: UInt64.self)
            bytes.storeBytes(of: self.formatVersion.littleEndian, toByteOffset: Field.formatVersion, as: UInt32.self)
            bytes.storeBytes(of: UInt64(self.blockSize).littleEndian, toByteOffset: Field.blockSize, as: UInt64.self)
            bytes.storeBytes(of: UInt64(self.streamSize).littleEndian, toByteOffset: Field.streamSize, as: UInt64.self)
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[Self.checksummed]))
            bytes.storeBytes(of: checksum.littleEndian, toByteOffset: Field.checksum, as: UInt32.self)
        }
        return line
    }

    /// What the first cache line of a medium holds.
    enum Reading: Hashable {
        /// No magic: the medium was never formatted, or a format was cut short before its last store.
        case noMagic
        /// A valid header.
        case valid(StreamHeader)
        /// Our magic, but a checksum that does not match: the header is damaged.
        case damaged
        /// Our magic and checksum, but a format version this build does not know.
        case unsupportedVersion(UInt32)
        /// Another magic: not a PMemStream stream.
        case foreign
    }

    /// Reads and classifies the header of a medium.
    static func read(from medium: some PersistentMedium) -> Reading {
        switch medium.loadWord(at: Field.magic) {
        case 0:
            return .noMagic
        case Self.magic:
            let stored = medium.loadUInt32(at: Field.checksum)
            guard stored == CRC32C.checksum(medium.bytes(Self.checksummed)) else { return .damaged }
            let header = StreamHeader(
                formatVersion: medium.loadUInt32(at: Field.formatVersion),
                blockSize: Int(truncatingIfNeeded: medium.loadWord(at: Field.blockSize)),
                streamSize: Int(truncatingIfNeeded: medium.loadWord(at: Field.streamSize))
            )
            guard header.formatVersion == Self.currentFormatVersion else {
                return .unsupportedVersion(header.formatVersion)
            }
            return .valid(header)
        default:
            return .foreign
        }
    }
}
