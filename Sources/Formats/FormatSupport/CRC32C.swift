internal import CCRC32C
import MLPDocument

/// CRC-32C (Castagnoli) of byte buffers: the checksum model files store per tensor and per text, so that a
/// changed byte that HDF5 would happily read back as different data is detected and reported by object.
package enum CRC32C {
    /// The checksum of `bytes`, continuing `crc` (0 to start). Uses SSE4.2 when the CPU has it.
    package static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return mlp_crc32c(crc, base, bytes.count)
    }

    package static func checksum(_ text: String) -> UInt32 {
        var text = text
        return text.withUTF8 { checksum(UnsafeRawBufferPointer($0)) }
    }

    package static func checksum(_ tensor: Tensor) -> UInt32 {
        tensor.withUnsafeBytes { checksum($0) }
    }

    /// The portable implementation, for tests that compare it with the hardware one.
    package static func software(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return mlp_crc32c_software(crc, base, bytes.count)
    }

    /// The SSE4.2 implementation, or nil when this CPU lacks it.
    package static func hardware(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32? {
        guard mlp_crc32c_hardware_available() != 0 else { return nil }
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return mlp_crc32c_hardware(crc, base, bytes.count)
    }

    /// `0x` and eight hex digits, as messages print checksums.
    package static func hex(_ crc: UInt32) -> String {
        let digits = String(crc, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
