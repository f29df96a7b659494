#ifndef PMEMSTREAM_CPMEMSTREAMSTORES_H
#define PMEMSTREAM_CPMEMSTREAMSTORES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Whether pmemstream_copy_nontemporal may be called: x86-64 (SSE2 is part of it). Always false elsewhere. */
bool pmemstream_nontemporal_stores_available(void);

/* Copies `length` bytes from `source` to `destination` with non-temporal stores only, and no flush: the
 * bytes bypass the caches and are written back on their own; an `sfence` (a libpmem2 drain) waits for
 * them. `destination` must be 8-byte aligned and `length` a multiple of 8, so that every store is a whole,
 * aligned 8- or 32-byte `movnti` or `vmovntdq` and no byte beside the range is touched; `source` may
 * have any alignment and must not overlap the destination (a debug build asserts the alignment and the
 * length). Call it only when pmemstream_nontemporal_stores_available() is true; elsewhere it aborts. */
void pmemstream_copy_nontemporal(void *destination, const void *source, size_t length);

/* Whether the CPU is an AMD one, whose non-temporal stores are the faster way to write even a few words into
 * a cache line that stays partly written; on others (Intel's) cached stores and a write-back of the line are
 * (Docs/Performance.md, nineteenth pass). Asked of the CPU once, when the program loads; false off x86-64. */
bool pmemstream_cpu_is_amd(void);

/* Tells the CPU that the caller is spinning, waiting for another thread (`pause` on x86-64): the core
 * slows the loop down and gives its resources to the other hardware thread. A no-op elsewhere. */
static inline void pmemstream_spin_pause(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

#if defined(__x86_64__)
/* One 8-byte `movnti` of the word at `source` to `destination` (8-byte aligned); `source` may have any
 * alignment: the load goes through memcpy, which compiles to a plain load. */
static inline void pmemstream_store_word_nontemporal(void *destination, const void *source) {
    long long word;
    memcpy(&word, source, sizeof word);
    _mm_stream_si64((long long *)destination, word);
}
#endif

#endif
