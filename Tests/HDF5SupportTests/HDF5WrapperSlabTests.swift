import Foundation
import Testing
@testable import HDF5Support
import TestSupport

/// Bytes that differ from slab to slab and row to row (an all-zero tensor would hide a misplaced slab).
private func pattern(_ count: Int, seed: UInt32) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 1_664_525 &+ 1_013_904_223
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}

extension HDF5WrapperTests {
    /// Datasets written in slabs of rows, each slab handed to `eachSlab` (the native codec's CRC-32C): the slabs
    /// cover the data exactly once, in order; the file is byte for byte the one a single write makes, and reads
    /// back the same.
    @Test("slab-wise writes hand on every byte once, in order, and change no byte of the file",
          arguments: [[3000, 700], [1_100_001], [3, 1, 1_100_000], [7, 3], [], [0, 5], [64, 64]])
    func slabs(shape: [Int]) throws {
        let folder = try TemporaryFolder()
        let type: HDF5ElementType = shape.count == 1 ? .float64 : .float32
        let count = shape.reduce(1, *)
        let bytes = pattern(count * type.size, seed: UInt32(count % 1000))
        let compressed = shape == [64, 64]
        var written: [[UInt8]] = []
        for (name, withSlabs) in [("whole.h5", false), ("slabs.h5", true)] {
            let file = try HDF5File.create(at: folder.path(name))
            try bytes.withUnsafeBytes { raw in
                _ = try file.createDataset("d", type: type, shape: shape, bytes: raw,
                                           compression: compressed ? HDF5Compression() : nil,
                                           eachSlab: withSlabs ? { written.append([UInt8]($0)) } : nil)
            }
            try file.close()
        }
        #expect(written.flatMap { $0 } == bytes)
        #expect(try Data(contentsOf: folder.url.appendingPathComponent("whole.h5"))
                == Data(contentsOf: folder.url.appendingPathComponent("slabs.h5")))
        // Several slabs where the data spans several, one for a compressed dataset (written whole), none for no data.
        let expectedSlabs = bytes.count == 0 ? 0 : compressed ? 1
            : HDF5Slabs(shape: shape.map { UInt64($0) }, elementSize: type.size)
                .map { $0.ranges.count } ?? (bytes.count + HDF5Slabs.bytes - 1) / HDF5Slabs.bytes
        #expect(written.count == expectedSlabs)
        #expect(bytes.count < 2 * HDF5Slabs.bytes || written.count > 1)

        var read = [UInt8](repeating: 0, count: bytes.count)
        let dataset = try HDF5File.openReadOnly(at: folder.path("slabs.h5")).openDataset("d")
        try read.withUnsafeMutableBytes { try dataset.read(into: $0, as: type) }
        #expect(read == bytes)
    }
}
