#include "CPMemStreamStores.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

bool pmemstream_nontemporal_stores_available(void) { return true; }

/* Whether the CPU has AVX, asked once when the program loads: its 32-byte `vmovntdq` copies long ranges;
 * without it, every store is an 8-byte one. And whether it is an AMD CPU (see the header). */
static bool wide_stores_available;
static bool cpu_is_amd;

__attribute__((constructor)) static void detect_cpu(void) {
    __builtin_cpu_init();
    wide_stores_available = __builtin_cpu_supports("avx");
    cpu_is_amd = __builtin_cpu_is("amd");
}

bool pmemstream_cpu_is_amd(void) { return cpu_is_amd; }

/* Below this length the copy is made of 8-byte stores only. Measured on `/dev/shm` (AMD EPYC), a C loop
 * writing each entry's data, then its header, then one `sfence` and an atomic operation: 8-byte stores and
 * wider ones took the same time at 256 bytes (113 – 119 ns); 32-byte stores took 138 – 147 ns at 1 KiB
 * against 145 – 158 for 16-byte ones and 195 – 209 for 8-byte ones, 254 – 257 at 4 KiB against 275 – 282
 * and 492 – 506. */
enum { wide_stores_from = 256 };

/* 8-byte stores up to a 32-byte boundary, 32-byte stores, then 8-byte stores for the rest. */
__attribute__((target("avx"))) static void copy_32_bytes_wide(char *to, const char *from, size_t length) {
    for (; ((uintptr_t)to & 31) != 0 && length >= 8; length -= 8, to += 8, from += 8) {
        pmemstream_store_word_nontemporal(to, from);
    }
    for (; length >= 64; length -= 64, to += 64, from += 64) {
        __m256i first = _mm256_loadu_si256((const __m256i *)from);
        __m256i second = _mm256_loadu_si256((const __m256i *)(from + 32));
        _mm256_stream_si256((__m256i *)to, first);
        _mm256_stream_si256((__m256i *)(to + 32), second);
    }
    for (; length >= 8; length -= 8, to += 8, from += 8) {
        pmemstream_store_word_nontemporal(to, from);
    }
}

void pmemstream_copy_nontemporal(void *destination, const void *source, size_t length) {
    assert(((uintptr_t)destination & 7) == 0 && (length & 7) == 0 && "whole, aligned words only");
    char *to = destination;
    const char *from = source;
    if (length >= wide_stores_from && wide_stores_available) {
        copy_32_bytes_wide(to, from, length);
        return;
    }
    for (; length >= 8; length -= 8, to += 8, from += 8) {
        pmemstream_store_word_nontemporal(to, from);
    }
}

#else

bool pmemstream_nontemporal_stores_available(void) { return false; }

bool pmemstream_cpu_is_amd(void) { return false; }

void pmemstream_copy_nontemporal(void *destination, const void *source, size_t length) {
    (void)destination;
    (void)source;
    (void)length;
    abort();
}

#endif
