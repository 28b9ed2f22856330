#ifndef MLP_KERNELS_H
#define MLP_KERNELS_H

#include <stddef.h>

// Element-wise loops of the training step that Swift cannot vectorise: its scalar squareRoot() keeps C's errno
// check (a branch and a libm call per element), so a loop taking a square root runs one element at a time.
// Each function is the Swift loop it replaces, operation for operation, without contraction into fused
// multiply-adds: the results are bit-identical (IEEE square root, division and products are correctly rounded in
// every vector width). Where the CPU allows, the widest vector code is chosen at load time.

/// Keras's Adam (and AdamW after its decay pass): m += (g − m)·c1; v += (g² − v)·c2; with AMSGrad (v_hat not
/// NULL) v̂ = max(v̂, v) and the root is taken of v̂; w −= m·alpha / (√v + eps).
void mlp_adam_f32(float *w, const float *g, float *m, float *v, float *v_hat, size_t count,
                  float one_minus_beta1, float one_minus_beta2, float alpha, float eps);
void mlp_adam_f64(double *w, const double *g, double *m, double *v, double *v_hat, size_t count,
                  double one_minus_beta1, double one_minus_beta2, double alpha, double eps);

/// Keras's Adagrad: a += g²; w −= lr·g / √(a + eps).
void mlp_adagrad_f32(float *w, const float *g, float *accumulator, size_t count, float lr, float eps);
void mlp_adagrad_f64(double *w, const double *g, double *accumulator, size_t count, double lr, double eps);

/// Keras's RMSprop increment, into the gradient buffer: velocity = ρ·velocity + (1 − ρ)·g²; with `average` (the
/// centred form) average = ρ·average + (1 − ρ)·g and g = lr·g / √(velocity − average² + eps), else
/// g = lr·g / √(velocity + eps).
void mlp_rmsprop_increment_f32(float *g, float *velocity, float *average, size_t count, float rho,
                               float one_minus_rho, float lr, float eps);
void mlp_rmsprop_increment_f64(double *g, double *velocity, double *average, size_t count, double rho,
                               double one_minus_rho, double lr, double eps);

/// One row times a matrix, added to what y holds: y[j] += Σ_p x[p]·a[p·lda + j] for j < n, p < k (a row-major
/// [k, n] block). For a batch-1 prediction: it streams the weights once, in column blocks that stay in registers.
/// Unlike the optimizer kernels it may fuse multiply-adds (the sum order already differs from BLAS's).
void mlp_row_times_matrix_f32(const float *x, const float *a, size_t lda, size_t k, size_t n, float *y);
void mlp_row_times_matrix_f64(const double *x, const double *a, size_t lda, size_t k, size_t n, double *y);

/// What the CPU can run, from CPUID: for telling whether OpenBLAS chose kernels far below it.
typedef struct {
    int family, model;
    int avx2_fma;  // AVX2 and FMA: OpenBLAS's Haswell kernels
    int avx512;    // AVX-512 F, CD, BW, DQ and VL: its SkylakeX kernels
} mlp_cpu_features;

mlp_cpu_features mlp_cpu_detect(void);

/// Runs task(context, part) for every part in 0..<parts and returns when all have finished: the caller runs some
/// parts itself, worker threads (started on first use, kept, spinning briefly between jobs) run the others. A call
/// made while another is running (nested, or from a second thread) runs its parts on the calling thread.
typedef void (*mlp_parallel_task)(void *context, long part);
void mlp_parallel_run(long parts, mlp_parallel_task task, void *context);

#endif
