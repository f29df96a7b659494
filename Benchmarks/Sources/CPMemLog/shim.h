#ifndef PMEMSTREAM_BENCH_CPMEMLOG_SHIM_H
#define PMEMSTREAM_BENCH_CPMEMLOG_SHIM_H
/* libpmemlog, the C predecessor the benchmark compares against. Only the benchmarks link it. */
#include <libpmemlog.h>
#endif
