import Foundation
import ZipSupport

/// Writes a `torch.save` file: members in torch's order (`data.pkl`, `.format_version`, `.storage_alignment`,
/// `byteorder`, the storages in the order the pickle names them, `version`, `.data/serialization_id`), each
/// member's data aligned to 64 bytes as PyTorch's writer aligns it, little-endian.
package struct TorchArchiveWriter {
    /// The archive's top folder; torch.save uses the file's name without its extension.
    package var prefix: String
    private var storages: [String: (reference: StorageReference, bytes: Data)] = [:]

    package init(prefix: String = "archive") {
        self.prefix = prefix
    }

    /// Adds a storage holding `values` (float32, float64 or int64, by their case) under the next free key
    /// ("0", "1", …) and returns a contiguous tensor over all of it in `shape`.
    package mutating func addTensor(_ values: TorchTensor.Values, shape: [Int], requiresGrad: Bool = false,
                                    isParameter: Bool = false) -> TensorReference {
        var bytes = Data()
        let dtype: TorchDType
        switch values {
        case .float(let floats):
            dtype = .float32
            for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        case .double(let doubles):
            dtype = .float64
            for value in doubles { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        case .int64(let integers):
            dtype = .int64
            for value in integers { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        let storage = addStorage(dtype: dtype, littleEndianBytes: bytes, elementCount: values.count)
        let shape64 = shape.map { Int64($0) }
        return TensorReference(storage: storage, storageOffset: 0, shape: shape64,
                               strides: TensorReference.contiguousStrides(shape64), requiresGrad: requiresGrad,
                               isParameter: isParameter)
    }

    /// Adds a storage of raw little-endian bytes under the next free key.
    package mutating func addStorage(dtype: TorchDType, littleEndianBytes: Data, elementCount: Int) -> StorageReference {
        var key = storages.count
        while storages[String(key)] != nil { key += 1 }
        let reference = StorageReference(key: String(key), dtype: dtype, location: "cpu",
                                         elementCount: Int64(elementCount))
        storages[reference.key] = (reference, littleEndianBytes)
        return reference
    }

    /// Adds a storage under its own key (rewriting a tree read from another archive keeps its tensors as they are).
    package mutating func addStorage(_ reference: StorageReference, littleEndianBytes: Data) throws(PickleWriteFailure) {
        guard let size = reference.dtype.elementSize,
              Int64(littleEndianBytes.count) == reference.elementCount.multipliedReportingOverflow(by: Int64(size)).partialValue
        else {
            throw PickleWriteFailure("storage \"\(reference.key)\" of \(reference.elementCount) "
                                     + "\(reference.dtype.qualifiedName) elements given \(littleEndianBytes.count) bytes")
        }
        guard storages[reference.key] == nil else {
            throw PickleWriteFailure("storage \"\(reference.key)\" is added twice")
        }
        storages[reference.key] = (reference, littleEndianBytes)
    }

    /// The archive of `root`, whose tensors must refer to storages added to this writer.
    package func archive(_ root: PickleValue) throws(PickleWriteFailure) -> Data {
        let (pickle, order) = try PickleWriter.pickle(root)
        var members: [StoredZip.Member] = [
            .init(name: prefix + "/data.pkl", data: pickle),
            .init(name: prefix + "/.format_version", data: Data("1".utf8)),
            .init(name: prefix + "/.storage_alignment", data: Data("64".utf8)),
            .init(name: prefix + "/byteorder", data: Data("little".utf8)),
        ]
        for reference in order {
            guard let (added, bytes) = storages[reference.key], added == reference else {
                throw PickleWriteFailure("tensor storage \"\(reference.key)\" was not added to the writer as "
                                         + "\(reference.elementCount) \(reference.dtype.qualifiedName) elements")
            }
            members.append(.init(name: "\(prefix)/data/\(reference.key)", data: bytes))
        }
        members.append(.init(name: prefix + "/version", data: Data("3\n".utf8)))
        members.append(.init(name: prefix + "/.data/serialization_id", data: Data(Self.serializationID(members).utf8)))
        // A fixed time makes a rerun write the same bytes.
        return StoredZip(modified: Date(timeIntervalSince1970: 315_532_800), dataAlignment: 64).archive(members)
    }

    /// Forty digits as torch writes, derived here from the members' contents (FNV-1a) rather than from a random
    /// number, so the same model always gives the same file. torch reads it only to log it.
    static func serializationID(_ members: [StoredZip.Member]) -> String {
        var names: UInt64 = 0xCBF2_9CE4_8422_2325, contents: UInt64 = 0xCBF2_9CE4_8422_2325
        for member in members {
            for byte in member.name.utf8 { names = (names ^ UInt64(byte)) &* 0x100_0000_01B3 }
            for byte in member.data { contents = (contents ^ UInt64(byte)) &* 0x100_0000_01B3 }
        }
        func padded(_ value: UInt64) -> String {
            let digits = String(value)
            return String(repeating: "0", count: 20 - digits.count) + digits
        }
        return padded(names) + padded(contents)
    }
}
