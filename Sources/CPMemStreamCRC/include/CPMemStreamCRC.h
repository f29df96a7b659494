#ifndef PMEMSTREAM_CPMEMSTREAMCRC_H
#define PMEMSTREAM_CPMEMSTREAMCRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Set when the program loads; read it through pmemstream_crc32c_hardware_available. */
extern bool pmemstream_crc32c_hardware_present;

/* Whether pmemstream_crc32c_hardware may be called: x86-64 with SSE4.2. Always false elsewhere. Asked of
 * the CPU once, when the program loads. Inline, a load: every entry's checksum asks, and a call into this
 * module cost about a tenth of reading a small entry back. */
static inline bool pmemstream_crc32c_hardware_available(void) { return pmemstream_crc32c_hardware_present; }

/* Set when the program loads; read it through pmemstream_crc32c_three_streams_available. */
extern bool pmemstream_crc32c_streams_present;

/* Whether pmemstream_crc32c_hardware runs three streams joined by carry-less multiplication (x86-64 with
 * SSE4.2 and PCLMULQDQ), from 256 bytes; false elsewhere. */
static inline bool pmemstream_crc32c_three_streams_available(void) { return pmemstream_crc32c_streams_present; }

/* The raw CRC32C register after `length` bytes at `bytes`, starting from `crc`, with the SSE4.2 `crc32`
 * instruction: in three streams joined by carry-less multiplications (PCLMULQDQ) from 256 bytes, where the
 * CPU has them. Same convention as ISA-L's crc32_iscsi: no inversion in or out. Call it only when
 * pmemstream_crc32c_hardware_available() is true; elsewhere it aborts. */
uint32_t pmemstream_crc32c_hardware(const void *bytes, size_t length, uint32_t crc);

/* Whether pmemstream_crc32c_folding may be called: x86-64 with SSE4.2, AVX2 and 256-bit carry-less
 * multiplication (VPCLMULQDQ), and without AVX-512, where ISA-L folds with wider registers. Asked of the CPU
 * once, when the program loads. */
bool pmemstream_crc32c_folding_available(void);

/* pmemstream_crc32c_hardware's result, computed by folding the buffer 128 bytes at a time with carry-less
 * multiplications, reading it once from front to back (buffers under 256 bytes go to
 * pmemstream_crc32c_hardware). Call it only when pmemstream_crc32c_folding_available() is true. */
uint32_t pmemstream_crc32c_folding(const void *bytes, size_t length, uint32_t crc);

/* pmemstream_crc32c_folding's result over the `length` bytes at `source`, which it also copies to `destination`
 * with non-temporal stores only and no flush, as pmemstream_copy_nontemporal does (CPMemStreamStores): the
 * bytes are read once, for both. `destination` must be 8-byte aligned and `length` a multiple of 8 (a debug
 * build asserts both), and they must not overlap. Call it only when pmemstream_crc32c_folding_available()
 * is true. */
uint32_t pmemstream_crc32c_folding_copy_nontemporal(void *destination, const void *source, size_t length,
                                                    uint32_t crc);

/* pmemstream_crc32c_hardware over the 24 bytes of `first`, `second` and `third` (each as its 8 bytes in
 * x86-64's little-endian order) and then the `length` bytes at `bytes`: an entry's header fields and data
 * in one call. */
uint32_t pmemstream_crc32c_hardware_words_then_bytes(uint64_t first, uint64_t second, uint64_t third,
                                                     const void *bytes, size_t length, uint32_t crc);

/* Clears the upper halves of the vector registers (`vzeroupper`) on CPUs with AVX; a no-op elsewhere. Call it
 * after ISA-L's checksum: its AVX-512 kernel returns with them in use, and on Intel CPUs every SSE
 * instruction after that runs slowly until something clears them (Docs/Performance.md, nineteenth pass). */
void pmemstream_clear_vector_upper_halves(void);

/* Whether the upper halves of ymm0 – 15 or zmm0 – 15 are in use, as the CPU's XINUSE reports it: 1 or 0, or
 * -1 when the CPU cannot tell (no AVX, or no XGETBV with ECX = 1). For tests. */
int pmemstream_vector_upper_halves_in_use(void);

#endif
