#include "CPMemStreamBenchSignals.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

enum { path_capacity = 4 };

/* The signals that end a run by default and that a user or a terminal sends: Ctrl-C, `kill`, a closed
 * terminal, Ctrl-\. */
static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* The paths to delete. A path is written before the count that covers it is published (release), and the
 * handler reads the count first (acquire), so it reads only whole paths. */
static char recorded_paths[path_capacity][PATH_MAX];
static atomic_int recorded_count;

/* Deletes the recorded files and ends the process by `signal_number`: SA_RESETHAND has restored the default
 * action, and the raised signal, blocked while the handler runs, is delivered when it returns. */
static void remove_recorded_files(int signal_number) {
    int count = atomic_load_explicit(&recorded_count, memory_order_acquire);
    for (int index = 0; index < count; index++) {
        unlink(recorded_paths[index]);
    }
    raise(signal_number);
}

/* Installs the handler for `signal_number` unless the process inherited the signal as ignored. */
static int handle(int signal_number) {
    struct sigaction current;
    if (sigaction(signal_number, NULL, &current) != 0) {
        return -1;
    }
    if (current.sa_handler == SIG_IGN) {
        return 0;
    }
    struct sigaction action = {.sa_handler = remove_recorded_files, .sa_flags = SA_RESETHAND};
    sigemptyset(&action.sa_mask);
    for (size_t index = 0; index < sizeof(handled_signals) / sizeof(handled_signals[0]); index++) {
        sigaddset(&action.sa_mask, handled_signals[index]);
    }
    return sigaction(signal_number, &action, NULL);
}

int pmemstream_bench_remove_on_interrupt(const char *path) {
    int count = atomic_load_explicit(&recorded_count, memory_order_relaxed);
    size_t length = strlen(path);
    if (length >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (count == path_capacity) {
        errno = ENOBUFS;
        return -1;
    }
    memcpy(recorded_paths[count], path, length + 1);
    atomic_store_explicit(&recorded_count, count + 1, memory_order_release);
    for (size_t index = 0; index < sizeof(handled_signals) / sizeof(handled_signals[0]); index++) {
        if (handle(handled_signals[index]) != 0) {
            return -1;
        }
    }
    return 0;
}
