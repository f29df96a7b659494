import Synchronization

/// Where timed loops put a value derived from what they read, so that the optimiser cannot drop the reads.
enum Sink {
    private static let total = Atomic<UInt64>(0)

    /// Keeps `value` observable.
    @inline(never)
    static func consume(_ value: some FixedWidthInteger) {
        Self.total.add(UInt64(truncatingIfNeeded: value), ordering: .relaxed)
    }
}
