#define _GNU_SOURCE
#include "CPMemStreamCRC.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

/* Asks the CPU, through the compiler's cached CPUID, whether it has SSE4.2. */
bool pmemstream_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

/* Folds the buffer into the register 8 bytes at a time, then a 4-byte and a byte-by-byte tail. Unaligned
 * loads go through memcpy, which compiles to a plain load. */
__attribute__((target("sse4.2"))) uint32_t pmemstream_crc32c_hardware(const void *bytes, size_t length,
                                                                       uint32_t crc) {
    const unsigned char *next = bytes;
    uint64_t wide = crc;
    for (; length >= 8; length -= 8, next += 8) {
        uint64_t word;
        memcpy(&word, next, sizeof word);
        wide = _mm_crc32_u64(wide, word);
    }
    uint32_t narrow = (uint32_t)wide;
    if (length >= 4) {
        uint32_t word;
        memcpy(&word, next, sizeof word);
        narrow = _mm_crc32_u32(narrow, word);
        length -= 4;
        next += 4;
    }
    for (; length > 0; length--, next++) {
        narrow = _mm_crc32_u8(narrow, *next);
    }
    return narrow;
}

#else

/* No CRC32C instruction this code knows of on this architecture. */
bool pmemstream_crc32c_hardware_available(void) { return false; }

/* Never called here (the availability check is false); aborts rather than return a wrong checksum. */
uint32_t pmemstream_crc32c_hardware(const void *bytes, size_t length, uint32_t crc) {
    (void)bytes;
    (void)length;
    (void)crc;
    abort();
}

#endif
