import Foundation
import Testing

@testable import PMemStream

/// The lock of a region's appends (``AdaptiveLock``) taken from several threads at once: while spinning
/// for it, and after sleeping on it.
@Suite("The appends' lock under threads", .serialized, .timeLimit(.minutes(2)))
struct AdaptiveLockStressTests {
    /// A counter that is not atomic: only the lock keeps increments from being lost.
    private final class Counter: @unchecked Sendable {
        var value = 0
        var inside = 0
        var overlaps = 0
    }

    @Test("threads that spin for the lock never hold it at once and lose no update")
    func mutualExclusion() {
        let lock = SharedLock(AdaptiveLock())
        let counter = Counter()
        let threads = 4
        let increments = 50_000
        let done = DispatchGroup()
        for _ in 0..<threads {
            done.enter()
            Thread {
                for _ in 0..<increments {
                    lock.value.withLock {
                        counter.inside += 1
                        if counter.inside != 1 { counter.overlaps += 1 }
                        counter.value += 1
                        counter.inside -= 1
                    }
                }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(counter.overlaps == 0)
        #expect(counter.value == threads * increments)
    }

    @Test("a thread that finds the lock held for longer than it spins sleeps, and takes it once it is free")
    func sleepsAfterSpinning() {
        let lock = SharedLock(AdaptiveLock())
        let counter = Counter()
        let held = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        done.enter()
        Thread {
            lock.value.withLock {
                held.signal()
                // Far beyond the spin (about 20 – 40 µs): the other thread must sleep on the mutex.
                usleep(200_000)
                counter.value = 1
            }
            done.leave()
        }.start()
        held.wait()
        let seen = lock.value.withLock { counter.value }
        #expect(seen == 1, "the lock was taken while its holder still held it")
        done.wait()
    }
}

/// Holds a non-copyable value in a class, so that threads can share it.
private final class SharedLock: Sendable {
    let value: AdaptiveLock

    init(_ value: consuming AdaptiveLock) {
        self.value = value
    }
}
