#ifndef MLPCONV_CBLAS_SHIM_H
#define MLPCONV_CBLAS_SHIM_H
// Debian's libopenblas-dev puts cblas.h in a variant folder that pkg-config adds to the include path.
#include <cblas.h>

// Thread control, so benchmarks can report 1-thread and n-thread figures from one binary.
static inline void mlp_blas_set_threads(int n) { openblas_set_num_threads(n); }
static inline int mlp_blas_get_threads(void) { return openblas_get_num_threads(); }
static inline const char *mlp_blas_config(void) { return openblas_get_config(); }
static inline const char *mlp_blas_core(void) { return openblas_get_corename(); }
#endif
