#ifndef MLPCONV_CRC32_H
#define MLPCONV_CRC32_H
// zlib's CRC-32, the checksum every zip member carries.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC-32 (the zip/gzip polynomial, reflected 0xEDB88320), through zlib. "123456789" → 0xCBF43926. Continues a
/// running CRC: start with 0, pass the previous result to extend it.
uint32_t mlp_crc32_zip(uint32_t crc, const void *data, size_t length);

#ifdef __cplusplus
}
#endif

#endif
