import Foundation
import FormatSupport
import CCRC32C
@testable import HDF5Format
import MLPCore
import Testing

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("known CRC-32C vectors, in both implementations")
    func knownVectors() {
        let vectors: [([UInt8], UInt32)] = [
            (Array("123456789".utf8), 0xE306_9283),
            ([], 0),
            ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),  // RFC 3720 B.4
            ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
            ((0..<32).map { UInt8($0) }, 0x46DD_794E),
            ((0..<32).map { UInt8(31 - $0) }, 0x113F_DB5C),
            (Array("The quick brown fox jumps over the lazy dog".utf8), 0x2262_0404),
        ]
        for (bytes, expected) in vectors {
            bytes.withUnsafeBytes { raw in
                #expect(CRC32C.checksum(raw) == expected, "\(bytes.count) bytes")
                #expect(CRC32C.software(raw) == expected, "\(bytes.count) bytes")
                if let hardware = CRC32C.hardware(raw) { #expect(hardware == expected) }
            }
        }
        #expect(CRC32C.checksum("123456789") == 0xE306_9283)
        #expect(CRC32C.hex(0xE306_9283) == "0xe3069283")
        #expect(CRC32C.hex(0x42) == "0x00000042")
    }

    @Test("hardware equals software on random buffers, lengths and alignments, whole and in pieces")
    func hardwareMatchesSoftware() throws {
        var random = RandomGenerator(seed: 42)
        let buffer = (0..<(3 * 8192 * 4 + 777)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        // Lengths around the three-chain block sizes (3 × 8192, 3 × 256) exercise every path.
        var lengths = [0, 1, 7, 8, 9, 255, 256, 767, 768, 769, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1, buffer.count - 16]
        for _ in 0..<200 { lengths.append(random.nextInt(below: buffer.count - 16)) }
        try buffer.withUnsafeBytes { raw in
            let hardwareAvailable = CRC32C.hardware(raw) != nil
            for length in lengths {
                let offset = random.nextInt(below: 16)
                let slice = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
                let software = CRC32C.software(slice)
                if hardwareAvailable { #expect(CRC32C.hardware(slice) == software, "length \(length) at +\(offset)") }
                #expect(CRC32C.checksum(slice) == software)
                // Continuing a running CRC equals one pass over the whole.
                let cut = length / 3
                let first = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slice[0..<cut]))
                #expect(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slice[cut...]), continuing: first) == software)
                let firstSoftware = CRC32C.software(UnsafeRawBufferPointer(rebasing: slice[0..<cut]))
                #expect(CRC32C.software(UnsafeRawBufferPointer(rebasing: slice[cut...]), continuing: firstSoftware) == software)
            }
            try #require(hardwareAvailable || !CPUHasSSE42(), "SSE4.2 present but not used")
        }
    }
}

/// What /proc/cpuinfo says (Linux), to check that the hardware path is really taken where it can be.
private func CPUHasSSE42() -> Bool {
    (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" sse4_2") ?? false
}
