// Wraps mmap and msync for the integration tests: the test executable's definitions take the place of the
// C library's, for its own calls and for those of the shared libraries it loads (libpmem2). The wrappers
// make the system calls themselves, so they never depend on the dynamic linker or an allocator.
#define _GNU_SOURCE
#include "CMappingProbe.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define PMEMSTREAM_PROBE_DISABLED 1
#endif
#endif

#ifdef PMEMSTREAM_PROBE_DISABLED

int pmemstream_probe_enabled(void) { return 0; }
long pmemstream_probe_mappings(void) { return 0; }
long pmemstream_probe_failed_fixed_mappings(void) { return 0; }
long pmemstream_probe_thread_syncs(void **address, size_t *length, int *flags) { return 0; }

#else

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_long mappings;
static atomic_long failed_fixed_mappings;
static _Thread_local long thread_syncs;
static _Thread_local void *last_sync_address;
static _Thread_local size_t last_sync_length;
static _Thread_local int last_sync_flags;

void *mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    atomic_fetch_add(&mappings, 1);
    long result = syscall(SYS_mmap, address, length, protection, flags, fd, offset);
    if (result == -1 && (flags & MAP_FIXED) != 0) {
        atomic_fetch_add(&failed_fixed_mappings, 1);
    }
    return result == -1 ? MAP_FAILED : (void *)result;
}

int msync(void *address, size_t length, int flags) {
    thread_syncs += 1;
    last_sync_address = address;
    last_sync_length = length;
    last_sync_flags = flags;
    return (int)syscall(SYS_msync, address, length, flags);
}

int pmemstream_probe_enabled(void) { return 1; }
long pmemstream_probe_mappings(void) { return atomic_load(&mappings); }
long pmemstream_probe_failed_fixed_mappings(void) { return atomic_load(&failed_fixed_mappings); }

long pmemstream_probe_thread_syncs(void **address, size_t *length, int *flags) {
    *address = last_sync_address;
    *length = last_sync_length;
    *flags = last_sync_flags;
    return thread_syncs;
}

#endif
