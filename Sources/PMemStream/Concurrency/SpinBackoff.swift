import CPMemStreamStores

/// How a thread waits for something another thread is about to finish, before it sleeps or suspends:
/// it spins, trying again after each pause, and the pauses between tries double.
///
/// A thread that slept would be woken by the kernel, and a task that suspended would be resumed through the
/// executor; on the virtual machines PMemStream is measured on either takes 10 – 15 µs (the virtual CPU halts
/// while it is idle), far longer than the waits this serves: for ``AdaptiveLock`` another append, for
/// ``GroupCommit`` a round under way. So a thread spins first, for a few times as long as a wake takes
/// (``spinPauses``). A try is often a read-modify-write of a line the other thread needs back to finish:
/// the longer a thread has waited, the less often it tries.
struct SpinBackoff {
    /// How long a thread spins in all, in `pause`s: about 40 – 80 µs with a `pause` of 20 – 40 ns.
    static let spinPauses = 2048
    /// The pauses before a thread's second try; each try that fails doubles them, up to ``maximumPauses``.
    /// On an Intel Xeon (family 6, model 207), two tasks appending to one region kept 0.85× – 0.89× of one
    /// task's throughput with synchronous 8 and 64 B appends so, against 0.58× – 0.70× with tries 8 pauses
    /// apart (Docs/Performance.md, nineteenth pass); on an AMD EPYC (family 26), 0.86× – 1.01× against
    /// 0.58× – 0.88× (twenty-first pass).
    static let initialPauses = 4
    /// The most pauses between two tries.
    static let maximumPauses = 64

    private var pauses = Self.initialPauses
    private var spun = 0

    /// Spins before the next try.
    ///
    /// - Returns: `false`, without spinning, once the thread has spun ``spinPauses`` in all: then it should
    ///   sleep or suspend instead.
    @inline(__always)
    mutating func pause() -> Bool {
        guard self.spun < Self.spinPauses else { return false }
        for _ in 0..<self.pauses {
            pmemstream_spin_pause()
        }
        self.spun += self.pauses
        self.pauses = min(self.pauses * 2, Self.maximumPauses)
        return true
    }
}
