#ifndef PMEMSTREAM_CNUMA_SHIM_H
#define PMEMSTREAM_CNUMA_SHIM_H
#ifdef __linux__
#include <numa.h>
#endif
#endif
