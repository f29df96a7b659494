@preconcurrency import Glibc

/// Writes a report where the person running the benchmark asked for it, and fails when any of it was lost
/// (a full disk, say), so that `make bench` never reports success over a truncated result.
enum ReportOutput {
    /// Writes `text` to standard output and flushes it.
    ///
    /// - Throws: ``BenchmarkError`` when standard output refused some of it.
    static func print(_ text: String) throws {
        try Self.write(text, to: stdout, name: "standard output")
    }

    /// Creates or truncates the file at `path` and writes `text` into it.
    ///
    /// - Throws: ``BenchmarkError`` when the file cannot be opened, written or closed.
    static func write(_ text: String, toFileAt path: String) throws {
        guard let file = fopen(path, "w") else { throw BenchmarkError.system("fopen", path: path) }
        do {
            try Self.write(text, to: file, name: path)
        } catch {
            fclose(file)
            throw error
        }
        guard fclose(file) == 0 else { throw BenchmarkError.system("fclose", path: path) }
    }

    private static func write(_ text: String, to file: UnsafeMutablePointer<FILE>, name: String) throws {
        guard fputs(text, file) != EOF, fflush(file) == 0, ferror(file) == 0 else {
            throw BenchmarkError.system("write", path: name)
        }
    }
}
