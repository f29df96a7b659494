#ifndef PMEMSTREAM_CISAL_SHIM_H
#define PMEMSTREAM_CISAL_SHIM_H
#ifdef __linux__
#include <isa-l/crc.h>
#endif
#endif
