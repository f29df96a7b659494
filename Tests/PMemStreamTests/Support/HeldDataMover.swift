import PMemStream
import Synchronization

/// A data mover that holds every copy until released.
final class HeldDataMover: DataMover, @unchecked Sendable {
    // @unchecked Sendable: all state is behind the mutex and the atomic.
    private let held = Lock<[CheckedContinuation<Void, Never>]>([])
    private let released = Atomic(false)

    func copy(_ bytes: [UInt8], toOffset offset: Int, of medium: any PersistentMedium) async {
        if !self.released.load(ordering: .acquiring) {
            await withCheckedContinuation { continuation in self.held.withLock { $0.append(continuation) } }
        }
        await SynchronousDataMover().copy(bytes, toOffset: offset, of: medium)
    }

    /// Returns once a copy is being held.
    func waitUntilHolding() async {
        while self.held.withLock({ $0.isEmpty }) {
            await Task.yield()
        }
    }

    /// Lets every held copy, and every later one, go through.
    func release() {
        self.released.store(true, ordering: .releasing)
        for continuation in self.held.withLock({ held in
            defer { held.removeAll() }; return held
        }) {
            continuation.resume()
        }
    }
}
