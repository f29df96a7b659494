/// A handle to a region of a stream: a block-aligned extent that holds entries.
///
/// Regions come from ``PMemStream/allocateRegion(size:)``, ``PMemStream/region(atOffset:)`` and
/// ``PMemStream/regions``. A handle stays valid until its region is freed; using it afterwards throws
/// ``PMemStreamError/Code/regionFreed``, even when a new region was allocated at the same offset since.
/// A handle belongs to the ``PMemStream`` instance that made it; after reopening a stream, look regions up
/// again by ``offset``.
public struct Region: Hashable, Sendable, CustomStringConvertible {
    /// Where the region starts in the medium, in bytes: a multiple of the block size. Stable across reopens.
    public let offset: Int
    /// How many bytes of entries (headers included) the region holds: its extent minus the region header.
    public let size: Int
    /// The allocation sequence number: the region's identity, increasing in allocation order.
    let sequence: UInt64
    /// The stream instance that made the handle.
    let streamInstance: UInt64

    /// The region's offset and size.
    public var description: String {
        "Region(offset: \(self.offset), size: \(self.size))"
    }
}
