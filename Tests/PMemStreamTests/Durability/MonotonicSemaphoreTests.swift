import Dispatch
import Testing

@testable import PMemStream

@Suite("The persist workers' semaphore")
struct MonotonicSemaphoreTests {
    @Test("a wait takes a signal given before it or during it, one per signal, and otherwise times out")
    func signalsAndTimeouts() async {
        let semaphore = MonotonicSemaphore()
        semaphore.signal()
        semaphore.signal()
        #expect(semaphore.wait(timeout: .seconds(10)))
        #expect(semaphore.wait(timeout: .seconds(10)))

        let clock = ContinuousClock()
        let start = clock.now
        #expect(!semaphore.wait(timeout: .milliseconds(30)))
        #expect(clock.now - start >= .milliseconds(30))
        #expect(!semaphore.wait(timeout: .zero))

        // Threads of their own: a wait blocks its thread, and the tasks' pool may have no other.
        let taken = await withCheckedContinuation { continuation in
            DispatchQueue(label: "PMemStreamTests.semaphoreWaiter").async {
                continuation.resume(returning: semaphore.wait(timeout: .seconds(60)))
            }
            DispatchQueue(label: "PMemStreamTests.semaphoreSignaller").asyncAfter(deadline: .now() + .milliseconds(10))
            {
                semaphore.signal()
            }
        }
        #expect(taken)
    }
}
