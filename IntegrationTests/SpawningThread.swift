import Dispatch
import Glibc
import Synchronization

/// A thread that spawns short-lived child processes (`/bin/true`), one after another, until it is stopped.
///
/// A child being spawned holds a copy of every descriptor of the test process until it runs its program:
/// tests use this to check that nothing PMemStream releases stays held by such a copy.
final class SpawningThread: Sendable {
    private let stopping = Atomic(false)
    private let spawned = Atomic(0)
    private let finished = DispatchSemaphore(value: 0)
    private let started = DispatchSemaphore(value: 0)

    /// Starts spawning, and returns once the first child has run.
    init() {
        // A queue of its own gets a thread of its own, even while every thread of the shared pool is busy.
        DispatchQueue(label: "PMemStreamIntegrationTests.spawner").async {
            let program = strdup("/bin/true")
            defer { free(program) }
            var arguments: [UnsafeMutablePointer<CChar>?] = [program, nil]
            while !self.stopping.load(ordering: .relaxed) {
                var pid = pid_t()
                guard posix_spawn(&pid, "/bin/true", nil, nil, &arguments, environ) == 0 else { break }
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                if self.spawned.add(1, ordering: .relaxed).newValue == 1 {
                    self.started.signal()
                }
            }
            if self.spawned.load(ordering: .relaxed) == 0 {
                self.started.signal()
            }
            self.finished.signal()
        }
        self.started.wait()
    }

    /// How many children have run so far.
    var spawnedCount: Int {
        self.spawned.load(ordering: .relaxed)
    }

    /// Stops spawning, waits for the last child, and returns how many were spawned. Idempotent.
    @discardableResult
    func stop() -> Int {
        guard !self.stopping.exchange(true, ordering: .relaxed) else {
            return self.spawned.load(ordering: .relaxed)
        }
        self.finished.wait()
        return self.spawned.load(ordering: .relaxed)
    }

    deinit {
        self.stop()
    }
}
