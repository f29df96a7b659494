import PMemStreamTestKit
import Synchronization

@testable import PMemStream

/// What a reader in another process sees of a writer's memory (a writer on its own `SimulatedMedium`): its
/// bytes change only when the test shows it the writer's program view, and a hook runs at the n-th access
/// to `baseAddress` (every load of the library goes through it), so that a test places the writer's stores
/// between two of the reader's loads. It refuses every write.
final class ObservedMedium: ReaderMedium, @unchecked Sendable {
    let buffer: UnsafeMutableRawPointer
    let size: Int
    var granularity: StoreGranularity { .cacheLine }
    var numaNode: Int? { nil }
    let accesses = Atomic(0)
    let hooks = Lock<[Int: @Sendable () -> Void]>([:])

    init(copying medium: SimulatedMedium) {
        self.size = medium.size
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: medium.size, alignment: 4096)
        self.buffer.copyMemory(from: medium.baseAddress, byteCount: medium.size)
    }

    deinit { self.buffer.deallocate() }

    var baseAddress: UnsafeMutableRawPointer {
        let count = self.accesses.add(1, ordering: .sequentiallyConsistent).newValue
        if let hook = self.hooks.withLock({ $0.removeValue(forKey: count) }) {
            hook()
        }
        return self.buffer
    }

    /// Makes `bytes` (a writer's program view) what the reader sees from now on.
    func show(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.buffer.copyMemory(from: $0.baseAddress!, byteCount: self.size) }
    }

    /// Counts accesses from zero again.
    func resetCount() { self.accesses.store(0, ordering: .sequentiallyConsistent) }

    /// How many accesses since the last ``resetCount()``.
    var accessCount: Int { self.accesses.load(ordering: .sequentiallyConsistent) }
}

/// The writer's program view: what another process sees of it.
func programView(_ medium: SimulatedMedium) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: medium.baseAddress, count: medium.size))
}
