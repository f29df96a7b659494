import Testing

@testable import PMemStream

@Suite("Spinning before sleeping")
struct SpinBackoffTests {
    @Test("a spin gives up once it has paused its budget, trying less often the longer it waits")
    func givesUpAfterItsBudget() {
        var backoff = SpinBackoff()
        var tries = 0
        // Bounded, so that a spin that never gives up fails the test rather than hanging it.
        while tries <= SpinBackoff.spinPauses, backoff.pause() {
            tries += 1
        }
        // The gaps double from the first up to the widest: fewer tries than at the first gap throughout,
        // more than at the widest.
        #expect(tries > SpinBackoff.spinPauses / SpinBackoff.maximumPauses)
        #expect(tries < SpinBackoff.spinPauses / SpinBackoff.initialPauses)
        let spinsAgain = backoff.pause()
        #expect(!spinsAgain, "a spin that gave up spins again")
    }
}
