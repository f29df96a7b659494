// Wraps mmap for the integration tests: the test executable's definition takes the place of the C
// library's, for its own calls and for those of the shared libraries it loads (libpmem2), and counts the
// calls with MAP_FIXED that fail.
#define _GNU_SOURCE
#include "CMappingProbe.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PMEMSTREAM_PROBE_DISABLED 1
#endif
#endif

#ifdef PMEMSTREAM_PROBE_DISABLED

long pmemstream_failed_fixed_mappings(void) { return -1; }

#else

#include <dlfcn.h>
#include <stdatomic.h>
#include <sys/mman.h>

static atomic_long failed_fixed_mappings;

void *mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    static void *(*_Atomic next)(void *, size_t, int, int, int, off_t);
    void *(*call)(void *, size_t, int, int, int, off_t) = atomic_load(&next);
    if (call == NULL) {
        call = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
        atomic_store(&next, call);
    }
    void *result = call(address, length, protection, flags, fd, offset);
    if (result == MAP_FAILED && (flags & MAP_FIXED) != 0) {
        atomic_fetch_add(&failed_fixed_mappings, 1);
    }
    return result;
}

long pmemstream_failed_fixed_mappings(void) { return atomic_load(&failed_fixed_mappings); }

#endif
