import Foundation
import ZipSupport

/// Writes a `torch.save` file: members in torch's order (`data.pkl`, `.format_version`, `.storage_alignment`,
/// `byteorder`, the storages in the order the pickle names them, `version`, `.data/serialization_id`), each
/// member's data aligned to 64 bytes as PyTorch's writer aligns it, little-endian.
///
/// A storage's bytes are not copied when it is added: the writer keeps the caller's values (or a function that
/// produces them) and reads them only when the storage is written, so a large model streams to disk one storage
/// at a time (`write(_:to:)`) next to the document it comes from.
package struct TorchArchiveWriter {
    /// The archive's top folder; torch.save uses the file's name without its extension.
    package var prefix: String
    private var storages: [String: (reference: StorageReference, content: StoredZip.StreamedMember.Content)] = [:]

    package init(prefix: String = "archive") {
        self.prefix = prefix
    }

    /// Adds a storage holding `values` (float32, float64 or int64, by their case) under the next free key
    /// ("0", "1", …) and returns a contiguous tensor over all of it in `shape`.
    package mutating func addTensor(_ values: TorchTensor.Values, shape: [Int], requiresGrad: Bool = false,
                                    isParameter: Bool = false) -> TensorReference {
        addTensor(producing: { values }, dtype: values.dtype, count: values.count, shape: shape,
                  requiresGrad: requiresGrad, isParameter: isParameter)
    }

    /// Adds a storage whose `count` values of `dtype` (float32, float64 or int64) `produce` makes when the storage
    /// is written — a transposed copy, say, made then and let go right after instead of held with the others.
    package mutating func addTensor(producing produce: @escaping () -> TorchTensor.Values, dtype: TorchDType, count: Int,
                                    shape: [Int], requiresGrad: Bool = false, isParameter: Bool = false) -> TensorReference {
        let storage = addStorage(dtype: dtype, elementCount: count, content: .whole { produce() })
        return contiguous(storage, shape: shape, requiresGrad: requiresGrad, isParameter: isParameter)
    }

    /// Adds a storage of `count` values of `dtype` whose little-endian bytes `pieces` hands out in order when the
    /// storage is written (run twice: for the member's CRC-32, then to write), so a transposed kernel is streamed
    /// through a small buffer instead of copied whole.
    package mutating func addTensor(
        pieces: @escaping (_ emit: (UnsafeRawBufferPointer) -> Void) -> Void, dtype: TorchDType, count: Int,
        shape: [Int], requiresGrad: Bool = false, isParameter: Bool = false
    ) -> TensorReference {
        let size = UInt64(count) * UInt64(dtype.elementSize ?? 1)
        let storage = addStorage(dtype: dtype, elementCount: count, content: .pieces(size: size, produce: pieces))
        return contiguous(storage, shape: shape, requiresGrad: requiresGrad, isParameter: isParameter)
    }

    private func contiguous(_ storage: StorageReference, shape: [Int], requiresGrad: Bool, isParameter: Bool) -> TensorReference {
        let shape64 = shape.map { Int64($0) }
        return TensorReference(storage: storage, storageOffset: 0, shape: shape64,
                               strides: TensorReference.contiguousStrides(shape64), requiresGrad: requiresGrad,
                               isParameter: isParameter)
    }

    /// Adds a storage of raw little-endian bytes under the next free key.
    package mutating func addStorage(dtype: TorchDType, littleEndianBytes: Data, elementCount: Int) -> StorageReference {
        addStorage(dtype: dtype, elementCount: elementCount, content: .whole { littleEndianBytes })
    }

    private mutating func addStorage(dtype: TorchDType, elementCount: Int,
                                     content: StoredZip.StreamedMember.Content) -> StorageReference {
        var key = storages.count
        while storages[String(key)] != nil { key += 1 }
        let reference = StorageReference(key: String(key), dtype: dtype, location: "cpu",
                                         elementCount: Int64(elementCount))
        storages[reference.key] = (reference, content)
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
        storages[reference.key] = (reference, .whole { littleEndianBytes })
    }

    /// The archive of `root`, whose tensors must refer to storages added to this writer, in memory.
    package func archive(_ root: PickleValue) throws(PickleWriteFailure) -> Data {
        let prepared = try prepare(root)
        var out = Data()
        prepared.write { (bytes: UnsafeRawBufferPointer) in out.append(contentsOf: bytes) }
        return out
    }

    /// The archive of `root` checked (its pickle made, every storage it names added) and ready to be written.
    package func prepare(_ root: PickleValue) throws(PickleWriteFailure) -> PreparedArchive {
        PreparedArchive(members: try members(root))
    }

    package struct PreparedArchive {
        fileprivate let members: [StoredZip.StreamedMember]

        /// The bytes `archive` returns, handed to `sink` piece by piece, each storage read from its values as it
        /// is written. Call once: the serialization id is hashed as the members go by.
        package func write<Failure: Error>(to sink: (UnsafeRawBufferPointer) throws(Failure) -> Void) throws(Failure) {
            // A fixed time makes a rerun write the same bytes.
            try StoredZip(modified: Date(timeIntervalSince1970: 315_532_800), dataAlignment: 64).write(members, to: sink)
        }
    }

    private func members(_ root: PickleValue) throws(PickleWriteFailure) -> [StoredZip.StreamedMember] {
        let (pickle, order) = try PickleWriter.pickle(root)
        var members: [StoredZip.StreamedMember] = [
            .init(name: prefix + "/data.pkl") { pickle },
            .init(name: prefix + "/.format_version") { Data("1".utf8) },
            .init(name: prefix + "/.storage_alignment") { Data("64".utf8) },
            .init(name: prefix + "/byteorder") { Data("little".utf8) },
        ]
        for reference in order {
            guard let (added, content) = storages[reference.key], added == reference else {
                throw PickleWriteFailure("tensor storage \"\(reference.key)\" was not added to the writer as "
                                         + "\(reference.elementCount) \(reference.dtype.qualifiedName) elements")
            }
            members.append(StoredZip.StreamedMember(name: "\(prefix)/data/\(reference.key)", content: content))
        }
        members.append(.init(name: prefix + "/version") { Data("3\n".utf8) })
        // The id hashes every member before it; the zip writer asks for the members in order, so each one's bytes
        // pass through the hash as they are written and the id is complete when its turn comes.
        let identity = SerializationID(names: members.map(\.name))
        members = members.enumerated().map { index, member in
            switch member.content {
            case .whole(let produce):
                return .init(name: member.name) {
                    let content = produce()
                    content.withUnsafeBytes { identity.add($0) }
                    return content
                }
            case .pieces(let size, let produce):
                // Produced twice (CRC, then writing): each pass starts from the hash as it was before the member.
                return .init(name: member.name, size: size) { emit in
                    identity.startPass(ofMember: index)
                    produce { piece in
                        identity.add(piece)
                        emit(piece)
                    }
                }
            }
        }
        members.append(.init(name: prefix + "/.data/serialization_id") { Data(identity.text.utf8) })
        return members
    }

    /// Forty digits as torch writes, derived here from the members' names and contents (FNV-1a) rather than from a
    /// random number, so the same model always gives the same file. torch reads it only to log it.
    private final class SerializationID {
        private let names: UInt64
        private var contents: UInt64 = 0xCBF2_9CE4_8422_2325

        init(names: [String]) {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for name in names {
                for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            }
            self.names = hash
        }

        /// The hash before member `index`, kept at its first pass and restored at the next.
        private var passStart: (member: Int, contents: UInt64)?

        func startPass(ofMember index: Int) {
            if let start = passStart, start.member == index {
                contents = start.contents
            } else {
                passStart = (index, contents)
            }
        }

        func add(_ bytes: UnsafeRawBufferPointer) {
            var hash = contents
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            contents = hash
        }

        var text: String {
            func padded(_ value: UInt64) -> String {
                let digits = String(value)
                return String(repeating: "0", count: 20 - digits.count) + digits
            }
            return padded(names) + padded(contents)
        }
    }
}

// Host order is little-endian on every platform this package builds for: the values' memory is the storage's bytes.
extension TorchTensor.Values: ContiguousBytes {
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .float(let values): try values.withUnsafeBytes(body)
        case .double(let values): try values.withUnsafeBytes(body)
        case .int64(let values): try values.withUnsafeBytes(body)
        }
    }

    var dtype: TorchDType {
        switch self {
        case .float: .float32
        case .double: .float64
        case .int64: .int64
        }
    }
}
