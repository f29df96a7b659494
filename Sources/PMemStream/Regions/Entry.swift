import Synchronization

/// An entry of a region: a timestamp and bytes, appended atomically.
///
/// Entries come from appends (``RegionWriter/append(_:)-(RawSpan)``), from iteration
/// (``PMemStream/entries(in:follow:)``, ``PMemStream/entries(since:follow:)``) and from
/// ``PMemStream/entry(in:atOffset:)``. Reading the bytes reads the medium directly; it throws
/// ``PMemStreamError/Code/regionFreed`` once the entry's region was freed.
public struct Entry: Sendable, Hashable, CustomStringConvertible {
    /// The region that holds the entry.
    public var region: Region { self.state.region }
    /// Where the entry starts in the medium. Stable across reopens: look it up again with
    /// ``PMemStream/entry(in:atOffset:)``.
    public let offset: Int
    /// The stream-wide timestamp of the entry: unique, and increasing within the region.
    public let timestamp: UInt64
    /// The number of data bytes.
    public let size: Int

    // Four words, which Swift returns in registers: each step of an iteration returns an entry, and one of
    // eight words (the region stored too) went through memory, with 16-byte loads of 8-byte stores.
    let state: RegionState

    init(state: RegionState, offset: Int, timestamp: UInt64, size: Int) {
        self.state = state
        self.offset = offset
        self.timestamp = timestamp
        self.size = size
    }

    /// Calls `body` with the entry's bytes, in place in the medium.
    ///
    /// - Important: The bytes are the entry's only as long as its region is not freed: a region freed and
    ///   allocated again while `body` runs may change them under it, and so may the next writer of the file
    ///   once the stream is closed. Use ``bytes`` when frees can race the read.
    /// - Parameter body: Reads the bytes; they are valid only during the call.
    /// - Returns: What `body` returns.
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when the region was freed; `body`'s error.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard !self.state.isFreed else { throw self.state.freedError() }
        let start = self.offset + EntryHeader.size
        return try body(self.state.bytes(start..<start + self.size))
    }

    /// A copy of the entry's bytes.
    ///
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when the region was freed, before or while the bytes
    ///   were copied (a copy that a free may have overtaken is never returned). In a read-only stream, whose
    ///   writer in another process may free the region at any moment, and in a stream that was closed, whose
    ///   file the next writer may change, the copy is checked against the entry's header and checksum.
    public var bytes: [UInt8] {
        get throws(PMemStreamError) {
            guard !self.state.isFreed else { throw self.state.freedError() }
            let start = self.offset + EntryHeader.size
            let copy = Array(self.state.bytes(start..<start + self.size))
            // The checks below read what a free or another writer changed after the copy's loads, on any CPU.
            atomicMemoryFence(ordering: .acquiring)
            guard !self.state.isFreed, !self.state.isWrittenElsewhere || self.isStill(copy) else {
                throw self.state.freedError()
            }
            return copy
        }
    }

    /// Whether the medium still holds this entry, with `copy` as its data.
    private func isStill(_ copy: [UInt8]) -> Bool {
        copy.span.bytes.withUnsafeBytes { data in
            EntryHeader.describes(
                at: self.offset,
                timestamp: self.timestamp,
                data: data,
                regionSequence: self.region.sequence,
                on: self.state.medium
            )
        }
    }

    /// The timestamp, size and place of the entry.
    public var description: String {
        "Entry(timestamp: \(self.timestamp), size: \(self.size), offset: \(self.offset))"
    }

    public static func == (lhs: Entry, rhs: Entry) -> Bool {
        lhs.region == rhs.region && lhs.offset == rhs.offset && lhs.timestamp == rhs.timestamp && lhs.size == rhs.size
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.region)
        hasher.combine(self.offset)
        hasher.combine(self.timestamp)
    }
}
