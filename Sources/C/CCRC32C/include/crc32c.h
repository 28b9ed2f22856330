#ifndef MLPCONV_CRC32C_H
#define MLPCONV_CRC32C_H
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum iSCSI, ext4 and SSE4.2's `crc32`
// instruction compute. "123456789" → 0xE3069283.
//
// All functions continue a running CRC: start with 0, pass the previous result to extend it, so a buffer can
// be checksummed in pieces. (The usual pre/post inversion is done inside each call.)

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The fastest implementation this CPU supports (SSE4.2 when present, else slicing-by-8).
uint32_t mlp_crc32c(uint32_t crc, const void *data, size_t length);

/// The portable table-driven implementation (slicing-by-8), always available.
uint32_t mlp_crc32c_software(uint32_t crc, const void *data, size_t length);

/// Whether `mlp_crc32c_hardware` may be called: an x86-64 CPU with SSE4.2.
int mlp_crc32c_hardware_available(void);

/// The SSE4.2 implementation. Only call it when `mlp_crc32c_hardware_available()` is non-zero; on other
/// architectures it is the software implementation.
uint32_t mlp_crc32c_hardware(uint32_t crc, const void *data, size_t length);

#ifdef __cplusplus
}
#endif
#endif
