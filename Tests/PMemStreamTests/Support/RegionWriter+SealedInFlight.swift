@testable import PMemStream

nonisolated extension RegionWriter {
    /// How many entries of the writer's in-flight list are sealed: a batch written beside an entry still being
    /// copied seals its entries once it has drained them, and then waits for that entry.
    var sealedInFlight: Int {
        self.appendLock.withLock { self.inFlight.count(where: \.isSealed) }
    }

    /// Returns once `count` entries of the in-flight list are sealed, or after 100 000 yields.
    ///
    /// - Returns: Whether they are.
    @discardableResult
    func waitUntilSealedInFlight(_ count: Int) async -> Bool {
        for _ in 0..<100_000 where self.sealedInFlight < count {
            await Task.yield()
        }
        return self.sealedInFlight >= count
    }
}
