#ifndef MLPCONV_INFLATE_H
#define MLPCONV_INFLATE_H
// Raw DEFLATE decompression (zip's method 8) through zlib, in steps whose output the caller bounds, so that a
// zip bomb is stopped at the caller's limit instead of being inflated whole.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlp_inflater mlp_inflater;

/// A new raw-DEFLATE decompressor, or NULL when out of memory.
mlp_inflater *mlp_inflater_new(void);

/// Decompresses from `input` into `output`: sets `*consumed` and `*produced`. Returns 1 at the end of the stream,
/// 0 when more input or output room is needed, -1 for corrupt data.
int mlp_inflater_step(mlp_inflater *inflater, const void *input, size_t input_length, size_t *consumed,
                      void *output, size_t output_capacity, size_t *produced);

void mlp_inflater_free(mlp_inflater *inflater);

#ifdef __cplusplus
}
#endif

#endif
