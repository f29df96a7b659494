#ifndef PMEMSTREAM_BENCH_SIGNALS_H
#define PMEMSTREAM_BENCH_SIGNALS_H

/* Records `path` (at most PATH_MAX - 1 bytes; up to four paths in all) to be deleted when SIGINT, SIGTERM,
 * SIGHUP or SIGQUIT ends the process, and installs the handler that does it: it unlinks every path recorded, then ends the
 * process by the same signal with its default action, so that a shell reports 128 + the signal's number.
 * The handler makes only async-signal-safe calls, whatever the other threads are doing. A signal the
 * process inherited as ignored (a background job of a shell without job control ignores SIGINT) stays
 * ignored. Call it from one thread at a time. Returns 0, or -1 with errno set: ENAMETOOLONG, ENOBUFS when
 * four paths are recorded already, or the error of sigaction. */
int pmemstream_bench_remove_on_interrupt(const char *path);

#endif
