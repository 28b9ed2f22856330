// CRC-32C (Castagnoli): SSE4.2 when the CPU has it, slicing-by-8 otherwise.
//
// Model files carry a CRC-32C per tensor, so checking a 400 MB model must cost little next to reading it. The
// `crc32` instruction has a latency of 3 cycles and a throughput of 1 per cycle: one dependent chain runs at a
// third of the possible speed. The hardware path therefore runs three independent chains over three adjacent
// blocks and joins them by "shifting" a CRC over a block of zeros (a linear map, applied through four 256-entry
// tables), the technique of Mark Adler's crc32c.c. The software path is the classic slicing-by-8.

#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

// Reflected CRC-32C polynomial.
#define POLY 0x82F63B78u

// Block sizes for the three-chain hardware loop; the zero-shift tables are built for exactly these lengths,
// which must be powers of two (see zeros_operator).
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static uint32_t slicing_table[8][256];
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

// MARK: - Shifting a CRC over zeros (GF(2) matrices of 32 columns)

static uint32_t gf2_times(const uint32_t *matrix, uint32_t vector) {
    uint32_t sum = 0;
    while (vector) {
        if (vector & 1) sum ^= *matrix;
        vector >>= 1;
        matrix++;
    }
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *matrix) {
    for (int n = 0; n < 32; n++) square[n] = gf2_times(matrix, matrix[n]);
}

// The operator that appends `length` zero bytes to a raw (non-inverted) CRC, for `length` a power of two:
// start from one zero bit and square (double the number of zeros) until 8 × length bits are covered.
static void zeros_operator(uint32_t *even, size_t length) {
    uint32_t odd[32];
    odd[0] = POLY;  // one zero bit
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd);  // two zero bits
    gf2_square(odd, even);  // four zero bits
    // Each square doubles: the first puts one zero byte in `even`, the next two bytes in `odd`, and so on
    // while `length` is shifted down to zero.
    do {
        gf2_square(even, odd);
        length >>= 1;
        if (length == 0) return;
        gf2_square(odd, even);
        length >>= 1;
    } while (length);
    memcpy(even, odd, sizeof odd);
}

// The operator as four byte-indexed tables, so that applying it costs four lookups.
static void zeros_tables(uint32_t tables[4][256], size_t length) {
    uint32_t op[32];
    zeros_operator(op, length);
    for (uint32_t n = 0; n < 256; n++) {
        tables[0][n] = gf2_times(op, n);
        tables[1][n] = gf2_times(op, n << 8);
        tables[2][n] = gf2_times(op, n << 16);
        tables[3][n] = gf2_times(op, n << 24);
    }
}

static inline uint32_t shift(uint32_t tables[4][256], uint32_t crc) {
    return tables[0][crc & 0xff] ^ tables[1][(crc >> 8) & 0xff] ^ tables[2][(crc >> 16) & 0xff]
        ^ tables[3][crc >> 24];
}

static void build_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ POLY : crc >> 1;
        slicing_table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = slicing_table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = slicing_table[0][crc & 0xff] ^ (crc >> 8);
            slicing_table[k][n] = crc;
        }
    }
    zeros_tables(shift_long, LONG_BLOCK);
    zeros_tables(shift_short, SHORT_BLOCK);
}

static void ensure_tables(void) { pthread_once(&tables_once, build_tables); }

// Unaligned little-endian 64-bit load (memcpy compiles to one move and avoids alignment/aliasing UB).
static inline uint64_t load64(const unsigned char *p) {
    uint64_t value;
    memcpy(&value, p, sizeof value);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    value = __builtin_bswap64(value);
#endif
    return value;
}

// MARK: - Software: slicing-by-8

uint32_t mlp_crc32c_software(uint32_t crc, const void *data, size_t length) {
    ensure_tables();
    const unsigned char *next = data;
    uint64_t c = crc ^ 0xFFFFFFFFu;
    while (length && ((uintptr_t)next & 7)) {
        c = slicing_table[0][(c ^ *next++) & 0xff] ^ (c >> 8);
        length--;
    }
    while (length >= 8) {
        c ^= load64(next);
        c = slicing_table[7][c & 0xff] ^ slicing_table[6][(c >> 8) & 0xff] ^ slicing_table[5][(c >> 16) & 0xff]
            ^ slicing_table[4][(c >> 24) & 0xff] ^ slicing_table[3][(c >> 32) & 0xff]
            ^ slicing_table[2][(c >> 40) & 0xff] ^ slicing_table[1][(c >> 48) & 0xff] ^ slicing_table[0][c >> 56];
        next += 8;
        length -= 8;
    }
    while (length--) c = slicing_table[0][(c ^ *next++) & 0xff] ^ (c >> 8);
    return (uint32_t)c ^ 0xFFFFFFFFu;
}

// MARK: - Hardware: SSE4.2, three chains

#if defined(__x86_64__)

// Three chains over blocks of `block` bytes each, joined by shifting: crc(A‖B) = shift_|B|(crc(A)) ⊕ crc₀(B),
// where crc₀ starts from a zero register (CRCs are linear, the inversion happens once at each end).
__attribute__((target("sse4.2")))
static inline uint64_t three_chains(uint64_t crc0, const unsigned char **next, size_t *length, size_t block,
                                    uint32_t tables[4][256]) {
    while (*length >= 3 * block) {
        const unsigned char *p = *next;
        const unsigned char *end = p + block;
        uint64_t crc1 = 0, crc2 = 0;
        do {
            crc0 = _mm_crc32_u64(crc0, load64(p));
            crc1 = _mm_crc32_u64(crc1, load64(p + block));
            crc2 = _mm_crc32_u64(crc2, load64(p + 2 * block));
            p += 8;
        } while (p < end);
        crc0 = shift(tables, (uint32_t)crc0) ^ crc1;
        crc0 = shift(tables, (uint32_t)crc0) ^ crc2;
        *next += 3 * block;
        *length -= 3 * block;
    }
    return crc0;
}

__attribute__((target("sse4.2")))
uint32_t mlp_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    ensure_tables();
    const unsigned char *next = data;
    uint64_t c = crc ^ 0xFFFFFFFFu;
    while (length && ((uintptr_t)next & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *next++);
        length--;
    }
    c = three_chains(c, &next, &length, LONG_BLOCK, shift_long);
    c = three_chains(c, &next, &length, SHORT_BLOCK, shift_short);
    while (length >= 8) {
        c = _mm_crc32_u64(c, load64(next));
        next += 8;
        length -= 8;
    }
    while (length--) c = _mm_crc32_u8((uint32_t)c, *next++);
    return (uint32_t)c ^ 0xFFFFFFFFu;
}

int mlp_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

#else

uint32_t mlp_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    return mlp_crc32c_software(crc, data, length);
}

int mlp_crc32c_hardware_available(void) { return 0; }

#endif

uint32_t mlp_crc32c(uint32_t crc, const void *data, size_t length) {
    // Decided once; a benign race (every thread computes the same answer) is avoided with an atomic anyway.
    static int choice = -1;  // -1 unknown, 0 software, 1 hardware
    int known = __atomic_load_n(&choice, __ATOMIC_RELAXED);
    if (known < 0) {
        known = mlp_crc32c_hardware_available();
        __atomic_store_n(&choice, known, __ATOMIC_RELAXED);
    }
    return known ? mlp_crc32c_hardware(crc, data, length) : mlp_crc32c_software(crc, data, length);
}
