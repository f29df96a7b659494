/// The 24-byte header in front of every entry's data (see `Docs/Format.md`, "Entries").
///
/// An entry is valid only when its kind marker, its size (the entry must fit the region), its timestamp
/// (non-zero, greater than the previous entry's, not beyond the reader's limit) and its CRC32C all hold.
/// The checksum covers the region's sequence number, the timestamp, the size and the data, so an entry
/// left over from an earlier region at the same place never validates.
enum EntryHeader {
    /// The header's size; the data follows it.
    static let size = 24
    /// `ENT1` in ASCII, read as a little-endian 32-bit value.
    static let marker: UInt32 = 0x3154_4E45

    /// The kind word of an entry of the region with sequence number `regionSequence`: the marker XOR the
    /// low 32 bits of the sequence number. A header left by another region never matches it, so only
    /// headers of this region's own earlier entries can look valid (see `Docs/Format.md`, "Appending").
    static func kind(regionSequence: UInt64) -> UInt32 {
        Self.marker ^ UInt32(truncatingIfNeeded: regionSequence)
    }

    /// Whether the header at `offset` from `base` (a medium's base address) carries `kind`, a region's kind
    /// word: a header of one of that region's entries, current or stale.
    static func hasKind(at offset: Int, kind: UInt32, in base: UnsafeRawPointer) -> Bool {
        UInt32(truncatingIfNeeded: base.loadWord(at: offset + Field.checksum) >> 32) == kind
    }

    /// Byte offsets of the header's fields, relative to the entry.
    enum Field {
        /// The timestamp; zero marks the end of a region's entries (the *terminator*).
        static let timestamp = 0
        static let size = 8
        /// CRC32C of the region sequence number, the timestamp, the size and the data.
        static let checksum = 16
        /// The region-tagged kind word (see ``kind(regionSequence:)``).
        static let kind = 20
    }

    /// The bytes an entry of `dataSize` bytes occupies: header and data, rounded up to 8. `nil` on overflow.
    static func footprint(dataSize: Int) -> Int? {
        guard dataSize >= 0, dataSize <= Int.max - Self.size - 7 else { return nil }
        return (Self.size + dataSize + 7) & ~7
    }

    /// The checksum of an entry.
    static func checksum(regionSequence: UInt64, timestamp: UInt64, data: UnsafeRawBufferPointer) -> UInt32 {
        Self.checksum(regionSequence: regionSequence, timestamp: timestamp, dataSize: data.count, dataStart: data)
    }

    /// The checksum of an entry of `dataSize` bytes, so far as its first bytes, `start`: continued over the
    /// rest of the data in order with ``CRC32C/checksum(_:continuing:)``, it is the entry's checksum.
    static func checksum(
        regionSequence: UInt64,
        timestamp: UInt64,
        dataSize: Int,
        dataStart start: UnsafeRawBufferPointer
    ) -> UInt32 {
        CRC32C.checksum(words: (regionSequence, timestamp, UInt64(dataSize)), then: start)
    }

    /// Stores the header of an entry whose data is already in place, through the CPU's view of the medium
    /// (its ``PersistentMedium/baseAddress``), a word at a time, the timestamp last. Nothing is flushed.
    static func store(
        at offset: Int,
        timestamp: UInt64,
        dataSize: Int,
        checksum: UInt32,
        regionSequence: UInt64,
        into base: UnsafeMutableRawPointer
    ) {
        let words = Self.words(
            timestamp: timestamp,
            dataSize: dataSize,
            checksum: checksum,
            regionSequence: regionSequence
        )
        base.storeWord(UInt64(littleEndian: words.size), at: offset + Field.size)
        base.storeWord(UInt64(littleEndian: words.kindAndChecksum), at: offset + Field.checksum)
        base.storeWord(UInt64(littleEndian: words.timestamp), at: offset + Field.timestamp)
    }

    /// The header of an entry as its three little-endian words, in the order of its fields in memory: the
    /// timestamp, the size, and the checksum with the kind word above it.
    static func words(
        timestamp: UInt64,
        dataSize: Int,
        checksum: UInt32,
        regionSequence: UInt64
    ) -> (timestamp: UInt64, size: UInt64, kindAndChecksum: UInt64) {
        assert(Field.timestamp == 0 && Field.size == 8 && Field.checksum == 16 && Field.kind == 20, "field order")
        let kindAndChecksum = UInt64(Self.kind(regionSequence: regionSequence)) << 32 | UInt64(checksum)
        return (timestamp.littleEndian, UInt64(dataSize).littleEndian, kindAndChecksum.littleEndian)
    }

    /// Whether the header at `offset` still is that of the entry with `timestamp` and `data` in the region
    /// with sequence number `regionSequence`: for a reader whose writer, in another process, may free the
    /// region and write other entries there at any moment.
    static func describes(
        at offset: Int,
        timestamp: UInt64,
        data: UnsafeRawBufferPointer,
        regionSequence: UInt64,
        on medium: some PersistentMedium
    ) -> Bool {
        let kindAndChecksum = medium.loadWord(at: offset + Field.checksum)
        return medium.loadWord(at: offset + Field.timestamp) == timestamp
            && medium.loadWord(at: offset + Field.size) == UInt64(data.count)
            && UInt32(truncatingIfNeeded: kindAndChecksum >> 32) == Self.kind(regionSequence: regionSequence)
            && UInt32(truncatingIfNeeded: kindAndChecksum)
                == Self.checksum(regionSequence: regionSequence, timestamp: timestamp, data: data)
    }

    /// What is found at an offset where an entry may start.
    enum Reading: Equatable {
        /// A valid entry.
        case entry(timestamp: UInt64, dataSize: Int)
        /// No entry: the end of the region's entries (a terminator, a torn or uncommitted entry).
        case end
        /// An entry that claims to be committed (its kind and timestamp hold) but whose checksum or size
        /// does not: damage.
        case corrupted(timestamp: UInt64)
    }

    /// Reads and validates the entry at `offset`.
    ///
    /// - Parameters:
    ///   - offset: Where the entry starts (8-byte aligned).
    ///   - regionEnd: The end of the region's data; the entry must end at or before it.
    ///   - regionSequence: The region's sequence number, part of the checksum.
    ///   - after: The previous entry's timestamp (0 for the first); the timestamp must be greater.
    ///   - limit: The largest visible timestamp; entries above it are not (yet) part of the region.
    static func read(
        at offset: Int,
        regionEnd: Int,
        regionSequence: UInt64,
        after previous: UInt64,
        limit: UInt64,
        from base: UnsafeRawPointer
    ) -> Reading {
        guard offset + Self.size <= regionEnd else { return .end }
        let timestamp = base.loadWord(at: offset + Field.timestamp)
        guard timestamp > previous, timestamp <= limit else { return .end }
        let kindAndChecksum = base.loadWord(at: offset + Field.checksum)
        guard UInt32(truncatingIfNeeded: kindAndChecksum >> 32) == Self.kind(regionSequence: regionSequence) else {
            return .end
        }
        let size = base.loadWord(at: offset + Field.size)
        guard size <= UInt64(regionEnd - offset - Self.size) else { return .corrupted(timestamp: timestamp) }
        let data = UnsafeRawBufferPointer(start: base + offset + Self.size, count: Int(size))
        let computed = Self.checksum(regionSequence: regionSequence, timestamp: timestamp, data: data)
        guard computed == UInt32(truncatingIfNeeded: kindAndChecksum) else { return .corrupted(timestamp: timestamp) }
        return .entry(timestamp: timestamp, dataSize: Int(size))
    }
}
