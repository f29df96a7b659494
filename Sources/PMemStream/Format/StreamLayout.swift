/// Where things are in a stream of a given block size and size (see `Docs/Format.md`).
///
/// The stream header occupies the first ``StreamHeader/reservedSize`` bytes, rounded up to a block. The
/// rest, rounded down to whole blocks, is the *extent area*: a chain of block-aligned extents, each a
/// region or free space. Bytes past the last whole block are never used.
struct StreamLayout: Hashable, Sendable {
    /// The block size: regions start and end on multiples of it.
    let blockSize: Int
    /// The size of the medium the stream lives on.
    let streamSize: Int
    /// The offset of the first extent.
    let extentsStart: Int
    /// The offset just past the last extent.
    let extentsEnd: Int

    /// Checks the block size rule: a power of two and a multiple of 64.
    static func validate(blockSize: Int) throws(PMemStreamError) {
        guard blockSize >= 64, blockSize.nonzeroBitCount == 1 else {
            throw PMemStreamError(
                code: .invalidBlockSize,
                message: "block size \(blockSize) must be a power of two and a multiple of 64"
            )
        }
    }

    /// The layout of a stream, or an error when the block size is invalid or the medium too small.
    init(blockSize: Int, streamSize: Int) throws(PMemStreamError) {
        try Self.validate(blockSize: blockSize)
        let extentsStart = StreamHeader.reservedSize.alignedUp(to: blockSize)!
        // In `UInt`: with the largest block sizes, the sum is beyond `Int.max`.
        let needed = UInt(extentsStart) + UInt(blockSize)
        guard UInt(clamping: streamSize) >= needed else {
            throw PMemStreamError(
                code: .mediumTooSmall,
                message: "a stream with \(blockSize)-byte blocks needs at least \(needed) bytes, "
                    + "the medium has \(streamSize)"
            )
        }
        self.blockSize = blockSize
        self.streamSize = streamSize
        self.extentsStart = extentsStart
        self.extentsEnd = extentsStart + (streamSize - extentsStart).alignedDown(to: blockSize)
    }
}
