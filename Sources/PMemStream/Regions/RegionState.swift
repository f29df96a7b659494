import Synchronization

/// What writers and readers of one region share: where its entries are, how far they are committed, its
/// timestamp cap, and whether it was freed (the C library's "region runtime").
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

    /// Entries with a greater timestamp are not part of the region (see `Docs/Format.md`, "Recovery").
    private let cap: Atomic<UInt64>
    /// The offset past the last published entry, or -1 until a writer has recovered the region.
    private let publishedEnd = Atomic(-1)
    /// Held while an entry is written, and to mark the region freed, so a region is never freed mid-write.
    /// Its value: whether the region is freed, and whether an explicit reservation is being filled.
    private let writeGate = Mutex((isFreed: false, isReserved: false))
    private let freed = Atomic(false)

    init(region: Region, medium: any PersistentMedium, timestampCap: UInt64) {
        self.region = region
        self.medium = medium
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

    /// Records that entries up to `tail` are complete in the medium, for readers.
    func published(upTo tail: Int) {
        self.publishedEnd.store(tail, ordering: .releasing)
    }

    /// Runs `body` while the region cannot be freed.
    ///
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when it was freed already; `body`'s error.
    func withWriteAccess<R>(_ body: () throws(PMemStreamError) -> R) throws(PMemStreamError) -> R {
        try self.writeGate.withLock { (gate: inout (isFreed: Bool, isReserved: Bool)) throws(PMemStreamError) -> R in
            guard !gate.isFreed else { throw self.freedError() }
            return try body()
        }
    }

    /// Records that an explicit reservation is being filled; the region cannot be freed until it ends.
    ///
    /// - Throws: ``PMemStreamError/Code/regionFreed`` when the region was freed already.
    func beginReservation() throws(PMemStreamError) {
        try self.writeGate.withLock { (gate: inout (isFreed: Bool, isReserved: Bool)) throws(PMemStreamError) in
            guard !gate.isFreed else { throw self.freedError() }
            gate.isReserved = true
        }
    }

    /// Records that the explicit reservation ended.
    func endReservation() {
        self.writeGate.withLock { $0.isReserved = false }
    }

    /// Marks the region freed, waiting for a write in progress to finish.
    ///
    /// - Throws: ``PMemStreamError/Code/regionInUse`` while an explicit reservation is being filled.
    func markFreed() throws(PMemStreamError) {
        try self.writeGate.withLock { (gate: inout (isFreed: Bool, isReserved: Bool)) throws(PMemStreamError) in
            guard !gate.isReserved else {
                throw PMemStreamError(
                    code: .regionInUse,
                    message: "\(self.region) has a reservation in progress; publish or abandon it first"
                )
            }
            gate.isFreed = true
            self.freed.store(true, ordering: .releasing)
        }
    }

    /// The error for using the region after it was freed.
    func freedError() -> PMemStreamError {
        PMemStreamError(code: .regionFreed, message: "\(self.region) was freed")
    }
}
