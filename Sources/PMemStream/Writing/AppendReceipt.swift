/// What an asynchronous append returns: the entry, written in place, and ways to wait for its progress.
///
/// ```swift
/// let receipt = try await writer.appendAsync(bytes)
/// try await receipt.persisted()           // or stream.waitPersisted(receipt.timestamp)
/// ```
public struct AppendReceipt: Sendable {
    /// The writer that appended the entry: it leads to the stream's group commit and to the entry's region,
    /// and only its region's appenders retain it, where the stream-wide group commit would be retained by
    /// every appender. It is the receipt's only reference: the ``entry``, which retains the region's state,
    /// is made when asked for, so an append whose caller reads only the timestamp retains one object.
    private let writer: RegionWriter
    private let offset: Int
    private let size: Int
    /// The entry's timestamp.
    public let timestamp: UInt64

    init(writer: RegionWriter, entry: RegionWriter.InFlightEntry) {
        self.writer = writer
        self.offset = entry.offset
        self.size = entry.size
        self.timestamp = entry.timestamp
    }

    /// The entry; its bytes are in the medium.
    public var entry: Entry {
        Entry(state: self.writer.state, offset: self.offset, timestamp: self.timestamp, size: self.size)
    }

    /// Returns when the entry, and every earlier one, is committed: visible to readers.
    ///
    /// - Throws: ``PMemStreamError/Code/cancelled``, ``PMemStreamError/Code/streamClosed``.
    public func committed() async throws(PMemStreamError) {
        try await self.writer.groupCommit.tracker.waitCommitted(until: self.timestamp)
    }

    /// Returns when the entry, and every earlier one, is persisted: it survives a power failure.
    ///
    /// - Throws: ``PMemStreamError/Code/cancelled``, ``PMemStreamError/Code/streamClosed``.
    public func persisted() async throws(PMemStreamError) {
        try await self.writer.groupCommit.waitPersisted(self.timestamp)
    }
}
