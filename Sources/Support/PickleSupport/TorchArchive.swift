import FileSupport
import Foundation
import ZipSupport

/// Why a torch.save file was refused: the file, the object inside it (a zip member, a pickle byte offset or a
/// tensor's path in the value tree) and the reason.
package struct TorchArchiveError: Error, CustomStringConvertible, Equatable, Sendable {
    package var file: String
    package var object: String
    package var reason: String

    package init(file: String, object: String, reason: String) {
        self.file = file
        self.object = object
        self.reason = reason
    }

    package var description: String { object.isEmpty ? "\(file): \(reason)" : "\(file): \(object): \(reason)" }
}

package struct TorchArchiveLimits: Sendable {
    package var maxFileBytes: Int
    package var maxEntries: Int
    package var maxPickleBytes: Int
    /// Elements one tensor may expand to: a view with zero strides can describe far more elements than its
    /// storage holds. Nil: the file's size in bytes, and at least 2^24.
    package var maxTensorElements: Int?

    package init(maxFileBytes: Int = 1 << 34, maxEntries: Int = 1 << 20, maxPickleBytes: Int = 1 << 28,
                 maxTensorElements: Int? = nil) {
        self.maxFileBytes = maxFileBytes
        self.maxEntries = maxEntries
        self.maxPickleBytes = maxPickleBytes
        self.maxTensorElements = maxTensorElements
    }
}

/// A tensor's elements read out of its storage: contiguous, row-major, in `shape`. float16 and bfloat16 widen
/// exactly to `Float`; float32 is `Float`, float64 `Double`, int64 (step counters, `num_batches_tracked`) `Int64`.
package struct TorchTensor: Equatable, Sendable {
    package enum Values: Equatable, Sendable {
        case float([Float])
        case double([Double])
        case int64([Int64])

        var count: Int {
            switch self {
            case .float(let values): values.count
            case .double(let values): values.count
            case .int64(let values): values.count
            }
        }
    }

    package var shape: [Int]
    /// The dtype stored in the file.
    package var dtype: TorchDType
    package var values: Values

    package init(shape: [Int], dtype: TorchDType, values: Values) {
        self.shape = shape
        self.dtype = dtype
        self.values = values
    }
}

/// A `torch.save` file (the zip format torch has written by default since 1.6): `<prefix>/data.pkl` holds the
/// pickled object, `<prefix>/data/<key>` each storage's bytes, `byteorder` and `version` what they say.
/// Opening it unpickles `data.pkl` with the restricted `PickleReader` and checks every tensor against its
/// storage member; `tensor(_:at:)` then reads a tensor's values.
package struct TorchArchive {
    package enum ByteOrder: String, Sendable { case little, big }

    package let file: String
    package let prefix: String
    package let root: PickleValue
    package let byteOrder: ByteOrder
    private let zip: ZipReader
    /// The archive's bytes (mapped from the file by `init(contentsOf:)`), whose pages a read storage gives back.
    private let data: Data
    /// Each storage of the tree, as checked against its member when the archive was opened.
    private let storages: [String: (reference: StorageReference, entry: ZipReader.Entry)]
    private let maxTensorElements: Int
    /// Whether the bytes are mapped from the file, so a storage's pages can be given back after it is read.
    private var releasesPages = false

    /// The first bytes of the legacy (pre-zip) format: PROTO 2 and the pickled magic number 0x1950a86a20f9469cfc6c.
    package static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Maps the file rather than reading it: each storage's pages are given back once `tensor` has copied them
    /// out, so reading a checkpoint holds about one storage of the file next to the tensors read.
    package init(contentsOf path: String, limits: TorchArchiveLimits = TorchArchiveLimits()) throws(TorchArchiveError) {
        let file: (data: Data, isMapped: Bool)
        do {
            file = try MappedFile.data(path: path, limit: limits.maxFileBytes)
        } catch {
            throw TorchArchiveError(file: path, object: "", reason: error.reason)
        }
        try self.init(data: file.data, file: path, limits: limits)
        releasesPages = file.isMapped
    }

    package init(data: Data, file: String, limits: TorchArchiveLimits = TorchArchiveLimits()) throws(TorchArchiveError) {
        func failure(_ object: String, _ reason: String) -> TorchArchiveError {
            TorchArchiveError(file: file, object: object, reason: reason)
        }
        if data.starts(with: Self.legacyMagic) {
            throw failure("", "a legacy (pre-1.6) torch.save file, not the zip format mlpconv reads; load it with "
                          + "PyTorch and save it again with torch.save's default zip format")
        }
        guard ZipSignature.starts(data.prefix(4)) else {
            throw failure("", "not a torch.save file (neither a zip archive nor the legacy format)")
        }
        let maxTensorElements = limits.maxTensorElements ?? max(data.count, 1 << 24)
        let zip: ZipReader
        do {
            zip = try ZipReader(data, maxEntries: limits.maxEntries)
        } catch {
            throw failure("", error.description)
        }
        for entry in zip.entries {
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
            if entry.name.hasPrefix("/") || entry.name.contains("\\") || parts.contains("..") {
                throw failure("member \"\(entry.name)\"", "its path leaves the archive")
            }
        }
        let pickles = zip.entries.filter {
            $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/", omittingEmptySubsequences: false).count == 2
        }
        guard pickles.count == 1, let pickle = pickles.first else {
            if zip.entries.contains(where: { $0.name.hasSuffix("/constants.pkl") }) {
                throw failure("", "a TorchScript archive (torch.jit.save), not a torch.save file")
            }
            throw failure("", pickles.isEmpty ? "no <name>/data.pkl member: not a torch.save archive"
                          : "\(pickles.count) <name>/data.pkl members: \(pickles.map(\.name).joined(separator: ", "))")
        }
        let prefix = String(pickle.name.dropLast("/data.pkl".count))
        let members = Dictionary(zip.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

        func text(_ name: String, cap: Int) throws(TorchArchiveError) -> String? {
            guard let entry = members[prefix + "/" + name] else { return nil }
            do {
                return String(decoding: try zip.contents(of: entry, cap: cap), as: UTF8.self)
            } catch {
                throw failure("member \"\(entry.name)\"", error.description)
            }
        }
        let byteOrder: ByteOrder
        switch try text("byteorder", cap: 16) {
        case nil, "little": byteOrder = .little
        case "big": byteOrder = .big
        case let other?: throw failure("member \"\(prefix)/byteorder\"", "unknown byte order \"\(other)\"")
        }
        var versionText = try text("version", cap: 64)
        if versionText == nil { versionText = try text(".data/version", cap: 64) }
        guard let versionText else {
            throw failure("", "no \(prefix)/version member")
        }
        // torch.save writes 3; PyTorch's reader accepts 1 through 10.
        guard let version = Int(versionText.trimmingCharacters(in: .whitespacesAndNewlines)), (1...10).contains(version)
        else {
            throw failure("member \"\(prefix)/version\"", "unsupported format version \"\(versionText)\"")
        }

        let pickleBytes: Data
        do {
            pickleBytes = try zip.contents(of: pickle, cap: limits.maxPickleBytes)
        } catch {
            throw failure("member \"\(pickle.name)\"", error.description)
        }
        let root: PickleValue
        do {
            root = try PickleReader(pickleBytes).read()
        } catch {
            throw failure("\(pickle.name) byte \(error.offset)", error.reason)
        }

        var storages: [String: (reference: StorageReference, entry: ZipReader.Entry)] = [:]
        for (path, tensor) in Self.tensors(in: root) {
            let storage = tensor.storage
            let object = "tensor \(path)"
            guard !storage.key.isEmpty, !storage.key.contains("/"), storage.key != "..", storage.key != "." else {
                throw failure(object, "storage key \"\(storage.key)\" is not a plain name")
            }
            let name = "\(prefix)/data/\(storage.key)"
            guard let entry = members[name] else { throw failure(object, "its storage member \(name) is missing") }
            guard let elementSize = storage.dtype.elementSize else {
                throw failure(object, "dtype \(storage.dtype.qualifiedName) has no element size")
            }
            let (bytes, overflow) = storage.elementCount.multipliedReportingOverflow(by: Int64(elementSize))
            guard !overflow, UInt64(bytes) == entry.uncompressedSize else {
                throw failure(object, "storage \"\(storage.key)\" declares \(storage.elementCount) elements of "
                              + "\(elementSize) bytes, but member \(name) holds \(entry.uncompressedSize) bytes")
            }
            if let reason = Self.geometryProblem(tensor, maxElements: maxTensorElements) {
                throw failure(object, reason)
            }
            storages[storage.key] = (storage, entry)
        }
        (self.file, self.prefix, self.root, self.byteOrder) = (file, prefix, root, byteOrder)
        (self.zip, self.data, self.storages, self.maxTensorElements) = (zip, data, storages, maxTensorElements)
    }

    /// Every tensor in a value tree with its path (`["state_dict"]["0.weight"]`, `[2]`), in tree order.
    package static func tensors(in value: PickleValue) -> [(path: String, tensor: TensorReference)] {
        var found: [(String, TensorReference)] = []
        func visit(_ value: PickleValue, _ path: String) {
            switch value {
            case .tensor(let tensor): found.append((path.isEmpty ? "(root)" : path, tensor))
            case .tuple(let items), .list(let items), .set(let items):
                for (index, item) in items.enumerated() { visit(item, "\(path)[\(index)]") }
            case .dict(let dict):
                for entry in dict.entries { visit(entry.value, path + "[" + keyText(entry.key) + "]") }
                for entry in dict.attributes { visit(entry.value, path + "." + keyText(entry.key)) }
            default: break
            }
        }
        visit(value, "")
        return found
    }

    private static func keyText(_ key: PickleValue) -> String {
        switch key {
        case .string(let text): "\"\(text)\""
        case .int(let number): "\(number)"
        default: "\(key)"
        }
    }

    /// Why a tensor's view does not fit its storage, or nil: sizes, strides and the offset are non-negative and
    /// the furthest element lies inside the storage, with every product and sum checked for overflow.
    static func geometryProblem(_ tensor: TensorReference, maxElements: Int) -> String? {
        guard tensor.shape.count == tensor.strides.count else {
            return "size \(tensor.shape) and stride \(tensor.strides) differ in length"
        }
        if let negative = tensor.shape.first(where: { $0 < 0 }) { return "negative size \(negative) in \(tensor.shape)" }
        if let negative = tensor.strides.first(where: { $0 < 0 }) {
            return "negative stride \(negative) in \(tensor.strides)"
        }
        guard tensor.storageOffset >= 0 else { return "negative storage offset \(tensor.storageOffset)" }
        var count: Int64 = 1
        for dimension in tensor.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Int64(maxElements) else {
                return "size \(tensor.shape) is more than the limit of \(maxElements) elements"
            }
            count = product
        }
        guard count > 0 else {
            return tensor.storageOffset <= tensor.storage.elementCount ? nil
                : "storage offset \(tensor.storageOffset) lies past the storage's \(tensor.storage.elementCount) elements"
        }
        var last = tensor.storageOffset
        for (dimension, stride) in Swift.zip(tensor.shape, tensor.strides) {
            let (step, stepOverflow) = (dimension - 1).multipliedReportingOverflow(by: stride)
            let (sum, sumOverflow) = last.addingReportingOverflow(step)
            guard !stepOverflow, !sumOverflow else { return "size \(tensor.shape) and stride \(tensor.strides) overflow" }
            last = sum
        }
        guard last < tensor.storage.elementCount else {
            return "offset \(tensor.storageOffset), size \(tensor.shape) and stride \(tensor.strides) reach element "
                + "\(last), past the storage's \(tensor.storage.elementCount) elements"
        }
        return nil
    }

    /// The values of a tensor of this archive's tree, gathered row-major from its storage (any strides, checked
    /// when the archive was opened). `path` names it in errors.
    package func tensor(_ tensor: TensorReference, at path: String) throws(TorchArchiveError) -> TorchTensor {
        let object = "tensor \(path)"
        let storage = tensor.storage
        guard let (checked, entry) = storages[storage.key], checked == storage else {
            throw TorchArchiveError(file: file, object: object, reason: "its storage \"\(storage.key)\" is not one of this archive's tree")
        }
        if let reason = Self.geometryProblem(tensor, maxElements: maxTensorElements) {
            throw TorchArchiveError(file: file, object: object, reason: reason)
        }
        guard [.float32, .float64, .float16, .bfloat16, .int64].contains(storage.dtype) else {
            throw TorchArchiveError(file: file, object: object, reason: "dtype \(storage.dtype.qualifiedName) is not "
                                    + "supported (float32, float64, float16, bfloat16 and int64 are)")
        }
        let bytes: Data
        do {
            bytes = try zip.contents(of: entry, cap: Int(clamping: entry.uncompressedSize))
        } catch {
            throw TorchArchiveError(file: file, object: "member \"\(entry.name)\"", reason: error.description)
        }
        defer {
            // Another view of the same storage reads the pages from the file again.
            if releasesPages && entry.method == 0 {
                MappedFile.releasePages(bytes.startIndex - data.startIndex..<bytes.endIndex - data.startIndex, of: data)
            }
        }
        let swap = byteOrder == .big
        let shape = tensor.shape.map { Int($0) }
        if !swap, let contiguous = Self.contiguousValues(tensor, bytes: bytes) {
            return TorchTensor(shape: shape, dtype: storage.dtype, values: contiguous)
        }
        let indices = Self.storageIndices(tensor)
        return bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> TorchTensor in
            func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> T {
                let value = raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self)
                return swap ? value.byteSwapped : T(littleEndian: value)
            }
            switch storage.dtype {
            case .float32:
                return TorchTensor(shape: shape, dtype: .float32, values: .float(indices.map { Float(bitPattern: load(UInt32.self, $0)) }))
            case .float16:
                return TorchTensor(shape: shape, dtype: .float16, values: .float(indices.map { Float(Float16(bitPattern: load(UInt16.self, $0))) }))
            case .bfloat16:
                return TorchTensor(shape: shape, dtype: .bfloat16, values: .float(indices.map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }))
            case .float64:
                return TorchTensor(shape: shape, dtype: .float64, values: .double(indices.map { Double(bitPattern: load(UInt64.self, $0)) }))
            default:
                return TorchTensor(shape: shape, dtype: .int64, values: .int64(indices.map { Int64(bitPattern: load(UInt64.self, $0)) }))
            }
        }
    }

    /// A row-major contiguous float32, float64 or int64 tensor's values copied straight from its little-endian
    /// storage bytes (what gathering element by element gives, without a table of indices); nil for any other.
    static func contiguousValues(_ tensor: TensorReference, bytes: Data) -> TorchTensor.Values? {
        guard tensor.strides == TensorReference.contiguousStrides(tensor.shape),
              let size = tensor.storage.dtype.elementSize,
              [.float32, .float64, .int64].contains(tensor.storage.dtype) else { return nil }
        // The geometry check bounded the view by the storage, so these fit.
        let count = tensor.shape.reduce(1) { $0 * Int($1) }
        let start = Int(tensor.storageOffset) * size
        return bytes.withUnsafeBytes { raw -> TorchTensor.Values in
            let part = UnsafeRawBufferPointer(rebasing: raw[start..<(start + count * size)])
            func copied<T>(_: T.Type) -> [T] {
                [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: part)
                    initialized = count
                }
            }
            switch tensor.storage.dtype {
            case .float32: return .float(copied(Float.self))
            case .float64: return .double(copied(Double.self))
            default: return .int64(copied(Int64.self))
            }
        }
    }

    /// A storage's bytes in little-endian order (swapped from a big-endian file), for copying it whole.
    package func storageBytes(_ storage: StorageReference) throws(TorchArchiveError) -> Data {
        guard let (checked, entry) = storages[storage.key], checked == storage, let size = storage.dtype.elementSize else {
            throw TorchArchiveError(file: file, object: "storage \"\(storage.key)\"",
                                    reason: "not a storage of this archive's tree")
        }
        var bytes: Data
        do {
            bytes = Data(try zip.contents(of: entry, cap: Int(clamping: entry.uncompressedSize)))
        } catch {
            throw TorchArchiveError(file: file, object: "member \"\(entry.name)\"", reason: error.description)
        }
        if byteOrder == .big && size > 1 {
            bytes.withUnsafeMutableBytes { raw in
                for start in stride(from: 0, to: raw.count, by: size) {
                    raw[start..<start + size].reverse()
                }
            }
        }
        return bytes
    }

    /// The storage index of each element in row-major order.
    static func storageIndices(_ tensor: TensorReference) -> [Int] {
        let shape = tensor.shape.map { Int($0) }, strides = tensor.strides.map { Int($0) }
        let count = shape.reduce(1, *)
        guard count > 0 else { return [] }
        var indices = [Int](repeating: 0, count: count)
        var counter = [Int](repeating: 0, count: shape.count)
        var current = Int(tensor.storageOffset)
        for element in 0..<count {
            indices[element] = current
            // The odometer: step the last dimension, carry into earlier ones.
            var dimension = shape.count - 1
            while dimension >= 0 {
                counter[dimension] += 1
                current += strides[dimension]
                if counter[dimension] < shape[dimension] { break }
                current -= strides[dimension] * shape[dimension]
                counter[dimension] = 0
                dimension -= 1
            }
        }
        return indices
    }
}
