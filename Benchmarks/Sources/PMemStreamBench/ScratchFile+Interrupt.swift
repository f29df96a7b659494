import CPMemStreamBenchSignals

extension ScratchFile {
    /// Deletes `path` if SIGINT, SIGTERM, SIGHUP or SIGQUIT (Ctrl-C, `kill`, a closed terminal, Ctrl-\) ends
    /// the benchmark, which then ends by that signal as before: a shell reports 130, 143, 129 or 131.
    ///
    /// A C signal handler does it with async-signal-safe calls only, so it works while the threads are busy.
    /// A signal the process inherited as ignored stays ignored.
    /// - Throws: ``BenchmarkError`` when the path cannot be recorded or the handler cannot be installed.
    static func removeOnInterrupt(_ path: String) throws {
        guard pmemstream_bench_remove_on_interrupt(path) == 0 else {
            throw BenchmarkError.system("recording for deletion on SIGINT, SIGTERM, SIGHUP and SIGQUIT", path: path)
        }
    }
}
