/// Room for one entry in a region, to be filled in place and then published — or abandoned.
///
/// Get one from ``RegionWriter/reserve(_:)``. Write the entry's bytes into ``room`` (or through
/// ``withUnsafeMutableBytes(_:)``), then call ``publish(size:)``. A reservation is used once: publishing or
/// abandoning consumes it, and one that goes out of scope unpublished is abandoned.
///
/// ```swift
/// var reservation = try await writer.reserve(1024)
/// let written = reservation.withUnsafeMutableBytes { encode(record, into: $0) }
/// let entry = try await reservation.publish(size: written)
/// ```
public struct Reservation: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: `room` points into the medium at bytes that only this reservation may write
    // until it ends, and the reservation cannot be copied.

    /// The most bytes the entry may have.
    public var capacity: Int { self.room.count }
    /// The entry's bytes, in place in the medium; valid until the reservation ends.
    ///
    /// - Important: `close()` does not wait for a reservation, which can no longer be published after it.
    ///   Never write the room after the stream is closed: the file may by then be open in another writer,
    ///   whose entries could be where the room was.
    public let room: UnsafeMutableRawBufferPointer

    private let writer: RegionWriter
    private let id: UInt64
    private var isSettled = false

    init(writer: RegionWriter, id: UInt64, room: UnsafeMutableRawBufferPointer) {
        self.writer = writer
        self.id = id
        self.room = room
    }

    /// Calls `body` with the room for the entry's bytes.
    ///
    /// - Parameter body: Writes the bytes.
    /// - Returns: What `body` returns.
    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E)
        -> R
    {
        try body(self.room)
    }

    /// Publishes the entry with the first `size` bytes of the room, and returns once it is persisted.
    ///
    /// - Parameter size: The entry's size: at most ``capacity``; `nil` for all of it.
    /// - Returns: The entry.
    /// - Throws: ``PMemStreamError/Code/invalidEntrySize`` when `size` is negative or above the capacity
    ///   (the reservation is then abandoned), ``PMemStreamError/Code/regionFreed``,
    ///   ``PMemStreamError/Code/streamClosed``.
    public consuming func publish(size: Int? = nil) async throws(PMemStreamError) -> Entry {
        self.isSettled = true
        return try await self.writer.publishReservation(self.id, size: size ?? self.capacity)
    }

    /// Publishes the entry with the first `size` bytes of the room and returns at once, without waiting
    /// for it to be persisted: group commit makes it durable (the C `pmemstream_async_publish`).
    ///
    /// - Parameter size: The entry's size: at most ``capacity``; `nil` for all of it.
    /// - Returns: A receipt: the entry, and waits for its commit and persistence.
    /// - Throws: As ``publish(size:)``.
    public consuming func publishAsync(size: Int? = nil) async throws(PMemStreamError) -> AppendReceipt {
        self.isSettled = true
        return try self.writer.publishReservationAsync(self.id, size: size ?? self.capacity)
    }

    /// Gives the room back to the region without publishing anything.
    public consuming func abandon() async {
        self.isSettled = true
        self.writer.endReservation(self.id)
    }

    deinit {
        guard !self.isSettled else { return }
        self.writer.endReservation(self.id)
    }
}
