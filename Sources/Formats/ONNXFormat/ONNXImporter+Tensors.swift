import Foundation
import FormatSupport
import MLPDocument
import ONNXSupport

/// An initializer's or a Constant node's values, checked against its dims and decoded.
struct ONNXConstant {
    enum Values {
        case float32([Float])
        case float64([Double])
        case int64([Int64])
    }

    var shape: [Int]
    var values: Values
    /// The ONNX dtype it was widened from (float16, bfloat16), if any.
    var widenedFrom: String?

    var count: Int {
        switch values {
        case .float32(let values): values.count
        case .float64(let values): values.count
        case .int64(let values): values.count
        }
    }

    func double(at index: Int) -> Double {
        switch values {
        case .float32(let values): Double(values[index])
        case .float64(let values): values[index]
        case .int64(let values): Double(values[index])
        }
    }

    /// The one value of a tensor with one element (a scalar, `[1]`, `[1, 1]`).
    var scalar: Double? { count == 1 ? double(at: 0) : nil }

    var isFloatingPoint: Bool {
        if case .int64 = values { return false }
        return true
    }

    var dtypeName: String {
        switch values {
        case .float32: "float32"
        case .float64: "float64"
        case .int64: "int64"
        }
    }

    /// The values as a document tensor in `shape` (floating-point constants only).
    func tensor(shape: [Int]) -> Tensor? {
        switch values {
        case .float32(let values): Tensor(unchecked: shape, storage: .float32(values))
        case .float64(let values): Tensor(unchecked: shape, storage: .float64(values))
        case .int64: nil
        }
    }
}

/// Turns `TensorProto`s into `ONNXConstant`s: dims checked (non-negative, element count and byte size
/// overflow-checked), the data's size checked against them before anything is allocated from the dims, the
/// limits applied, external data read only from regular files inside the model's folder.
struct ONNXTensorReader {
    let file: String
    /// The model's folder, symlinks resolved: external data must resolve inside it.
    let folder: String
    let limits: LoadLimits
    /// The initializers' raw_data left in the file's bytes (`ONNXInitializerData`), when the model was split.
    var initializerSource: ONNXInitializerSource?
    private(set) var totalBytes = 0

    init(file: String, limits: LoadLimits) {
        self.file = file
        self.limits = limits
        let directory = (file as NSString).deletingLastPathComponent
        folder = ONNXTensorReader.realPath(directory.isEmpty ? "." : directory) ?? directory
    }

    /// ONNX's element types that mlpconv reads: name, bytes per stored element.
    static func elementType(_ code: Int32) -> (name: String, size: Int)? {
        switch code {
        case 1: ("float32", 4)
        case 11: ("float64", 8)
        case 10: ("float16", 2)
        case 16: ("bfloat16", 2)
        case 7: ("int64", 8)
        case 6: ("int32", 4)
        default: nil
        }
    }

    /// ONNX's name for an element type code, for messages.
    static func typeName(_ code: Int32) -> String {
        if let known = elementType(code) { return known.name }
        let names: [Int32: String] = [0: "undefined", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 8: "string",
                                      9: "bool", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128"]
        return names[code] ?? "element type \(code)"
    }

    /// `initializer`: the graph initializer's index, whose raw_data may lie in `initializerSource` rather than in
    /// `proto`.
    mutating func read(_ proto: Onnx_TensorProto, object: String, initializer: Int? = nil) throws(ModelFileError) -> ONNXConstant {
        let fail = { [file] (reason: String) in ModelFileError(file: file, object: object, reason: reason) }
        guard let (typeName, size) = Self.elementType(proto.dataType) else {
            throw fail("element type \(Self.typeName(proto.dataType)) is not supported (mlpconv reads float32 and float64 "
                + "weights, float16 and bfloat16 widened to float32, and int64/int32 shapes)")
        }
        var shape: [Int] = []
        for dimension in proto.dims {
            guard dimension >= 0 else { throw fail("dimension \(dimension) is negative") }
            guard let value = Int(exactly: dimension) else { throw fail("dimension \(dimension) is too large") }
            shape.append(value)
        }
        guard let count = Tensor.elementCount(of: shape) else { throw fail("dims \(shape) overflow the element count") }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else { throw fail("dims \(shape) of \(typeName) overflow the byte count") }
        if proto.hasSegment { throw fail("segmented tensors are not supported") }

        var sources: [String] = []
        if proto.hasRawData { sources.append("raw_data") }
        if !proto.floatData.isEmpty { sources.append("float_data") }
        if !proto.doubleData.isEmpty { sources.append("double_data") }
        if !proto.int64Data.isEmpty { sources.append("int64_data") }
        if !proto.int32Data.isEmpty { sources.append("int32_data") }
        if !proto.stringData.isEmpty || !proto.uint64Data.isEmpty { throw fail("holds string or uint64 data, not \(typeName) values") }
        let external = proto.dataLocation == .external
        if external { sources.append("external data") }
        guard sources.count <= 1 else { throw fail("holds both \(sources.joined(separator: " and "))") }

        // Checked before any array of `count` elements exists: the data present must match the dims first.
        let bytes: Data
        if external {
            bytes = try externalBytes(proto, byteCount: byteCount, typeName: typeName, shape: shape, fail: fail)
        } else if proto.hasRawData || sources.isEmpty {
            let located = initializer.flatMap { initializerSource?.range(ofInitializer: $0) }
            let rawCount = located?.count ?? proto.rawData.count
            guard rawCount == byteCount else {
                let holds = sources.isEmpty ? "holds no data" : "raw_data holds \(rawCount) bytes"
                throw fail("\(holds), dims \(shape) of \(typeName) need \(byteCount)")
            }
            if let located, let source = initializerSource {
                try account(decodedBytes: count * (size == 2 ? 4 : size), fail: fail)
                // The pages of what has been converted go back as the conversion goes, not once it is done: the
                // largest tensor's bytes are then never resident beside its values.
                return source.bytes.withUnsafeBytes { raw in
                    Self.decode(UnsafeRawBufferPointer(rebasing: raw[located]), shape: shape, count: count,
                                code: proto.dataType) { converted in
                        source.release((located.lowerBound + converted.lowerBound)..<(located.lowerBound + converted.upperBound))
                    }
                }
            }
            bytes = proto.rawData
        } else {
            return try typed(proto, shape: shape, count: count, typeName: typeName, field: sources[0], fail: fail)
        }
        try account(decodedBytes: count * (size == 2 ? 4 : size), fail: fail)
        return bytes.withUnsafeBytes { Self.decode($0, shape: shape, count: count, code: proto.dataType) }
    }

    private mutating func account(decodedBytes: Int, fail: (String) -> ModelFileError) throws(ModelFileError) {
        guard decodedBytes <= limits.maxTensorBytes else {
            throw fail("\(decodedBytes) bytes exceed the limit of \(limits.maxTensorBytes) per tensor")
        }
        totalBytes += decodedBytes
        guard totalBytes <= limits.maxTotalBytes else {
            throw fail("the tensors up to this one take \(totalBytes) bytes, over the limit of \(limits.maxTotalBytes)")
        }
    }

    /// Little-endian bytes of exactly `count` elements (checked by the caller) as values; `converted` is called with
    /// each range of `raw` once its values are in the result (16 MiB at a time).
    private static func decode(_ raw: UnsafeRawBufferPointer, shape: [Int], count: Int, code: Int32,
                               converted: (Range<Int>) -> Void = { _ in }) -> ONNXConstant {
        func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> T {
            T(littleEndian: raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
        }
        func values<Element>(storedSize: Int, _ element: (Int) -> Element) -> [Element] {
            let chunk = max((16 << 20) / storedSize, 1)
            return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
                var start = 0
                while start < count {
                    let end = start + min(chunk, count - start)
                    for index in start..<end { buffer.initializeElement(at: index, to: element(index)) }
                    initialized = end
                    converted((start * storedSize)..<(end * storedSize))
                    start = end
                }
            }
        }
        switch code {
        case 1:
            return ONNXConstant(shape: shape, values: .float32(values(storedSize: 4) { Float(bitPattern: load(UInt32.self, $0)) }))
        case 11:
            return ONNXConstant(shape: shape, values: .float64(values(storedSize: 8) { Double(bitPattern: load(UInt64.self, $0)) }))
        case 10:
            return ONNXConstant(shape: shape, values: .float32(values(storedSize: 2) { Float(Float16(bitPattern: load(UInt16.self, $0))) }),
                                widenedFrom: "float16")
        case 16:
            return ONNXConstant(shape: shape, values: .float32(values(storedSize: 2) { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }),
                                widenedFrom: "bfloat16")
        case 6:
            return ONNXConstant(shape: shape, values: .int64(values(storedSize: 4) { Int64(Int32(bitPattern: load(UInt32.self, $0))) }))
        default:
            return ONNXConstant(shape: shape, values: .int64(values(storedSize: 8) { Int64(bitPattern: load(UInt64.self, $0)) }))
        }
    }

    /// Values in the typed repeated fields (`float_data`, …), which must be the field the dtype uses and hold
    /// exactly the element count.
    private mutating func typed(
        _ proto: Onnx_TensorProto, shape: [Int], count: Int, typeName: String, field: String,
        fail: (String) -> ModelFileError
    ) throws(ModelFileError) -> ONNXConstant {
        let expected = switch proto.dataType {
        case 1: "float_data"
        case 11: "double_data"
        case 7: "int64_data"
        default: "int32_data"
        }
        guard field == expected else { throw fail("a \(typeName) tensor keeps its values in \(expected), not \(field)") }
        let held = switch proto.dataType {
        case 1: proto.floatData.count
        case 11: proto.doubleData.count
        case 7: proto.int64Data.count
        default: proto.int32Data.count
        }
        guard held == count else { throw fail("\(field) holds \(held) values, dims \(shape) need \(count)") }
        let size = Self.elementType(proto.dataType)?.size ?? 8
        try account(decodedBytes: count * (size == 2 ? 4 : size), fail: fail)
        switch proto.dataType {
        case 1: return ONNXConstant(shape: shape, values: .float32(proto.floatData))
        case 11: return ONNXConstant(shape: shape, values: .float64(proto.doubleData))
        case 7: return ONNXConstant(shape: shape, values: .int64(proto.int64Data))
        case 6: return ONNXConstant(shape: shape, values: .int64(proto.int32Data.map(Int64.init)))
        case 10:
            return ONNXConstant(shape: shape, values: .float32(proto.int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }),
                                widenedFrom: "float16")
        default:
            return ONNXConstant(shape: shape, values: .float32(proto.int32Data.map { Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16) }),
                                widenedFrom: "bfloat16")
        }
    }

    // MARK: External data

    /// The tensor's bytes from the file its `external_data` names: a relative path without `..` that resolves, symlinks
    /// followed, to a regular file inside the model's folder; `offset` and `length` inside that file, `length` equal to
    /// the dims' byte count. Only those bytes are read.
    private mutating func externalBytes(
        _ proto: Onnx_TensorProto, byteCount: Int, typeName: String, shape: [Int], fail: (String) -> ModelFileError
    ) throws(ModelFileError) -> Data {
        var entries: [String: String] = [:]
        for entry in proto.externalData {
            guard ["location", "offset", "length", "checksum"].contains(entry.key) else {
                throw fail("external_data key \"\(entry.key)\" is not one ONNX defines (location, offset, length, checksum)")
            }
            guard entries.updateValue(entry.value, forKey: entry.key) == nil else { throw fail("external_data key \"\(entry.key)\" is given twice") }
        }
        guard let location = entries["location"], !location.isEmpty else { throw fail("external data without a location") }
        guard !location.hasPrefix("/") else { throw fail("external data location \(location) is absolute (refused, not read)") }
        let components = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains("..") else {
            throw fail("external data location \(location) leaves the model's folder (refused, not read)")
        }
        func number(_ key: String) throws(ModelFileError) -> Int? {
            guard let text = entries[key] else { return nil }
            guard let value = Int(text), value >= 0 else { throw fail("external data \(key) \"\(text)\" is not a non-negative integer") }
            return value
        }
        let offset = try number("offset") ?? 0
        let length = try number("length")
        if let length, length != byteCount {
            throw fail("external data length \(length) disagrees with dims \(shape) of \(typeName) (\(byteCount) bytes)")
        }
        let path = folder + "/" + location
        guard let resolved = Self.realPath(path) else { throw fail("external data file \(location) does not exist beside the model") }
        guard resolved.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") else {
            throw fail("external data location \(location) resolves outside the model's folder (a symbolic link; refused, not read)")
        }
        var status = stat()
        guard stat(resolved, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw fail("external data location \(location) is not a regular file")
        }
        let fileSize = Int(status.st_size)
        guard offset <= fileSize else { throw fail("offset \(offset) lies past the end of \(location) (\(fileSize) bytes)") }
        guard byteCount <= fileSize - offset else {
            throw fail("offset \(offset) + length \(byteCount) runs past the end of \(location) (\(fileSize) bytes)")
        }
        guard byteCount <= limits.maxTensorBytes else {
            throw fail("\(byteCount) bytes exceed the limit of \(limits.maxTensorBytes) per tensor")
        }
        guard let handle = FileHandle(forReadingAtPath: resolved) else { throw fail("cannot open external data file \(location)") }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let bytes = try handle.read(upToCount: byteCount) ?? Data()
            guard bytes.count == byteCount else {
                throw fail("external data file \(location) ended after \(bytes.count) of \(byteCount) bytes")
            }
            return bytes
        } catch let error as ModelFileError {
            throw error
        } catch {
            throw fail("cannot read external data file \(location): \(error.localizedDescription)")
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
