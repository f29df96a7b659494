import Testing

@testable import PMemStream

@Suite("The persist workers' semaphore")
struct MonotonicSemaphoreTests {
    @Test("a wait takes a signal given before it or during it, one per signal, and otherwise times out")
    func signalsAndTimeouts() async throws {
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

        let waiter = Task.detached { semaphore.wait(timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(10))
        semaphore.signal()
        #expect(await waiter.value)
    }
}
