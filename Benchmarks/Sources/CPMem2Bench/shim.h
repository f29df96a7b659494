#ifndef PMEMSTREAM_BENCH_CPMEM2_SHIM_H
#define PMEMSTREAM_BENCH_CPMEM2_SHIM_H
/* libpmem2 for the ceiling and memcpy engines; the library's own CPMem2 module is internal to it. */
#include <libpmem2.h>
#endif
