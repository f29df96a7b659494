extension Array where Element == Double {
    /// The median: the middle value, or the mean of the two middle values; `nan` for no values.
    var median: Double {
        guard !self.isEmpty else { return .nan }
        let sorted = self.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
