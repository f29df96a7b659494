/// What an asynchronous append returns: the entry, written in place, and ways to wait for its progress.
///
/// ```swift
/// let receipt = try await writer.appendAsync(bytes)
/// try await receipt.persisted()           // or stream.waitPersisted(receipt.timestamp)
/// ```
public struct AppendReceipt: Sendable {
    /// The entry; its bytes are in the medium.
    public let entry: Entry
    private let groupCommit: GroupCommit

    init(entry: Entry, groupCommit: GroupCommit) {
        self.entry = entry
        self.groupCommit = groupCommit
    }

    /// The entry's timestamp.
    public var timestamp: UInt64 {
        self.entry.timestamp
    }

    /// Returns when the entry, and every earlier one, is committed: visible to readers.
    ///
    /// - Throws: ``PMemStreamError/Code/cancelled``, ``PMemStreamError/Code/streamClosed``.
    public func committed() async throws(PMemStreamError) {
        try await self.groupCommit.tracker.committed.wait(until: self.entry.timestamp)
    }

    /// Returns when the entry, and every earlier one, is persisted: it survives a power failure.
    ///
    /// - Throws: ``PMemStreamError/Code/cancelled``, ``PMemStreamError/Code/streamClosed``.
    public func persisted() async throws(PMemStreamError) {
        try await self.groupCommit.waitPersisted(self.entry.timestamp)
    }
}
