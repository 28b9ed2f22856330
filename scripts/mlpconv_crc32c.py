"""CRC-32C (Castagnoli) in pure Python, for the scripts that check mlpconv's HDF5 checksums without extra packages.

Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF (schemas/hdf5-layout.md, "Checksums"):
the checksum of iSCSI, ext4 and SSE4.2's crc32 instruction. Table-driven, one byte at a time: slow next to a
C implementation, but plenty for the model files the tests write.

Used by scripts/interop_check.py and fixtures/generate/generate_models.py (which puts this folder on sys.path).
Named mlpconv_crc32c, not crc32c, so that it neither shadows nor is shadowed by PyPI's `crc32c` package.
"""

_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """The CRC-32C of `data` as an unsigned 32-bit integer."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# The standard check value; a wrong table or a missing final XOR fails here, on import.
assert crc32c(b"123456789") == 0xE3069283
