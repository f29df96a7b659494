/// The largest timestamp `t` such that every timestamp from 1 to `t` has completed, however out of order
/// they complete.
struct ContiguousPrefix {
    /// Every timestamp up to this one has completed.
    private(set) var value: UInt64
    private var completedAhead: Set<UInt64> = []

    init(_ value: UInt64) {
        self.value = value
    }

    /// Records that `timestamp` completed.
    ///
    /// - Returns: Whether ``value`` moved forward.
    @discardableResult
    mutating func complete(_ timestamp: UInt64) -> Bool {
        guard timestamp > self.value else { return false }
        guard timestamp == self.value + 1 else {
            self.completedAhead.insert(timestamp)
            return false
        }
        self.value = timestamp
        // Most completions are in order: skip hashing when nothing completed ahead.
        while !self.completedAhead.isEmpty, self.completedAhead.remove(self.value + 1) != nil {
            self.value += 1
        }
        return true
    }

    /// Records that every timestamp in `timestamps` completed; in one step when they directly follow
    /// ``value`` and nothing completed ahead, the usual case.
    mutating func complete(_ timestamps: ClosedRange<UInt64>) {
        guard timestamps.lowerBound != self.value + 1 || !self.completedAhead.isEmpty else {
            self.value = timestamps.upperBound
            return
        }
        for timestamp in timestamps {
            self.complete(timestamp)
        }
    }
}
