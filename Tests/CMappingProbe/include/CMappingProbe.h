#ifndef PMEMSTREAM_MAPPING_PROBE_H
#define PMEMSTREAM_MAPPING_PROBE_H

#include <stddef.h>

/// Whether the probe is built in: not under ThreadSanitizer or AddressSanitizer, which intercept `mmap`
/// and `msync` themselves.
int pmemstream_probe_enabled(void);

/// How many `mmap` calls this process has made so far through the probe.
long pmemstream_probe_mappings(void);

/// How many `mmap` calls with `MAP_FIXED` have failed in this process so far.
///
/// A failed `MAP_FIXED` mapping of a file may have unmapped its address range before it failed, leaving a
/// hole that another thread's next mapping can take.
long pmemstream_probe_failed_fixed_mappings(void);

/// How many `msync` calls the calling thread has made so far, and the arguments of its last one.
long pmemstream_probe_thread_syncs(void **address, size_t *length, int *flags);

#endif
