import PMemStream
import PMemStreamTestKit
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A simulated medium whose drains can be held: a persist worker that drains while drains are held stops
/// there until they are released, so a test can keep group commit from finishing a round.
///
/// Only a persist worker, which has a thread of its own, may reach a held drain. A task that drains meanwhile
/// (a synchronous append, a close, a free that runs a round) spins on a thread of the tasks' pool until the
/// test releases the drains, and with a pool of one thread the test never gets to.
final class GatedMedium: PersistentMedium {
    let simulated: SimulatedMedium
    private let closed = Atomic(false)
    private let waitingDrains = Atomic(0)

    init(size: Int) {
        self.simulated = SimulatedMedium(size: size)
    }

    /// Holds every drain from now on.
    func holdDrains() {
        self.closed.store(true, ordering: .releasing)
    }

    /// Lets every held drain, and every later one, go through.
    func releaseDrains() {
        self.closed.store(false, ordering: .releasing)
    }

    /// Whether a drain is held at the gate.
    var isHoldingDrain: Bool {
        self.waitingDrains.load(ordering: .acquiring) > 0
    }

    var baseAddress: UnsafeMutableRawPointer { self.simulated.baseAddress }
    var size: Int { self.simulated.size }
    var granularity: StoreGranularity { self.simulated.granularity }
    var numaNode: Int? { self.simulated.numaNode }

    func persist(_ range: Range<Int>) {
        self.simulated.flush(range)
        self.drain()
    }

    func flush(_ range: Range<Int>) {
        self.simulated.flush(range)
    }

    /// Holds the calling thread while drains are held, then drains.
    func drain() {
        if self.closed.load(ordering: .acquiring) {
            self.waitingDrains.add(1, ordering: .releasing)
            while self.closed.load(ordering: .acquiring) {
                usleep(100)
            }
            self.waitingDrains.subtract(1, ordering: .releasing)
        }
        self.simulated.drain()
    }

    func copy(toOffset offset: Int, from source: UnsafeRawBufferPointer, flags: MemoryCopyFlags) {
        self.simulated.copy(toOffset: offset, from: source, flags: flags.union(.noDrain))
        if !flags.contains(.noDrain), !flags.contains(.noFlush) {
            self.drain()
        }
    }

    func fill(_ range: Range<Int>, with value: UInt8, flags: MemoryCopyFlags) {
        self.simulated.fill(range, with: value, flags: flags.union(.noDrain))
        if !flags.contains(.noDrain), !flags.contains(.noFlush) {
            self.drain()
        }
    }

    func deepFlush(_ range: Range<Int>) throws(PMemStreamError) {
        try self.simulated.deepFlush(range)
    }
}
