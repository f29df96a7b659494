// MARK: - Little-endian fields

extension PersistentMedium {
    /// Reads the little-endian 64-bit word at an 8-byte-aligned offset.
    @inline(__always)
    func loadWord(at offset: Int) -> UInt64 {
        UnsafeRawPointer(self.baseAddress).loadWord(at: offset)
    }

    /// Stores a little-endian 64-bit word at an 8-byte-aligned offset with a single store instruction,
    /// which the crash model treats as atomic. Nothing is flushed.
    @inline(__always)
    func storeWord(_ value: UInt64, at offset: Int) {
        self.baseAddress.storeWord(value, at: offset)
    }

    /// Reads the little-endian 32-bit value at a 4-byte-aligned offset.
    @inline(__always)
    func loadUInt32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: self.baseAddress.load(fromByteOffset: offset, as: UInt32.self))
    }

    /// The bytes of a range of the medium, for reading.
    @inline(__always)
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: self.baseAddress + range.lowerBound, count: range.count)
    }
}

extension UnsafeMutableRawPointer {
    /// Stores a little-endian 64-bit word at an 8-byte-aligned offset from this address (a medium's
    /// ``PersistentMedium/baseAddress``) with a single store instruction, which the crash model treats as
    /// atomic. For paths that keep the base address rather than ask the medium for it at every store.
    @inline(__always)
    func storeWord(_ value: UInt64, at offset: Int) {
        assert(offset % 8 == 0, "word stores must be 8-byte aligned to be atomic")
        self.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }
}

extension UnsafeRawPointer {
    /// Reads the little-endian 64-bit word at an 8-byte-aligned offset from this address (a medium's
    /// ``PersistentMedium/baseAddress``). For paths that keep the base address rather than ask the medium
    /// for it at every load.
    @inline(__always)
    func loadWord(at offset: Int) -> UInt64 {
        UInt64(littleEndian: self.load(fromByteOffset: offset, as: UInt64.self))
    }
}
