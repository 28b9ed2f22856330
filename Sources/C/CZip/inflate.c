#include "inflate.h"

#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

struct mlp_inflater {
    z_stream stream;
};

mlp_inflater *mlp_inflater_new(void) {
    mlp_inflater *inflater = calloc(1, sizeof *inflater);
    if (inflater == NULL) return NULL;
    // Negative window bits: raw DEFLATE, no zlib header (what zip members hold).
    if (inflateInit2(&inflater->stream, -MAX_WBITS) != Z_OK) {
        free(inflater);
        return NULL;
    }
    return inflater;
}

int mlp_inflater_step(mlp_inflater *inflater, const void *input, size_t input_length, size_t *consumed,
                      void *output, size_t output_capacity, size_t *produced) {
    z_stream *stream = &inflater->stream;
    // zlib counts in uInt: never offer it more than that at once.
    uInt in = input_length > UINT_MAX ? UINT_MAX : (uInt)input_length;
    uInt out = output_capacity > UINT_MAX ? UINT_MAX : (uInt)output_capacity;
    stream->next_in = (Bytef *)input;
    stream->avail_in = in;
    stream->next_out = output;
    stream->avail_out = out;
    int status = inflate(stream, Z_NO_FLUSH);
    *consumed = in - stream->avail_in;
    *produced = out - stream->avail_out;
    if (status == Z_STREAM_END) return 1;
    // Z_BUF_ERROR: no progress possible with this input and room; the caller tells truncation from a full buffer.
    return status == Z_OK || status == Z_BUF_ERROR ? 0 : -1;
}

void mlp_inflater_free(mlp_inflater *inflater) {
    if (inflater == NULL) return;
    inflateEnd(&inflater->stream);
    free(inflater);
}
