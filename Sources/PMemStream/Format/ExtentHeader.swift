/// The 64-byte header at the start of every extent: a region or a run of free space (see `Docs/Format.md`,
/// "Extent headers").
///
/// The first word packs the extent's state and its size, so that one atomic 8-byte store turns free space
/// into a region, a region into free space, or merges neighbours. Every other field is written and made
/// durable before that word changes.
struct ExtentHeader: Hashable, Sendable {
    /// The size of the header; a region's data starts right after it.
    static let size = 64
    /// `PMSEXTNT` in ASCII, read as a little-endian word: marks a header PMemStream wrote.
    static let magic: UInt64 = 0x544E_5458_4553_4D50

    /// Byte offsets of the header's fields, relative to the extent.
    enum Field {
        /// State (bits 63–62) and extent size in bytes (bits 61–0).
        static let stateAndSize = 0
        static let magic = 8
        /// The allocation sequence number of a region: its identity and its place in allocation order.
        static let sequence = 16
        /// A region's timestamp cap: entries with a greater timestamp are not part of the region.
        /// `UInt64.max` while the region is writable; set to the persisted watermark when a stream is
        /// opened, and lifted again once the region's tail is cut (see `Docs/Format.md`, "Recovery").
        static let timestampCap = 24
        /// A region's checkpoint tail: every entry before this offset has a timestamp at or below the
        /// stream header's persisted watermark, so recovery starts looking for newer entries here.
        static let checkpointTail = 32
    }

    /// The timestamp cap of a region that is writable: no cap.
    static let noCap = UInt64.max

    /// Whether an extent is free space or a region.
    enum State: UInt64, Hashable, Sendable {
        case free = 0b01
        case region = 0b10
    }

    /// The largest extent size the state word can hold.
    static let maximumExtentSize = (1 << 62) - 1

    var state: State
    /// The extent's size in bytes, header included; a multiple of the block size.
    var extentSize: Int
    /// The allocation sequence number; meaningful for regions only.
    var sequence: UInt64
    /// The timestamp cap; meaningful for regions only.
    var timestampCap: UInt64
    /// The checkpoint tail; meaningful for regions only.
    var checkpointTail: Int

    /// The first word: state and size.
    static func stateWord(_ state: State, extentSize: Int) -> UInt64 {
        state.rawValue << 62 | UInt64(extentSize)
    }

    /// Reads the header of the extent at `offset`, or `nil` when it is not one PMemStream wrote.
    static func read(at offset: Int, from medium: some PersistentMedium) -> ExtentHeader? {
        let word = medium.loadWord(at: offset + Field.stateAndSize)
        guard medium.loadWord(at: offset + Field.magic) == Self.magic,
            let state = State(rawValue: word >> 62)
        else { return nil }
        return ExtentHeader(
            state: state,
            extentSize: Int(word & UInt64(Self.maximumExtentSize)),
            sequence: medium.loadWord(at: offset + Field.sequence),
            timestampCap: medium.loadWord(at: offset + Field.timestampCap),
            checkpointTail: Int(truncatingIfNeeded: medium.loadWord(at: offset + Field.checkpointTail))
        )
    }

    /// Stores a whole header of free space at `offset`: state word, magic and zeros. Nothing is flushed.
    static func storeFree(at offset: Int, extentSize: Int, on medium: some PersistentMedium) {
        medium.fill(offset..<offset + Self.size, with: 0, flags: .noFlush)
        medium.storeWord(Self.magic, at: offset + Field.magic)
        medium.storeWord(Self.stateWord(.free, extentSize: extentSize), at: offset + Field.stateAndSize)
    }
}
