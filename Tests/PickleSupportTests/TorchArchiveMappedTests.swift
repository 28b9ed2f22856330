import Foundation
import PickleSupport
import Testing

@Suite("torch.save files read from a mapping, each storage's pages given back after it is read")
struct TorchArchiveMappedTests {
    /// Every tensor of the fixtures, read from the mapped file twice (the second time after its pages were given
    /// back, so from the file again) and from the bytes in memory: the same shape, dtype and bits each time.
    @Test(arguments: ["state_dict", "checkpoint", "dtypes", "views", "big_endian"])
    func aStorageReadAgainAfterItsPagesWereGivenBackIsTheSame(_ name: String) throws {
        let path = Fixtures.path(name + ".pt")
        let mapped = try TorchArchive(contentsOf: path)
        let inMemory = try TorchArchive(data: try Data(contentsOf: URL(fileURLWithPath: path)), file: path)
        let found = TorchArchive.tensors(in: mapped.root)
        #expect(!found.isEmpty)
        for (path, tensor) in found {
            let first = try mapped.tensor(tensor, at: path)
            #expect(try mapped.tensor(tensor, at: path) == first, "\(path)")
            #expect(try inMemory.tensor(tensor, at: path) == first, "\(path)")
        }
    }

    /// The contiguous fast path copies exactly the elements gathering would: a storage larger than the tensor,
    /// starting at an offset, float32, float64 and int64.
    @Test func aContiguousViewAtAnOffsetCopiesExactlyItsElements() throws {
        var writer = TorchArchiveWriter(prefix: "offsets")
        let floats = writer.addStorage(dtype: .float32, littleEndianBytes: Data((0..<10).flatMap { value in
            withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { Array($0) }
        }), elementCount: 10)
        let doubles = writer.addStorage(dtype: .float64, littleEndianBytes: Data((0..<6).flatMap { value in
            withUnsafeBytes(of: Double(-value).bitPattern.littleEndian) { Array($0) }
        }), elementCount: 6)
        let view32 = TensorReference(storage: floats, storageOffset: 3, shape: [2, 3], strides: [3, 1])
        let view64 = TensorReference(storage: doubles, storageOffset: 4, shape: [2], strides: [1])
        let archive = try TorchArchive(data: try writer.archive(.list([.tensor(view32), .tensor(view64)])), file: "offsets.pt")
        #expect(try archive.tensor(view32, at: "a").values == .float([3, 4, 5, 6, 7, 8]))
        #expect(try archive.tensor(view64, at: "b").values == .double([-4, -5]))
    }
}
