import PMemStream
import Synchronization

/// A data mover that holds every copy until released.
final class HeldDataMover: DataMover, @unchecked Sendable {
    // @unchecked Sendable: all state is behind the mutex and the atomic.
    private let held = Lock<[CheckedContinuation<Void, Never>]>([])
    private let released = Atomic(false)

    func copy(_ bytes: [UInt8], toOffset offset: Int, of medium: any PersistentMedium) async {
        if !self.released.load(ordering: .acquiring) {
            await withCheckedContinuation { continuation in
                // Looked at again under the lock: a release that took the list before this copy added
                // itself to it stored the flag first.
                let isReleased = self.held.withLock { held in
                    guard !self.released.load(ordering: .acquiring) else { return true }
                    held.append(continuation)
                    return false
                }
                if isReleased {
                    continuation.resume()
                }
            }
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
