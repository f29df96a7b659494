import Synchronization

/// Lets the threads of one measurement start their timed loops together.
///
/// It spins instead of sleeping, so that no thread starts late by a wake-up; the benchmark therefore
/// never runs more threads than the machine has cores (see ``BenchmarkCommand/validate()``). Single use.
final class SpinBarrier: Sendable {
    private let parties: Int
    private let arrived = Atomic<Int>(0)

    /// A barrier for `parties` threads.
    init(parties: Int) {
        self.parties = parties
    }

    /// Returns once all parties have called it.
    func arriveAndWait() {
        self.arrived.add(1, ordering: .acquiringAndReleasing)
        while self.arrived.load(ordering: .acquiring) < self.parties {}
    }
}
