#include "mlp_kernels.h"

// Keep a·b + c as two rounded operations, as Swift computes it.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
// One copy per x86-64 level (AVX-512, AVX2, SSE2), the best chosen once by the dynamic loader.
#define MLP_WIDEST __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MLP_WIDEST
#endif

// The vector square root (correctly rounded, no errno), for scalars of either width.
#define ROOT(x) __builtin_elementwise_sqrt(x)

#define ADAM(NAME, T)                                                                                        \
    MLP_WIDEST void NAME(T *restrict w, const T *restrict g, T *restrict m, T *restrict v, T *restrict v_hat, \
                         size_t count, T c1, T c2, T alpha, T eps) {                                         \
        if (v_hat) {                                                                                         \
            for (size_t i = 0; i < count; i++) {                                                             \
                m[i] += (g[i] - m[i]) * c1;                                                                  \
                v[i] += (g[i] * g[i] - v[i]) * c2;                                                           \
                /* Swift's max(a, b) is b >= a ? b : a. */                                                   \
                v_hat[i] = v[i] >= v_hat[i] ? v[i] : v_hat[i];                                               \
                w[i] -= m[i] * alpha / (ROOT(v_hat[i]) + eps);                                               \
            }                                                                                                \
        } else {                                                                                             \
            for (size_t i = 0; i < count; i++) {                                                             \
                m[i] += (g[i] - m[i]) * c1;                                                                  \
                v[i] += (g[i] * g[i] - v[i]) * c2;                                                           \
                w[i] -= m[i] * alpha / (ROOT(v[i]) + eps);                                                   \
            }                                                                                                \
        }                                                                                                    \
    }

ADAM(mlp_adam_f32, float)
ADAM(mlp_adam_f64, double)

#define ADAGRAD(NAME, T)                                                                                     \
    MLP_WIDEST void NAME(T *restrict w, const T *restrict g, T *restrict a, size_t count, T lr, T eps) {     \
        for (size_t i = 0; i < count; i++) {                                                                 \
            a[i] += g[i] * g[i];                                                                             \
            w[i] -= lr * g[i] / ROOT(a[i] + eps);                                                            \
        }                                                                                                    \
    }

ADAGRAD(mlp_adagrad_f32, float)
ADAGRAD(mlp_adagrad_f64, double)

#define RMSPROP(NAME, T)                                                                                     \
    MLP_WIDEST void NAME(T *restrict g, T *restrict velocity, T *restrict average, size_t count, T rho,      \
                         T one_minus_rho, T lr, T eps) {                                                     \
        for (size_t i = 0; i < count; i++) velocity[i] = rho * velocity[i] + one_minus_rho * (g[i] * g[i]);  \
        if (average) {                                                                                       \
            for (size_t i = 0; i < count; i++) {                                                             \
                average[i] = rho * average[i] + one_minus_rho * g[i];                                        \
                g[i] = lr * g[i] / ROOT(velocity[i] - average[i] * average[i] + eps);                        \
            }                                                                                                \
        } else {                                                                                             \
            for (size_t i = 0; i < count; i++) g[i] = lr * g[i] / ROOT(velocity[i] + eps);                   \
        }                                                                                                    \
    }

RMSPROP(mlp_rmsprop_increment_f32, float)
RMSPROP(mlp_rmsprop_increment_f64, double)

// 8 vectors of 64 bytes per column block: 128 floats or 64 doubles, accumulated in registers over all k rows.
#define ROW_TIMES_MATRIX(NAME, T, LANES)                                                                     \
    MLP_WIDEST void NAME(const T *restrict x, const T *restrict a, size_t lda, size_t k, size_t n,           \
                         T *restrict y) {                                                                    \
        _Pragma("STDC FP_CONTRACT ON")                                                                       \
        typedef T vec __attribute__((vector_size(64), aligned(sizeof(T))));                               \
        enum { BLOCK = 8 * LANES };                                                                          \
        size_t j0 = 0;                                                                                       \
        for (; j0 + BLOCK <= n; j0 += BLOCK) {                                                               \
            vec acc[8] = {0};                                                                                \
            for (size_t p = 0; p < k; p++) {                                                                 \
                const vec *row = (const vec *)(a + p * lda + j0);                                            \
                T xp = x[p];                                                                                 \
                for (int v = 0; v < 8; v++) acc[v] += xp * row[v];                                           \
            }                                                                                                \
            vec *out = (vec *)(y + j0);                                                                      \
            for (int v = 0; v < 8; v++) out[v] += acc[v];                                                    \
        }                                                                                                    \
        if (j0 < n) {                                                                                        \
            T acc[BLOCK] = {0};                                                                              \
            size_t width = n - j0;                                                                           \
            for (size_t p = 0; p < k; p++) {                                                                 \
                const T *row = a + p * lda + j0;                                                             \
                T xp = x[p];                                                                                 \
                for (size_t j = 0; j < width; j++) acc[j] += xp * row[j];                                    \
            }                                                                                                \
            for (size_t j = 0; j < width; j++) y[j0 + j] += acc[j];                                          \
        }                                                                                                    \
    }

ROW_TIMES_MATRIX(mlp_row_times_matrix_f32, float, 16)
ROW_TIMES_MATRIX(mlp_row_times_matrix_f64, double, 8)

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>

mlp_cpu_features mlp_cpu_detect(void) {
    mlp_cpu_features f = {0, 0, 0, 0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    f.family = (int)(base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family);
    f.model = (int)(base_family == 0x6 || base_family == 0xf ? base_model | (((a >> 16) & 0xf) << 4) : base_model);
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1;
    if (!osxsave) return f;
    // The OS must save the wider registers too (XCR0): YMM for AVX2, opmask and ZMM for AVX-512.
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    int ymm = (xcr0_lo & 0x6) == 0x6, zmm = (xcr0_lo & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512cd = (b >> 28) & 1, avx512bw = (b >> 30) & 1,
        avx512vl = (b >> 31) & 1;
    f.avx2_fma = ymm && avx2 && fma;
    f.avx512 = f.avx2_fma && zmm && avx512f && avx512dq && avx512cd && avx512bw && avx512vl;
    return f;
}
#else
mlp_cpu_features mlp_cpu_detect(void) {
    mlp_cpu_features f = {0, 0, 0, 0};
    return f;
}
#endif
