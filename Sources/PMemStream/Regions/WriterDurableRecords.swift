import Synchronization

/// The durable entries a region's writer records for the region's next checkpoint tail, handed to the
/// checkpoint without a lock: each synchronous append records its entry after its drain with two plain stores
/// and one atomic exchange, where a lock would cost two atomic operations and its bookkeeping.
///
/// One producer, the region's writer, whose lock orders its records; one consumer at a time, the checkpoint,
/// under the region's checkpoint lock. The last ``capacity`` records are kept: one the consumer did not read
/// in time is lost, which only leaves the region's checkpoint tail further back.
///
/// The head word counts the records written, shifted left by one; its low bit, the idle mark, says that the
/// consumer read every record and found none waiting for a later checkpoint. The writer's exchange of the head
/// clears the mark and returns it: the writer whose record finds the mark set registers the region for the
/// next checkpoint. The consumer sets the mark with a compare-and-exchange that fails once a record came in
/// after its read, and then keeps the region registered itself. Both operate on the same word, so one of them
/// always sees the other: no record is left unread while the region is registered nowhere.
struct WriterDurableRecords: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the words are read and written only through their atomics.

    /// What a reader copies the records into; its size is the ring's.
    private typealias Copies = InlineArray<8, (timestamp: UInt64, end: Int)>
    /// How many records are kept.
    static var capacity: Int { Copies.count }

    /// Line 0 holds the head; the lines after it the records, each a timestamp and an end.
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private static let firstRecordWord = 8
    private static var wordCount: Int { Self.firstRecordWord + 2 * Self.capacity }
    private static let idleMark: UInt64 = 1

    init() {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: Self.wordCount * 8, alignment: 64)
        self.words = memory.bindMemory(to: Atomic<UInt64>.self, capacity: Self.wordCount)
        for index in 0..<Self.wordCount {
            // No record yet, and idle: the first record registers the region.
            (self.words + index).initialize(to: Atomic(index == 0 ? Self.idleMark : 0))
        }
    }

    deinit {
        for index in 0..<Self.wordCount {
            _ = (self.words + index).move()
        }
        UnsafeMutableRawPointer(self.words).deallocate()
    }

    private var head: UnsafeMutablePointer<Atomic<UInt64>> { self.words }

    /// The timestamp word of record number `number`; its end follows it.
    @inline(__always)
    private func record(_ number: UInt64) -> UnsafeMutablePointer<Atomic<UInt64>> {
        self.words + Self.firstRecordWord + 2 * Int(number % UInt64(Self.capacity))
    }

    /// Records that the writer's entry with `timestamp`, ending at `end`, is durable. Called by the region's
    /// writer only.
    ///
    /// - Returns: Whether the consumer had marked the records idle: the caller registers the region for the
    ///   next checkpoint.
    @inline(__always)
    borrowing func record(timestamp: UInt64, end: Int) -> Bool {
        let written = self.head.pointee.load(ordering: .relaxed) >> 1
        // Orders the head published by the previous record before the stores into a place it may reuse: a
        // consumer that reads these stores then sees that head (see `read(after:_:)`).
        atomicMemoryFence(ordering: .releasing)
        let place = self.record(written)
        place.pointee.store(timestamp, ordering: .relaxed)
        (place + 1).pointee.store(UInt64(bitPattern: Int64(end)), ordering: .relaxed)
        let before = self.head.pointee.exchange((written + 1) << 1, ordering: .releasing)
        return before & Self.idleMark != 0
    }

    /// Calls `body` with each record written since the first `consumed` ones, oldest first, skipping those
    /// the writer replaced meanwhile. Called by one consumer at a time.
    ///
    /// - Returns: How many records were written when it looked: the `consumed` of the next call.
    borrowing func read(after consumed: UInt64, _ body: (_ timestamp: UInt64, _ end: Int) -> Void) -> UInt64 {
        let written = self.head.pointee.load(ordering: .acquiring) >> 1
        let capacity = UInt64(Self.capacity)
        let first = max(consumed, written >= capacity ? written - capacity : 0)
        var copies = Copies(repeating: (0, 0))
        for number in first..<written {
            let place = self.record(number)
            copies[Int(number - first)] = (
                place.pointee.load(ordering: .relaxed),
                Int(Int64(bitPattern: (place + 1).pointee.load(ordering: .relaxed)))
            )
        }
        // A place read after the writer began to reuse it: the writer had published a head at least
        // `capacity` past its record number before it stored there, and this load sees that head.
        atomicMemoryFence(ordering: .acquiring)
        let now = self.head.pointee.load(ordering: .relaxed) >> 1
        for number in first..<written where number + capacity > now {
            let copy = copies[Int(number - first)]
            body(copy.timestamp, copy.end)
        }
        return written
    }

    /// Sets the idle mark if no record came in since the first `consumed` were written.
    ///
    /// - Returns: Whether the mark is set; when not, the caller keeps the region registered.
    borrowing func markIdle(consumed: UInt64) -> Bool {
        let (exchanged, found) = self.head.pointee.compareExchange(
            expected: consumed << 1,
            desired: consumed << 1 | Self.idleMark,
            ordering: .acquiringAndReleasing
        )
        return exchanged || found == consumed << 1 | Self.idleMark
    }
}
