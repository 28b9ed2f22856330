import FormatSupport
import JSONSupport
import MLPDocument
/// Tensors in JSON model files: `{"dtype": "float32"|"float64", "shape": [d0, d1, …], "crc32c": "…", "data": …}`
/// where data is
///
/// - a flat row-major array of numbers in the shortest form that reads back to the same value in the tensor's
///   dtype (float32 `0.1` is written `0.1`), or
/// - a string holding the standard, padded base64 of the values' little-endian bytes.
///
/// JSON numbers cannot express NaN or ±∞, so a tensor holding one is always written as base64, whatever
/// encoding was asked for. Reading either form gives bit-identical tensors, `-0.0` and subnormals included.
///
/// `crc32c` (8 lowercase hex digits) is the CRC-32C of the values' little-endian bytes, the number the HDF5 layout
/// stores as `@crc32c`, whichever form data takes. A changed digit or base64 character otherwise reads back as
/// another valid value. It is optional, so that a tensor edited by hand loads once its checksum is dropped.
extension JSONModelCodec {
    package static let tensorKeys: Set<String> = ["dtype", "shape", "crc32c", "data"]
    /// The model's tensors have rank 1 or 2; a longer shape list is refused before it is read.
    package static let maxRank = 8

    package static func usesArray(_ tensor: Tensor, _ encoding: JSONTensorEncoding) -> Bool {
        switch encoding {
        case .array: true
        case .base64: false
        case .auto: tensor.count <= JSONTensorEncoding.autoArrayLimit
        }
    }

    package static func write(_ tensor: Tensor, encoding: JSONTensorEncoding, to writer: inout JSONWriter) {
        writer.beginObject(inline: true)
        writer.key("dtype"); writer.string(tensor.dtype.rawValue)
        writer.key("shape")
        writer.beginArray(inline: true)
        for dimension in tensor.shape { writer.integer(dimension) }
        writer.endArray()
        writer.key("crc32c"); writer.string(checksumText(checksum(of: tensor)))
        writer.key("data")
        var wroteArray = false
        if usesArray(tensor, encoding) {
            switch tensor.storage {
            case .float32(let values): wroteArray = values.withUnsafeBufferPointer { writer.numberArray($0) }
            case .float64(let values): wroteArray = values.withUnsafeBufferPointer { writer.numberArray($0) }
            }
        }
        if !wroteArray { withLittleEndianBytes(of: tensor) { writer.base64String($0) } }
        writer.endObject()
    }

    /// The CRC-32C of the tensor's values as little-endian bytes.
    static func checksum(of tensor: Tensor) -> UInt32 {
        withLittleEndianBytes(of: tensor) { CRC32C.checksum($0) }
    }

    /// The checksum as the file stores it: 8 lowercase hex digits.
    static func checksumText(_ crc: UInt32) -> String {
        let digits = String(crc, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    private static func withLittleEndianBytes<R>(of tensor: Tensor, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        #if _endian(little)
        return tensor.withUnsafeBytes(body)
        #else
        switch tensor.storage {
        case .float32(let values): return values.map(\.bitPattern.littleEndian).withUnsafeBytes(body)
        case .float64(let values): return values.map(\.bitPattern.littleEndian).withUnsafeBytes(body)
        }
        #endif
    }
}

extension JSONModelCodec.Reader {
    /// Reads a tensor that must have shape `expected` (`owner` says whose shape it is, for messages). The dtype,
    /// the shape, its byte size against the limits and the data's length are all checked before the values are
    /// allocated.
    package mutating func readTensor(_ value: JSONValue, expected: [Int], owner: String) throws(JSONError) -> Tensor {
        try DocumentJSON.requireKeys(value, allowed: JSONModelCodec.tensorKeys)
        let dtypeValue = try value.value(at: "dtype")
        let dtypeName = try dtypeValue.string()
        guard let dtype = Tensor.DType(rawValue: dtypeName) else {
            throw dtypeValue.error(.value, "unsupported dtype \(JSONPath.quoted(dtypeName)); supported: "
                                       + Tensor.DType.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let shapeValue = try value.value(at: "shape")
        let (shape, count) = try readShape(shapeValue)
        guard shape == expected else {
            throw shapeValue.error(.value, "shape \(shape) does not match the architecture: \(owner) needs \(expected)")
        }
        try reserve(count: count, of: dtype, shape: shape, at: shapeValue)
        let storedChecksum = try readChecksum(value)
        let data = try value.value(at: "data")
        let tensor: Tensor
        switch data.kind {
        case .array: tensor = try readArray(data, shape: shape, count: count, dtype: dtype)
        case .string: tensor = try readBase64(data, shape: shape, count: count, dtype: dtype)
        default: throw data.error(.type, "expected an array of numbers or a base64 string, found \(data.kind)")
        }
        if let storedChecksum { try verify(tensor, against: storedChecksum, at: value) }
        if let releaseText, let range = data.bulkTextRange { releaseText(range) }
        return tensor
    }

    /// The tensor's `crc32c`, if it has one: 8 lowercase hex digits, as written.
    private func readChecksum(_ tensor: JSONValue) throws(JSONError) -> UInt32? {
        guard let value = try tensor.optionalValue(at: "crc32c") else { return nil }
        let expectation = "expected 8 lowercase hex digits (the CRC-32C of the values' little-endian bytes)"
        guard value.kind == .string else { throw value.error(.type, "\(expectation), found \(value.kind)") }
        let text = try value.string()
        let isHex = text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                                           || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
        guard text.utf8.count == 8, isHex, let crc = UInt32(text, radix: 16) else {
            throw value.error(.value, "\(expectation), found \(JSONPath.quoted(text))")
        }
        return crc
    }

    private func verify(_ tensor: Tensor, against stored: UInt32, at value: JSONValue) throws(JSONError) {
        let computed = JSONModelCodec.checksum(of: tensor)
        guard computed == stored else {
            throw value.error(.value, "checksum mismatch (stored crc32c \(CRC32C.hex(stored)), computed "
                                  + "\(CRC32C.hex(computed))): the values differ from those written (the file is "
                                  + "corrupt, or was edited by hand: an edited tensor should drop its \"crc32c\" field)")
        }
    }

    /// Dimensions ≥ 0 and an element count that does not overflow.
    private func readShape(_ value: JSONValue) throws(JSONError) -> (shape: [Int], count: Int) {
        guard try value.arrayCount() <= JSONModelCodec.maxRank else {
            throw value.error(.value, "expected at most \(JSONModelCodec.maxRank) dimensions, found \(try value.arrayCount())")
        }
        var shape: [Int] = []
        for dimension in try value.array() { shape.append(try dimension.int(atLeast: 0)) }
        guard let count = Tensor.elementCount(of: shape) else {
            throw value.error(.value, "shape \(shape) has more elements than can be addressed")
        }
        return (shape, count)
    }

    /// Charges the tensor's bytes to the limits, before anything is allocated for it.
    private mutating func reserve(count: Int, of dtype: Tensor.DType, shape: [Int], at value: JSONValue) throws(JSONError) {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes <= limits.maxTensorBytes else {
            throw value.error(.value, "shape \(shape) of \(dtype.rawValue) takes \(overflow ? "more than Int.max" : "\(bytes)") "
                                  + "bytes, over the limit of \(limits.maxTensorBytes) bytes per tensor")
        }
        let (total, totalOverflow) = totalTensorBytes.addingReportingOverflow(bytes)
        guard !totalOverflow, total <= limits.maxTotalBytes else {
            throw value.error(.value, "the tensors up to this one take \(total) bytes, over the limit of "
                                  + "\(limits.maxTotalBytes) bytes in all")
        }
        totalTensorBytes = total
    }

    private func readArray(_ data: JSONValue, shape: [Int], count: Int, dtype: Tensor.DType) throws(JSONError) -> Tensor {
        let found = try data.arrayCount()
        guard found == count else {
            throw data.error(.value, "has \(found) values; shape \(shape) needs \(count)")
        }
        switch dtype {
        case .float32:
            var values = [Float](repeating: 0, count: count)
            try values.withUnsafeMutableBufferPointer { (buffer) throws(JSONError) in try data.readNumbers(into: buffer) }
            return Tensor(unchecked: shape, storage: .float32(values))
        case .float64:
            var values = [Double](repeating: 0, count: count)
            try values.withUnsafeMutableBufferPointer { (buffer) throws(JSONError) in try data.readNumbers(into: buffer) }
            return Tensor(unchecked: shape, storage: .float64(values))
        }
    }

    private func readBase64(_ data: JSONValue, shape: [Int], count: Int, dtype: Tensor.DType) throws(JSONError) -> Tensor {
        try data.withStringBytes { (text) throws(JSONError) -> Tensor in
            let byteCount = count * dtype.byteSize
            let expected = Base64.encodedCount(byteCount)
            guard text.count == expected else {
                throw data.error(.value, "base64 data has \(text.count) characters; shape \(shape) of \(dtype.rawValue) "
                                     + "is \(byteCount) bytes, which take \(expected)")
            }
            switch dtype {
            case .float32:
                var values = [Float](repeating: 0, count: count)
                try decode(text, into: &values, at: data)
                return Tensor(unchecked: shape, storage: .float32(values))
            case .float64:
                var values = [Double](repeating: 0, count: count)
                try decode(text, into: &values, at: data)
                return Tensor(unchecked: shape, storage: .float64(values))
            }
        }
    }

    /// Base64 straight into the tensor's storage; the bytes are little-endian, the host order on every platform
    /// this builds for except big-endian ones, where they are swapped afterwards.
    private func decode<T: BitPatternFloat>(_ text: UnsafeRawBufferPointer, into values: inout [T], at data: JSONValue) throws(JSONError) {
        let failure: Base64.DecodingError? = values.withUnsafeMutableBytes { bytes in
            do throws(Base64.DecodingError) {
                try Base64.decode(text, into: bytes)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw data.error(.value, failure.description) }
        #if _endian(big)
        for index in values.indices { values[index] = T(bitPattern: T.Bits(littleEndian: values[index].bitPattern)) }
        #endif
    }
}

/// Float and Double by their bits, for byte-order conversion.
package protocol BitPatternFloat {
    associatedtype Bits: FixedWidthInteger
    var bitPattern: Bits { get }
    init(bitPattern: Bits)
}

extension Float: BitPatternFloat {}
extension Double: BitPatternFloat {}
