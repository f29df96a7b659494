#ifndef PMEMSTREAM_MAPPING_PROBE_H
#define PMEMSTREAM_MAPPING_PROBE_H

/// How many `mmap` calls with `MAP_FIXED` have failed in this process so far, or -1 when the probe is not
/// built in (under ThreadSanitizer, which intercepts `mmap` itself).
///
/// A failed `MAP_FIXED` mapping of a file may have unmapped its address range before it failed, leaving a
/// hole that another thread's next mapping can take.
long pmemstream_failed_fixed_mappings(void);

#endif
