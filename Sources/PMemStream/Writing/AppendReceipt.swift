/// What an asynchronous append returns: the entry, written in place, and ways to wait for its progress.
///
/// ```swift
/// let receipt = try await writer.appendAsync(bytes)
/// try await receipt.persisted()           // or stream.waitPersisted(receipt.timestamp)
/// ```
public struct AppendReceipt: Sendable {
    /// The entry; its bytes are in the medium.
    public let entry: Entry
    /// The writer that appended the entry: it leads to the stream's group commit, and only its region's
    /// appenders retain it, where the stream-wide group commit would be retained by every appender.
    private let writer: RegionWriter

    init(entry: Entry, writer: RegionWriter) {
        self.entry = entry
        self.writer = writer
    }

    /// The entry's timestamp.
    public var timestamp: UInt64 {
        self.entry.timestamp
    }

    /// Returns when the entry, and every earlier one, is committed: visible to readers.
    ///
    /// - Throws: ``PMemStreamError/Code/cancelled``, ``PMemStreamError/Code/streamClosed``.
    public func committed() async throws(PMemStreamError) {
        try await self.writer.groupCommit.tracker.committed.wait(until: self.entry.timestamp)
    }

    /// Returns when the entry, and every earlier one, is persisted: it survives a power failure.
    ///
    /// - Throws: ``PMemStreamError/Code/cancelled``, ``PMemStreamError/Code/streamClosed``.
    public func persisted() async throws(PMemStreamError) {
        try await self.writer.groupCommit.waitPersisted(self.entry.timestamp)
    }
}
