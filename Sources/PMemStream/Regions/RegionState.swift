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
    /// The medium's ``PersistentMedium/baseAddress``, read once: entries' bytes are read through it (see
    /// ``bytes(_:)``), where asking the medium is a call through its protocol for every entry read.
    nonisolated(unsafe) let baseAddress: UnsafeRawPointer
    /// The offset of the region's first entry.
    let dataStart: Int
    /// The offset just past the region's last byte.
    let dataEnd: Int
    /// Whether another process may write the region: then it may free the region and write there at any
    /// moment, and a copy of an entry's bytes is checked against the entry's header and checksum. True in a
    /// read-only stream, and in a writing stream from the moment it closes (another process may then open
    /// the file for writing).
    var isWrittenElsewhere: Bool {
        self.writtenElsewhere.load(ordering: .acquiring)
    }
    /// Whether the region was allocated by this stream, in this session: every header of it in the medium
    /// was then written in this session, below its tail, and none of an earlier session's entries lies
    /// beyond the tail (see `Docs/Format.md`, "Appending").
    let isNew: Bool

    private let writtenElsewhere: Atomic<Bool>
    /// Entries with a greater timestamp are not part of the region (see `Docs/Format.md`, "Recovery").
    private let cap: Atomic<UInt64>
    /// The offset past the last published entry, or -1 until a writer has recovered the region.
    private let publishedEnd = Atomic(-1)
    /// The region's checkpoint tail as read at open (for a read-only stream, moved over what its snapshot
    /// found whole): every entry before it is whole.
    private let wholeEnd: Atomic<Int>
    /// How many writes are under way, with ``beingFreedFlag`` and ``freedFlag`` in its high bits: an append
    /// begins and ends its writes with one atomic operation each, and sees a free under way in the same one.
    /// Writes that begin and end within one hold of their writer's lock are not counted (see
    /// ``checkWritable()``).
    private let writeCount = Atomic(0)
    /// Set in ``writeCount`` while a free of the region is under way; writes are refused.
    private static let beingFreedFlag = 1 << 62
    /// Set in ``writeCount`` once the region is freed; writes are refused.
    private static let freedFlag = 1 << 61
    /// The freeing transitions and the checkpoint tail (stored only while no free is under way), and the
    /// region's recent durable entries.
    private let checkpointLock = Lock(DurableEnds())
    /// The durable entries the region's writer recorded, not yet taken into ``checkpointLock``'s.
    private let writerRecords = WriterDurableRecords()
    private let freed = Atomic(false)
    /// The largest timestamp reserved in the region this session.
    private let lastTimestampReserved = Atomic<UInt64>(0)

    init(
        region: Region,
        medium: any PersistentMedium,
        timestampCap: UInt64,
        checkpointTail: Int,
        isWrittenElsewhere: Bool = false,
        isNew: Bool = false
    ) {
        self.region = region
        self.medium = medium
        self.baseAddress = UnsafeRawPointer(medium.baseAddress)
        self.writtenElsewhere = Atomic(isWrittenElsewhere)
        self.isNew = isNew
        self.dataStart = region.offset + ExtentHeader.size
        self.dataEnd = region.offset + ExtentHeader.size + region.size
        self.cap = Atomic(timestampCap)
        self.wholeEnd = Atomic(checkpointTail)
    }

    /// Records that another process may write the region from now on: the stream that wrote it closes.
    func markWrittenElsewhere() {
        self.writtenElsewhere.store(true, ordering: .releasing)
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

    /// The offset before which every entry is whole: the furthest of the published tail and the checkpoint
    /// tail read at open (or by a read-only stream's latest snapshot). An entry there that fails validation
    /// is damage; beyond it, the first one that fails ends the region's entries (see `Docs/Format.md`,
    /// "Entries").
    var wholeEntriesEnd: Int {
        max(self.publishedEnd.load(ordering: .acquiring), self.wholeEnd.load(ordering: .acquiring))
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

    /// Takes the cap and the checkpoint tail another process stored in the region's header, for a read-only
    /// stream. The tail only moves forward while the region lives.
    func adopt(timestampCap cap: UInt64, checkpointTail: Int) {
        self.cap.store(cap, ordering: .releasing)
        self.wholeEnd.max(checkpointTail, ordering: .releasing)
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

    /// The bytes of a range of the medium, for reading: what ``PersistentMedium/bytes(_:)`` gives, without
    /// the call.
    @inline(__always)
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: self.baseAddress + range.lowerBound, count: range.count)
    }

    // MARK: - Freeing

    /// Records that writes begin; the region cannot be freed until as many ``endWrites(_:)``.
    ///
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when the region was freed already,
    ///   ``PMemStreamError/Code/regionInUse`` while a free of it is under way (it may yet be cancelled).
    func beginWrites(_ count: Int = 1) throws(PMemStreamError) {
        // One atomic operation on one word: a free either finds these writes counted (and refuses), or has
        // set its flag first (and these writes back out).
        let before = self.writeCount.wrappingAdd(count, ordering: .sequentiallyConsistent).oldValue
        guard before & (Self.beingFreedFlag | Self.freedFlag) != 0 else { return }
        self.writeCount.wrappingSubtract(count, ordering: .sequentiallyConsistent)
        try self.refuseWrites(seeing: before)
    }

    /// Refuses a write that begins and ends within one hold of the region writer's lock (an append with
    /// nothing else of the region in flight) when the region is freed or being freed, as
    /// ``beginWrites(_:)`` does, but counts nothing: ``markFreed()`` is called under the same lock, so such a
    /// write either ends before the free looks, or sees its flag. Two atomic operations fewer per append
    /// (each about 5 ns, Docs/Performance.md, twenty-third pass).
    ///
    /// - Throws: As ``beginWrites(_:)``.
    @inline(__always)
    func checkWritable() throws(PMemStreamError) {
        let flags = self.writeCount.load(ordering: .relaxed)
        guard flags & (Self.beingFreedFlag | Self.freedFlag) != 0 else { return }
        try self.refuseWrites(seeing: flags)
    }

    /// Throws the error for a write refused by a free: `flags` is what ``writeCount`` held.
    private func refuseWrites(seeing flags: Int) throws(PMemStreamError) {
        guard flags & Self.freedFlag == 0 else { throw self.freedError() }
        throw PMemStreamError(code: .regionInUse, message: "\(self.region) is being freed")
    }

    /// Records that writes ended.
    func endWrites(_ count: Int = 1) {
        self.writeCount.wrappingSubtract(count, ordering: .releasing)
    }

    /// Records that the writer's entry with `timestamp`, ending at `end`, is durable, before its publication
    /// lets the persisted watermark cover it. Called by the region's writer only: its records take no lock
    /// (see ``WriterDurableRecords``).
    ///
    /// - Returns: Whether the caller must register the region for the next checkpoint: the checkpoint had
    ///   found no record of the writer waiting.
    func recordWriterDurable(timestamp: UInt64, end: Int) -> Bool {
        self.writerRecords.record(timestamp: timestamp, end: end)
    }

    /// Marks the region as being freed: writes are refused from now on, while readers go on until
    /// ``confirmFreed()``, since the free may still be taken back with ``unmarkFreed()``. The caller holds the
    /// lock of the region's writer, if it has one, so that no uncounted write is under way (see
    /// ``checkWritable()``).
    ///
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when it was already;
    ///   ``PMemStreamError/Code/regionInUse`` while writes, a reservation or another free are under way.
    func markFreed() throws(PMemStreamError) {
        try self.checkpointLock.withLock { (_: inout DurableEnds) throws(PMemStreamError) in
            let (marked, found) = self.writeCount.compareExchange(
                expected: 0,
                desired: Self.beingFreedFlag,
                ordering: .sequentiallyConsistent
            )
            guard !marked else { return }
            guard found & Self.freedFlag == 0 else { throw self.freedError() }
            throw PMemStreamError(
                code: .regionInUse,
                message: "\(self.region) has appends, a reservation or a free under way; free it once they finish"
            )
        }
    }

    /// Takes back ``markFreed()`` when the free could not be completed.
    func unmarkFreed() {
        self.checkpointLock.withLock { _ in
            _ = self.writeCount.bitwiseAnd(~Self.beingFreedFlag, ordering: .sequentiallyConsistent)
        }
    }

    /// Records that the free is done: readers see the region freed from now on. Writes are refused too, if
    /// ``markFreed()`` did not refuse them already (a region another process freed).
    func confirmFreed() {
        self.checkpointLock.withLock { _ in
            _ = self.writeCount.bitwiseOr(Self.freedFlag, ordering: .sequentiallyConsistent)
            _ = self.writeCount.bitwiseAnd(~Self.beingFreedFlag, ordering: .sequentiallyConsistent)
        }
        self.freed.store(true, ordering: .releasing)
    }

    /// The error for using the region after it was freed.
    func freedError() -> PMemStreamError {
        PMemStreamError(code: .regionFreed, message: "\(self.region) was freed")
    }

    // MARK: - Checkpoint tails

    /// Records that the entry with `timestamp`, ending at `end`, is durable (for a group-commit round; the
    /// region's writer records its own with ``recordWriterDurable(timestamp:end:)``).
    ///
    /// - Returns: Whether the region had no durable entry of a round waiting for a checkpoint before.
    func recordDurable(timestamp: UInt64, end: Int) -> Bool {
        self.checkpointLock.withLock { $0.record(timestamp: timestamp, end: end) }
    }

    /// Stores and flushes the region's checkpoint tail, unless a free of the region is under way or done:
    /// under the lock the freeing transitions take, so that a region freed and allocated again at the same
    /// offset never receives this one's tail.
    ///
    /// - Returns: Whether it was stored.
    func storeCheckpointTail(_ tail: Int) -> Bool {
        self.checkpointLock.withLock { _ in
            // Under the lock that the freeing transitions take: no free begins while the tail is stored.
            guard self.writeCount.load(ordering: .sequentiallyConsistent) & (Self.beingFreedFlag | Self.freedFlag) == 0
            else { return false }
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
    /// - Returns: The tail, and whether entries above the watermark, or records the writer made meanwhile,
    ///   still wait for a later checkpoint.
    func checkpointTail(upTo watermark: UInt64) -> (tail: Int?, pending: Bool) {
        self.checkpointLock.withLock { ends in
            ends.writerRecordsRead = self.writerRecords.read(after: ends.writerRecordsRead) {
                _ = ends.record(timestamp: $0, end: $1)
            }
            let (tail, pending) = ends.take(upTo: watermark)
            // Marked idle only when nothing waits: while something does, the caller keeps the region registered.
            return (tail, pending || !self.writerRecords.markIdle(consumed: ends.writerRecordsRead))
        }
    }
}

/// A few durable entries of a region, as (timestamp, end offset), candidates for its next checkpoint tail:
/// those of the group-commit rounds as they are made durable, and the writer's as a checkpoint takes them
/// from ``WriterDurableRecords``, so not in timestamp order. Once full, the entry with the smallest timestamp
/// gives way to a newer one (a lost candidate only leaves a checkpoint tail further back; the newest are the
/// ones a later checkpoint needs).
private struct DurableEnds {
    private static let capacity = 8
    private var entries: [(timestamp: UInt64, end: Int)] = []
    /// How many of the writer's records were taken from ``WriterDurableRecords`` so far.
    var writerRecordsRead: UInt64 = 0

    mutating func record(timestamp: UInt64, end: Int) -> Bool {
        let wasEmpty = self.entries.isEmpty
        if self.entries.count < Self.capacity {
            self.entries.append((timestamp, end))
        } else {
            let smallest = self.entries.indices.min { self.entries[$0].timestamp < self.entries[$1].timestamp }!
            if self.entries[smallest].timestamp < timestamp {
                self.entries[smallest] = (timestamp, end)
            }
        }
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
