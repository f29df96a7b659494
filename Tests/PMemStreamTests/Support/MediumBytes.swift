import PMemStream

extension PersistentMedium {
    /// Every byte of the medium as the program sees it, to compare before and after an operation.
    var allBytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: self.baseAddress, count: self.size))
    }

    /// Reads the little-endian word at `offset`.
    func word(at offset: Int) -> UInt64 {
        UInt64(littleEndian: self.baseAddress.load(fromByteOffset: offset, as: UInt64.self))
    }
}
