#ifndef PMEMSTREAM_CPMEM2_SHIM_H
#define PMEMSTREAM_CPMEM2_SHIM_H
#ifdef __linux__
#include <libpmem2.h>
#endif
#endif
