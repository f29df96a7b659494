#if os(Linux)
    import CISAL
#endif

/// CRC32C (Castagnoli), the checksum of every PMemStream header and entry, computed by ISA-L.
///
/// The value is the standard CRC32C: `CRC32C.checksum` of the ASCII bytes `123456789` is `0xE306_9283`.
/// A checksum can be extended piece by piece: the checksum of `a + b` equals
/// `CRC32C.checksum(b, continuing: CRC32C.checksum(a))`.
enum CRC32C {
    /// The checksum of `bytes`, optionally continuing the checksum of the bytes before them.
    ///
    /// The corresponding C function is `crc32_iscsi`.
    /// - Parameters:
    ///   - bytes: The bytes to checksum.
    ///   - previous: The checksum of the bytes that precede `bytes`; 0 to start afresh.
    /// - Returns: The CRC32C of the preceding bytes and `bytes`.
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return previous }
        // ISA-L takes and returns the raw register; the standard CRC32C inverts it on the way in and out.
        let register = crc32_iscsi(
            UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self)),
            Int32(bytes.count),
            ~previous
        )
        return ~register
    }
}
