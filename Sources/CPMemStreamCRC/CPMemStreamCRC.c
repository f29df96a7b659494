#define _GNU_SOURCE
#include "CPMemStreamCRC.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

/* Whether the CPU has SSE4.2, asked once when the program loads: the answer is read on every entry's
 * checksum. */
static bool hardware_available;

__attribute__((constructor)) static void detect_hardware(void) {
    __builtin_cpu_init();
    hardware_available = __builtin_cpu_supports("sse4.2");
}

bool pmemstream_crc32c_hardware_available(void) { return hardware_available; }

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

__attribute__((target("sse4.2"))) uint32_t pmemstream_crc32c_hardware_words_then_bytes(
    uint64_t first, uint64_t second, uint64_t third, const void *bytes, size_t length, uint32_t crc) {
    uint64_t wide = _mm_crc32_u64(crc, first);
    wide = _mm_crc32_u64(wide, second);
    wide = _mm_crc32_u64(wide, third);
    return pmemstream_crc32c_hardware(bytes, length, (uint32_t)wide);
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

/* Never called here, as pmemstream_crc32c_hardware. */
uint32_t pmemstream_crc32c_hardware_words_then_bytes(uint64_t first, uint64_t second, uint64_t third,
                                                     const void *bytes, size_t length, uint32_t crc) {
    (void)first;
    (void)second;
    (void)third;
    return pmemstream_crc32c_hardware(bytes, length, crc);
}

#endif
