/// Writes a new stream onto an unformatted medium, in the crash-safe order of `Docs/Format.md`
/// ("Formatting").
enum StreamFormatter {
    /// The ranges a format writes besides the magic; an unformatted medium may hold bytes only there.
    static func writtenRanges(_ layout: StreamLayout) -> [Range<Int>] {
        [
            StreamHeader.Field.formatVersion..<StreamHeader.staticLine.upperBound,
            layout.extentsStart..<layout.extentsStart + ExtentHeader.size,
        ]
    }

    /// Whether the medium is unformatted: no magic, and zero everywhere except where a format that was cut
    /// short may have written. Such a medium is formatted; anything else is left alone.
    static func isUnformatted(_ medium: some PersistentMedium, layout: StreamLayout) -> Bool {
        guard medium.loadWord(at: StreamHeader.Field.magic) == 0 else { return false }
        var start = 0
        for written in Self.writtenRanges(layout) + [medium.size..<medium.size] {
            guard Self.isZero(medium.bytes(start..<written.lowerBound)) else { return false }
            start = written.upperBound
        }
        return true
    }

    /// Formats the medium: one free extent over the whole extent area, then the static header fields,
    /// made durable together; then the magic, alone. Two persist points.
    ///
    /// - Throws: An error from the medium's deep flush, which confirms the format reached the medium.
    static func format(_ medium: some PersistentMedium, layout: StreamLayout) throws(PMemStreamError) {
        let header = StreamHeader(
            formatVersion: StreamHeader.currentFormatVersion,
            blockSize: layout.blockSize,
            streamSize: layout.streamSize
        )
        ExtentHeader.storeFree(at: layout.extentsStart, extentSize: layout.extentsEnd - layout.extentsStart, on: medium)
        medium.flush(layout.extentsStart..<layout.extentsStart + ExtentHeader.size)
        let staticLine = header.encodedStaticLine()
        let fields = StreamHeader.Field.formatVersion..<StreamHeader.staticLine.upperBound
        staticLine[fields].withUnsafeBytes { medium.copy(toOffset: fields.lowerBound, from: $0, flags: .noDrain) }
        medium.drain()

        medium.storeWord(StreamHeader.magic, at: StreamHeader.Field.magic)
        medium.persist(StreamHeader.Field.magic..<StreamHeader.Field.magic + 8)
        try medium.deepFlush(0..<layout.extentsStart + ExtentHeader.size)
    }

    private static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let words = bytes.count / 8
        if let base = bytes.baseAddress, Int(bitPattern: base) % 8 == 0 {
            while index < words {
                guard base.load(fromByteOffset: index * 8, as: UInt64.self) == 0 else { return false }
                index += 1
            }
            index *= 8
        }
        return bytes[index...].allSatisfy { $0 == 0 }
    }
}
