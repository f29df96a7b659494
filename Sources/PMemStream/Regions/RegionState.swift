import Synchronization

/// What writers and readers of one region share: where its entries are, how far they are published, its
/// timestamp cap, its checkpoint progress, and whether it was freed (the C library's "region runtime").
///
/// Created by the stream when the region is first read or written in this session.
final class RegionState: Sendable {
    /// The region.
    let region: Region
    /// The medium the region lives on.
    let medium: any PersistentMedium
    /// The offset of the region's first entry.
    let dataStart: Int
    /// The offset just past the region's last byte.
    let dataEnd: Int
    /// Whether another process writes the region: then it may free the region and write there at any
    /// moment, and a copy of an entry's bytes is checked against the entry's header and checksum.
    let isWrittenElsewhere: Bool
    /// Whether the region was allocated by this stream, in this session: every header of it in the medium
    /// was then written in this session, below its tail, and none of an earlier session's entries lies
    /// beyond the tail (see `Docs/Format.md`, "Appending").
    let isNew: Bool

    /// Entries with a greater timestamp are not part of the region (see `Docs/Format.md`, "Recovery").
    private let cap: Atomic<UInt64>
    /// The offset past the last published entry, or -1 until a writer has recovered the region.
    private let publishedEnd = Atomic(-1)
    /// Whether the region is freed, how many writes are under way, and its recent durable entries; one
    /// lock for all three, so that an append ends its writes and records its entry durable in one step.
    private let writeGate = Lock(WriteGate())
    private let freed = Atomic(false)
    /// The largest timestamp reserved in the region this session.
    private let lastTimestampReserved = Atomic<UInt64>(0)

    init(
        region: Region,
        medium: any PersistentMedium,
        timestampCap: UInt64,
        isWrittenElsewhere: Bool = false,
        isNew: Bool = false
    ) {
        self.region = region
        self.medium = medium
        self.isWrittenElsewhere = isWrittenElsewhere
        self.isNew = isNew
        self.dataStart = region.offset + ExtentHeader.size
        self.dataEnd = region.offset + ExtentHeader.size + region.size
        self.cap = Atomic(timestampCap)
    }

    /// The region's timestamp cap.
    var timestampCap: UInt64 {
        self.cap.load(ordering: .acquiring)
    }

    /// The offset past the last published entry, once a writer has recovered the region.
    var publishedTail: Int? {
        let end = self.publishedEnd.load(ordering: .acquiring)
        return end < 0 ? nil : end
    }

    /// Whether the region was freed.
    var isFreed: Bool {
        self.freed.load(ordering: .acquiring)
    }

    /// Records that the region was recovered for writing: its tail is cut and its cap lifted.
    func recovered(tail: Int) {
        self.cap.store(ExtentHeader.noCap, ordering: .releasing)
        self.publishedEnd.store(tail, ordering: .releasing)
    }

    /// Takes the cap another process stored in the region's header, for a read-only stream.
    func adoptTimestampCap(_ cap: UInt64) {
        self.cap.store(cap, ordering: .releasing)
    }

    /// Records that entries up to `tail` are complete in the medium, for readers.
    func published(upTo tail: Int) {
        self.publishedEnd.store(tail, ordering: .releasing)
    }

    /// The largest timestamp reserved in the region this session (0 when none).
    var lastTimestamp: UInt64 {
        self.lastTimestampReserved.load(ordering: .acquiring)
    }

    /// Records the largest timestamp reserved so far.
    func recordLastTimestamp(_ timestamp: UInt64) {
        self.lastTimestampReserved.store(timestamp, ordering: .releasing)
    }

    // MARK: - Freeing

    /// Records that writes begin; the region cannot be freed until as many ``endWrites(_:)``.
    ///
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when the region was freed already,
    ///   ``PMemStreamError/Code/regionInUse`` while a free of it is under way (it may yet be cancelled).
    func beginWrites(_ count: Int = 1) throws(PMemStreamError) {
        try self.writeGate.withLock { (gate: inout WriteGate) throws(PMemStreamError) in
            guard !gate.isFreed else { throw self.freedError() }
            guard !gate.isBeingFreed else {
                throw PMemStreamError(code: .regionInUse, message: "\(self.region) is being freed")
            }
            gate.activeWrites += count
        }
    }

    /// Records that writes ended.
    func endWrites(_ count: Int = 1) {
        self.writeGate.withLock { $0.activeWrites -= count }
    }

    /// Records that `count` writes ended and that the entry with `timestamp`, ending at `end`, is durable,
    /// in one step: ``endWrites(_:)`` and ``recordDurable(timestamp:end:)`` together.
    ///
    /// - Returns: Whether the region had no durable entry waiting for a checkpoint before.
    func endWrites(_ count: Int, recordingDurable timestamp: UInt64, end: Int) -> Bool {
        self.writeGate.withLock { gate in
            gate.activeWrites -= count
            return gate.durableEnds.record(timestamp: timestamp, end: end)
        }
    }

    /// Marks the region as being freed: writes are refused from now on, while readers go on until
    /// ``confirmFreed()``, since the free may still be taken back with ``unmarkFreed()``.
    ///
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when it was already;
    ///   ``PMemStreamError/Code/regionInUse`` while writes, a reservation or another free are under way.
    func markFreed() throws(PMemStreamError) {
        try self.writeGate.withLock { (gate: inout WriteGate) throws(PMemStreamError) in
            guard !gate.isFreed else { throw self.freedError() }
            guard gate.activeWrites == 0, !gate.isBeingFreed else {
                throw PMemStreamError(
                    code: .regionInUse,
                    message: "\(self.region) has appends, a reservation or a free under way; free it once they finish"
                )
            }
            gate.isBeingFreed = true
        }
    }

    /// Takes back ``markFreed()`` when the free could not be completed.
    func unmarkFreed() {
        self.writeGate.withLock { gate in
            gate.isBeingFreed = false
        }
    }

    /// Records that the free is done: readers see the region freed from now on. Writes are refused too, if
    /// ``markFreed()`` did not refuse them already (a region another process freed).
    func confirmFreed() {
        self.writeGate.withLock { gate in
            gate.isFreed = true
            gate.isBeingFreed = false
        }
        self.freed.store(true, ordering: .releasing)
    }

    /// The error for using the region after it was freed.
    func freedError() -> PMemStreamError {
        PMemStreamError(code: .regionFreed, message: "\(self.region) was freed")
    }

    // MARK: - Checkpoint tails

    /// Records that the entry with `timestamp`, ending at `end`, is durable.
    ///
    /// - Returns: Whether the region had no durable entry waiting for a checkpoint before.
    func recordDurable(timestamp: UInt64, end: Int) -> Bool {
        self.writeGate.withLock { $0.durableEnds.record(timestamp: timestamp, end: end) }
    }

    /// Stores and flushes the region's checkpoint tail, unless the region was freed: under the write gate,
    /// so that a region freed and allocated again at the same offset never receives this one's tail.
    ///
    /// - Returns: Whether it was stored.
    func storeCheckpointTail(_ tail: Int) -> Bool {
        self.writeGate.withLock { gate in
            guard !gate.isFreed, !gate.isBeingFreed else { return false }
            let field = self.region.offset + ExtentHeader.Field.checkpointTail
            self.medium.storeWord(UInt64(tail), at: field)
            self.medium.flush(field..<field + 8)
            return true
        }
    }

    /// The new checkpoint tail for a checkpoint at `watermark`: the end of the last durable entry with a
    /// timestamp at or below it (every entry before that end has a smaller timestamp). `nil` when no
    /// recorded entry qualifies.
    ///
    /// - Returns: The tail, and whether entries above the watermark still wait for a later checkpoint.
    func checkpointTail(upTo watermark: UInt64) -> (tail: Int?, pending: Bool) {
        self.writeGate.withLock { $0.durableEnds.take(upTo: watermark) }
    }
}

/// What ``RegionState``'s write gate guards.
private struct WriteGate {
    /// Whether the region is freed.
    var isFreed = false
    /// Whether a free of the region is under way: writes are refused, and it may still be taken back.
    var isBeingFreed = false
    /// How many writes are under way (entries reserved and not yet published, or a reservation being
    /// filled): the region cannot be freed while any is.
    var activeWrites = 0
    /// Recent durable entries, for the next checkpoint tail.
    var durableEnds = DurableEnds()
}

/// A few recent durable entries of a region, as (timestamp, end offset), in the order they became durable.
private struct DurableEnds {
    private static let capacity = 8
    private var entries: [(timestamp: UInt64, end: Int)] = []

    mutating func record(timestamp: UInt64, end: Int) -> Bool {
        let wasEmpty = self.entries.isEmpty
        if self.entries.count == Self.capacity {
            self.entries.removeFirst()
        }
        self.entries.append((timestamp, end))
        return wasEmpty
    }

    /// Entries may become durable out of offset order (a synchronous append may drain before an earlier
    /// asynchronous one's round), so this takes the furthest end among those covered.
    mutating func take(upTo watermark: UInt64) -> (tail: Int?, pending: Bool) {
        let tail = self.entries.lazy.filter { $0.timestamp <= watermark }.map(\.end).max()
        self.entries.removeAll { $0.timestamp <= watermark }
        return (tail, !self.entries.isEmpty)
    }
}
