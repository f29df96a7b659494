#if os(Linux)
    import Glibc
#endif

/// A count of work done, shown on standard error while a long command runs: on a terminal by default,
/// or wherever standard error goes with `--progress`. One line, rewritten at most five times a second,
/// then left with the final count.
struct ProgressReport {
    private let verb: String
    private let isEnabled: Bool
    private var count = 0
    private var lastShown = ContinuousClock.now

    /// - Parameters:
    ///   - verb: What is counted, as in "appended 1200 entries".
    ///   - forced: Show progress even when standard error is not a terminal.
    init(verb: String, forced: Bool) {
        self.verb = verb
        self.isEnabled = forced || isatty(2) == 1
    }

    /// Counts one more entry, and shows the count if the last showing was long enough ago.
    mutating func advance() {
        self.count += 1
        guard self.isEnabled, ContinuousClock.now - self.lastShown >= .milliseconds(200) else { return }
        self.show()
    }

    /// Shows the final count and ends the line.
    mutating func finish() {
        guard self.isEnabled else { return }
        self.show()
        FileStream.standardError.write("\n")
    }

    private mutating func show() {
        FileStream.standardError.write("\r\(self.verb) \(self.count) \(self.count == 1 ? "entry" : "entries")")
        self.lastShown = .now
    }
}
