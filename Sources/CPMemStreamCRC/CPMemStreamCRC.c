#define _GNU_SOURCE
#include "CPMemStreamCRC.h"
#include "CPMemStreamStores.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

/* Whether the CPU has SSE4.2, and whether it can fold with 256-bit carry-less multiplications but has no
 * AVX-512 (where ISA-L folds with 512-bit registers itself), asked once when the program loads: the answers
 * are read on every entry's checksum. */
bool pmemstream_crc32c_hardware_present;
static bool folding_available;
/* Whether the CPU has the 64-bit carry-less multiplication (PCLMULQDQ) as well, with which
 * pmemstream_crc32c_hardware joins three streams of `crc32` instructions (set after word_shifts). */
bool pmemstream_crc32c_streams_present;
/* Whether the CPU has AVX, and so `vzeroupper`. */
static bool vector_upper_halves_available;

/* The most words each of the three streams of pmemstream_crc32c_hardware takes in one step, and the
 * fewest bytes it splits into three streams. Alone, a checksum of 72 bytes and more is faster in three
 * streams; but in a loop over entries, the CPU overlaps one stream's checksum with the work around it, and
 * below 256 bytes three streams were no faster (batches of 200-byte entries 80 ns per entry against 81,
 * reading 128-byte entries back 41 ns against 47, on a Zen 4 CPU). */
enum { stream_words_most = 32, streams_from = 256 };

/* word_shifts[w] moves a CRC32C register 8 × w bytes further on, as if that many zero bytes followed it:
 * the register times x^(64w) mod P, P being the polynomial 0x1EDC6F41. A carry-less product of the
 * register and a constant is a 64-bit message whose `crc32` from zero is that product times x^32 mod P,
 * and the product of two reflected values comes out shifted by one: so the constant is x^(64w - 33) mod P,
 * bit-reflected, as the register is. Computed when the program loads. */
static uint32_t word_shifts[2 * stream_words_most + 1];

static uint32_t reflect_32(uint32_t value) {
    uint32_t reflected = 0;
    for (int bit = 0; bit < 32; bit++) {
        reflected |= ((value >> bit) & 1u) << (31 - bit);
    }
    return reflected;
}

/* x^31, then each next constant 64 multiplications by x further on, each reduced modulo P. */
static void compute_word_shifts(void) {
    uint32_t remainder = 1u << 31;
    for (size_t words = 1; words <= 2 * stream_words_most; words++) {
        word_shifts[words] = reflect_32(remainder);
        for (int step = 0; step < 64; step++) {
            uint32_t carry = remainder >> 31;
            remainder <<= 1;
            if (carry) {
                remainder ^= 0x1EDC6F41u;
            }
        }
    }
}

__attribute__((constructor)) static void detect_hardware(void) {
    __builtin_cpu_init();
    pmemstream_crc32c_hardware_present = __builtin_cpu_supports("sse4.2");
    vector_upper_halves_available = __builtin_cpu_supports("avx");
    folding_available = pmemstream_crc32c_hardware_present && __builtin_cpu_supports("avx2") &&
                        __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("vpclmulqdq") &&
                        !__builtin_cpu_supports("avx512f");
    compute_word_shifts();
    pmemstream_crc32c_streams_present = pmemstream_crc32c_hardware_present && __builtin_cpu_supports("pclmul");
}

bool pmemstream_crc32c_folding_available(void) { return folding_available; }

__attribute__((target("avx"))) static void zero_upper_halves(void) { _mm256_zeroupper(); }

void pmemstream_clear_vector_upper_halves(void) {
    if (vector_upper_halves_available) {
        zero_upper_halves();
    }
}

/* XINUSE, the XSAVE components in use, is XGETBV with ECX = 1 where CPUID leaf 0xD, subleaf 1 says so in
 * EAX bit 2. Its bits 2 and 6 are the upper halves of ymm0 – 15 and of zmm0 – 15, the ones SSE instructions
 * pay for and `vzeroupper` clears; zmm16 – 31 (bit 7) are neither. */
__attribute__((target("xsave"))) int pmemstream_vector_upper_halves_in_use(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__builtin_cpu_supports("avx") || !__get_cpuid_count(0xD, 1, &eax, &ebx, &ecx, &edx) ||
        (eax & (1u << 2)) == 0) {
        return -1;
    }
    return (_xgetbv(1) & ((1u << 2) | (1u << 6))) != 0;
}

/* The register `crc` moved `words` words further on (see word_shifts). */
__attribute__((target("sse4.2,pclmul"))) static inline uint32_t shift_words(uint32_t crc, size_t words) {
    __m128i product =
        _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)crc), _mm_cvtsi32_si128((int)word_shifts[words]), 0);
    return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(product));
}

/* The register after the 3 × `words` words at `next`, from `crc`: three streams of `crc32` instructions over
 * the three thirds at once, the second and third from zero, each instruction's latency covering the other
 * two's; then the first moved over the other two thirds, the second over the last, and the three xored
 * (the CRC of a concatenation is the CRC of its first part moved over the rest, xored with the CRC of the
 * rest from zero). A chain of checksums of 256 bytes took 16.4 ns so on a Zen 4 CPU, against 34.2 in one
 * stream. */
__attribute__((target("sse4.2,pclmul"))) static uint32_t three_streams(const unsigned char *next, size_t words,
                                                                      uint32_t crc) {
    uint64_t first = crc, second = 0, third = 0;
    for (size_t index = 0; index < words; index++) {
        uint64_t word;
        memcpy(&word, next + 8 * index, sizeof word);
        first = _mm_crc32_u64(first, word);
        memcpy(&word, next + 8 * (words + index), sizeof word);
        second = _mm_crc32_u64(second, word);
        memcpy(&word, next + 8 * (2 * words + index), sizeof word);
        third = _mm_crc32_u64(third, word);
    }
    return shift_words((uint32_t)first, 2 * words) ^ shift_words((uint32_t)second, words) ^ (uint32_t)third;
}

/* Folds the buffer into the register 8 bytes at a time, then a 4-byte and a byte-by-byte tail. Unaligned
 * loads go through memcpy, which compiles to a plain load. */
__attribute__((target("sse4.2"))) static inline uint32_t one_stream(const unsigned char *next, size_t length,
                                                                   uint32_t crc) {
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

/* Folds the buffer into the register in three streams while at least streams_from bytes are left, then in
 * one. Out of line, so that shorter buffers pay nothing for it. */
__attribute__((target("sse4.2,pclmul"), noinline)) static uint32_t in_three_streams(const unsigned char *next,
                                                                                   size_t length, uint32_t crc) {
    while (length >= streams_from) {
        size_t words = length / 24 < stream_words_most ? length / 24 : stream_words_most;
        crc = three_streams(next, words, crc);
        next += 24 * words;
        length -= 24 * words;
    }
    return one_stream(next, length, crc);
}

__attribute__((target("sse4.2"))) uint32_t pmemstream_crc32c_hardware(const void *bytes, size_t length,
                                                                       uint32_t crc) {
    if (length >= streams_from && pmemstream_crc32c_streams_present) {
        return in_three_streams(bytes, length, crc);
    }
    return one_stream(bytes, length, crc);
}

__attribute__((target("sse4.2"))) uint32_t pmemstream_crc32c_hardware_words_then_bytes(
    uint64_t first, uint64_t second, uint64_t third, const void *bytes, size_t length, uint32_t crc) {
    uint64_t wide = _mm_crc32_u64(crc, first);
    wide = _mm_crc32_u64(wide, second);
    wide = _mm_crc32_u64(wide, third);
    return pmemstream_crc32c_hardware(bytes, length, (uint32_t)wide);
}

/* The folding constants. Folding a 128-bit piece of the message D bits further on multiplies its low
 * 64 bits (the earlier bytes) by x^(D+32) mod P and its high 64 bits by x^(D-32) mod P, P being the
 * CRC32C polynomial 0x1EDC6F41; each constant is that remainder bit-reflected, as the CRC is, and shifted
 * left by one, because a carry-less product of two reflected values comes out shifted right by one. Each
 * pair holds the constants for the low and the high half of a 128-bit lane. */
static const uint64_t fold_1024_bits[2] = {0x6992cea2, 0x0d3b6092}; /* four 256-bit registers further on */
static const uint64_t fold_256_bits[2] = {0x1384aa63a, 0x0ba4fc28e}; /* one 256-bit register further on */
static const uint64_t fold_128_bits[2] = {0x0f20c0dfe, 0x14cd00bd6}; /* one 128-bit lane further on */

/* `folded`'s two 128-bit lanes, each multiplied as above by `constants` and xored with `next`. */
__attribute__((target("avx2,vpclmulqdq"))) static inline __m256i fold_256(__m256i folded, __m256i constants,
                                                                          __m256i next) {
    __m256i low = _mm256_clmulepi64_epi128(folded, constants, 0x00);
    __m256i high = _mm256_clmulepi64_epi128(folded, constants, 0x11);
    return _mm256_xor_si256(_mm256_xor_si256(low, high), next);
}

/* fold_256 for one 128-bit lane. */
__attribute__((target("pclmul"))) static inline __m128i fold_128(__m128i folded, __m128i constants,
                                                                 __m128i next) {
    __m128i low = _mm_clmulepi64_si128(folded, constants, 0x00);
    __m128i high = _mm_clmulepi64_si128(folded, constants, 0x11);
    return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

/* How far ahead of the fold each step asks for the two cache lines it will read: with no prefetch, a
 * 64 KiB checksum of bytes out of the caches took 4 800 – 5 000 ns on a Zen 3 CPU, against ISA-L's
 * 4 200 – 4 300; asking 1 KiB ahead, 3 500 against 3 600 (and 16 KiB 910 against 1 120), and no slower in
 * the caches.
 * Nothing past the buffer's end is asked for: batches of 4 KiB entries, whose checksums read buffers in the
 * caches while their copies are written back, were about 10 % slower when it was. */
enum { prefetch_distance = 1024 };

/* Four 256-bit stores of `first` … `fourth` at `destination` (32-byte aligned), non-temporal. */
__attribute__((target("avx2"))) static inline void stream_128_bytes(unsigned char *destination, __m256i first,
                                                                    __m256i second, __m256i third,
                                                                    __m256i fourth) {
    _mm256_stream_si256((__m256i *)destination, first);
    _mm256_stream_si256((__m256i *)(destination + 32), second);
    _mm256_stream_si256((__m256i *)(destination + 64), third);
    _mm256_stream_si256((__m256i *)(destination + 96), fourth);
}

/* Four 256-bit accumulators take 128 bytes per step, each folded over the other three's bytes, so that
 * the multiplications of one step overlap; they are then folded into one, that one into 128 bits, and
 * the 128 bits reduced to 32 with the `crc32` instruction, which carries on over the last bytes. The
 * message is read once, front to back. `length` is at least 256.
 *
 * With a `destination` (32-byte aligned, `length` a multiple of 8), every piece the fold loads is also
 * stored there with non-temporal stores, from the registers it was loaded into: the copy and the checksum
 * read the bytes once, and the multiplications overlap the stores' write-back. Without one (`NULL`), each
 * step skips the stores on a branch that always goes the same way. */
__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2"))) static inline uint32_t
fold_and_copy(const unsigned char *next, size_t length, uint32_t crc, unsigned char *destination) {
    const __m256i four_registers = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fold_1024_bits));
    const __m256i one_register = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fold_256_bits));
    const __m128i one_lane = _mm_loadu_si128((const __m128i *)fold_128_bits);
    /* The accumulators start at zero, which folds to nothing: the first step takes the first 128 bytes as
     * they are, but for the register in, xored into the message's first four bytes as the raw CRC does. */
    __m256i first = _mm256_setzero_si256();
    __m256i second = _mm256_setzero_si256();
    __m256i third = _mm256_setzero_si256();
    __m256i fourth = _mm256_setzero_si256();
    __m256i register_in = _mm256_zextsi128_si256(_mm_cvtsi32_si128((int)crc));
    for (; length >= 128; length -= 128, next += 128) {
        if (length >= prefetch_distance + 128) {
            _mm_prefetch((const char *)next + prefetch_distance, _MM_HINT_T0);
            _mm_prefetch((const char *)next + prefetch_distance + 64, _MM_HINT_T0);
        }
        __m256i first_next = _mm256_loadu_si256((const __m256i *)next);
        __m256i second_next = _mm256_loadu_si256((const __m256i *)(next + 32));
        __m256i third_next = _mm256_loadu_si256((const __m256i *)(next + 64));
        __m256i fourth_next = _mm256_loadu_si256((const __m256i *)(next + 96));
        if (destination != NULL) {
            stream_128_bytes(destination, first_next, second_next, third_next, fourth_next);
            destination += 128;
        }
        first = fold_256(first, four_registers, _mm256_xor_si256(first_next, register_in));
        register_in = _mm256_setzero_si256();
        second = fold_256(second, four_registers, second_next);
        third = fold_256(third, four_registers, third_next);
        fourth = fold_256(fourth, four_registers, fourth_next);
    }
    __m256i folded = fold_256(first, one_register, second);
    folded = fold_256(folded, one_register, third);
    folded = fold_256(folded, one_register, fourth);
    for (; length >= 32; length -= 32, next += 32) {
        __m256i piece = _mm256_loadu_si256((const __m256i *)next);
        if (destination != NULL) {
            _mm256_stream_si256((__m256i *)destination, piece);
            destination += 32;
        }
        folded = fold_256(folded, one_register, piece);
    }
    __m128i lane = fold_128(_mm256_castsi256_si128(folded), one_lane, _mm256_extracti128_si256(folded, 1));
    if (length >= 16) {
        __m128i piece = _mm_loadu_si128((const __m128i *)next);
        if (destination != NULL) {
            _mm_stream_si128((__m128i *)destination, piece);
            destination += 16;
        }
        lane = fold_128(lane, one_lane, piece);
        length -= 16;
        next += 16;
    }
    uint64_t reduced = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(lane));
    reduced = _mm_crc32_u64(reduced, (uint64_t)_mm_extract_epi64(lane, 1));
    if (destination != NULL) {
        for (size_t offset = 0; offset < length; offset += 8) {
            pmemstream_store_word_nontemporal(destination + offset, next + offset);
        }
    }
    return pmemstream_crc32c_hardware(next, length, (uint32_t)reduced);
}

__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2"))) uint32_t
pmemstream_crc32c_folding(const void *bytes, size_t length, uint32_t crc) {
    if (length < 256) {
        return pmemstream_crc32c_hardware(bytes, length, crc);
    }
    return fold_and_copy(bytes, length, crc, NULL);
}

/* The words before the first 32-byte boundary of the destination are stored and checksummed one at a
 * time, so that the fold's stores are aligned; so is all of a copy too short to fold. */
__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2"))) uint32_t
pmemstream_crc32c_folding_copy_nontemporal(void *destination, const void *source, size_t length, uint32_t crc) {
    assert(((uintptr_t)destination & 7) == 0 && (length & 7) == 0 && "whole, aligned words only");
    unsigned char *to = destination;
    const unsigned char *from = source;
    size_t head = (32 - ((uintptr_t)to & 31)) & 31;
    if (length < head + 256) {
        head = length;
    }
    for (size_t offset = 0; offset < head; offset += 8) {
        pmemstream_store_word_nontemporal(to + offset, from + offset);
    }
    crc = pmemstream_crc32c_hardware(from, head, crc);
    if (head == length) {
        return crc;
    }
    return fold_and_copy(from + head, length - head, crc, to + head);
}

#else

void pmemstream_clear_vector_upper_halves(void) {}

int pmemstream_vector_upper_halves_in_use(void) { return -1; }

/* No CRC32C instruction this code knows of on this architecture. */
bool pmemstream_crc32c_hardware_present = false;
bool pmemstream_crc32c_streams_present = false;

/* Nor a folding kernel. */
bool pmemstream_crc32c_folding_available(void) { return false; }

/* Never called here (the availability check is false); aborts rather than return a wrong checksum. */
uint32_t pmemstream_crc32c_hardware(const void *bytes, size_t length, uint32_t crc) {
    (void)bytes;
    (void)length;
    (void)crc;
    abort();
}

/* Never called here, as pmemstream_crc32c_hardware. */
uint32_t pmemstream_crc32c_folding(const void *bytes, size_t length, uint32_t crc) {
    return pmemstream_crc32c_hardware(bytes, length, crc);
}

/* Never called here, as pmemstream_crc32c_hardware. */
uint32_t pmemstream_crc32c_folding_copy_nontemporal(void *destination, const void *source, size_t length,
                                                    uint32_t crc) {
    (void)destination;
    return pmemstream_crc32c_hardware(source, length, crc);
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
