import PMemStream
import PMemStreamTestKit

/// A simulated medium that reports page granularity, so that a task waiting for persistence leaves the
/// round to the persist worker.
final class PageGranularMedium: PersistentMedium {
    let simulated: SimulatedMedium

    init(size: Int) {
        self.simulated = SimulatedMedium(size: size)
    }

    var baseAddress: UnsafeMutableRawPointer { self.simulated.baseAddress }
    var size: Int { self.simulated.size }
    var granularity: StoreGranularity { .page }
    var numaNode: Int? { self.simulated.numaNode }
    func persist(_ range: Range<Int>) { self.simulated.persist(range) }
    func flush(_ range: Range<Int>) { self.simulated.flush(range) }
    func drain() { self.simulated.drain() }
    func copy(toOffset offset: Int, from source: UnsafeRawBufferPointer, flags: MemoryCopyFlags) {
        self.simulated.copy(toOffset: offset, from: source, flags: flags)
    }
    func fill(_ range: Range<Int>, with value: UInt8, flags: MemoryCopyFlags) {
        self.simulated.fill(range, with: value, flags: flags)
    }
    func deepFlush(_ range: Range<Int>) throws(PMemStreamError) { try self.simulated.deepFlush(range) }
}
