internal import CZip
import Testing

@Suite("Zip CRC-32")
struct ZipCRC32Tests {
    /// The zip format's CRC-32 (zlib), which ZipReader and StoredZip use: check values from the CRC catalogue.
    @Test func zipCRC32() {
        let vectors: [([UInt8], UInt32)] = [
            (Array("123456789".utf8), 0xCBF4_3926), ([], 0),
            (Array("The quick brown fox jumps over the lazy dog".utf8), 0x414F_A339),
        ]
        for (bytes, expected) in vectors {
            #expect(bytes.withUnsafeBytes { mlp_crc32_zip(0, $0.baseAddress, $0.count) } == expected)
        }
        // Continuing a running CRC equals one pass.
        let text = Array("123456789".utf8)
        let first = text[..<4].withUnsafeBytes { mlp_crc32_zip(0, $0.baseAddress, $0.count) }
        #expect(text[4...].withUnsafeBytes { mlp_crc32_zip(first, $0.baseAddress, $0.count) } == 0xCBF4_3926)
    }
}
