import Glibc

/// The progress line on standard error: rewritten in place on a terminal, one line per cell otherwise.
struct Progress {
    private let total: Int
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var done = 0
    private var lastCell = ""
    private let started = MonotonicClock.now()

    /// A progress line for `total` timed runs.
    init(total: Int) {
        self.total = total
    }

    /// Reports that the next run is `engine` in `cell`, iteration `iteration` (from 1) of `iterations`.
    mutating func starting(cell: String, engine: EngineKind, iteration: Int, of iterations: Int) {
        self.done += 1
        let seconds = Double(MonotonicClock.now() - self.started) / 1e9
        let counter = "[\(self.done)/\(self.total) \(Int(seconds)) s]"
        if self.isTerminal {
            Self.write("\r\u{1B}[K\(counter) \(cell) · iteration \(iteration)/\(iterations) · \(engine.rawValue)")
        } else if cell != self.lastCell {
            Self.write("\(counter) \(cell)\n")
        }
        self.lastCell = cell
    }

    /// Ends the progress line.
    func finish() {
        let seconds = Double(MonotonicClock.now() - self.started) / 1e9
        Self.write("\(self.isTerminal ? "\r\u{1B}[K" : "")\(self.total) runs in \(Int(seconds)) s\n")
    }

    private static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }
}
