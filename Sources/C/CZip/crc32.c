#include "crc32.h"

#include <zlib.h>

uint32_t mlp_crc32_zip(uint32_t crc, const void *data, size_t length) {
    const unsigned char *bytes = data;
    // zlib takes uInt lengths: feed it in pieces below 4 GiB.
    while (length > 0) {
        uInt piece = length > (1u << 30) ? (1u << 30) : (uInt)length;
        crc = (uint32_t)crc32((uLong)crc, bytes, piece);
        bytes += piece;
        length -= piece;
    }
    return crc;
}
