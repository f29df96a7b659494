extension Int {
    /// This value rounded up to a multiple of `alignment` (a power of two), or `nil` on overflow.
    func alignedUp(to alignment: Int) -> Int? {
        let (sum, overflow) = self.addingReportingOverflow(alignment - 1)
        return overflow ? nil : sum & ~(alignment - 1)
    }

    /// This value rounded down to a multiple of `alignment` (a power of two).
    func alignedDown(to alignment: Int) -> Int {
        self & ~(alignment - 1)
    }
}
