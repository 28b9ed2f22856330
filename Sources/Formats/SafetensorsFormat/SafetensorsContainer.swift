import FormatSupport
import JSONSupport
import MLPDocument

/// The safetensors container as huggingface/safetensors 0.8 (`safetensors/src/tensor.rs`) defines it: an 8-byte
/// little-endian header length N, N bytes of UTF-8 JSON, then the tensors' bytes (little-endian, row-major).
/// The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the
/// byte buffer after the header), plus an optional `"__metadata__"` string → string map.
///
/// Reading refuses, as the reference reader does, each with its own message:
/// - a file shorter than the 8-byte length ("truncated");
/// - a header length over 100,000,000 bytes ("header too large");
/// - a header length that runs past the end of the file;
/// - a header that is not UTF-8 JSON, not an object, or has a duplicate key (json-c behind the audit);
/// - `__metadata__` that is not an object of strings;
/// - a tensor entry that is not an object with `dtype` (a known name), `shape` (integers ≥ 0) and
///   `data_offsets` (two integers ≥ 0);
/// - offsets that, sorted, do not start at 0 and follow each other with no hole or overlap, or end before they begin;
/// - a byte length other than the element count × the dtype's size (overflow-checked);
/// - a last offset that does not end exactly at the end of the file.
package struct SafetensorsContainer {
    package struct Entry: Equatable {
        package var name: String
        package var dtype: SafetensorsDType
        package var shape: [Int]
        /// Relative to the start of the byte buffer.
        package var begin: Int
        package var end: Int
    }

    /// In offset order (the reference reader's order), which is not the header's key order.
    package var entries: [Entry]
    package var metadata: [String: String]?
    /// Where the byte buffer starts in the file: 8 + the header length.
    package var dataStart: Int

    /// The reference's `MAX_HEADER_SIZE`.
    package static let maxHeaderBytes = 100_000_000

    /// Whether `head` starts like a safetensors file: the length's high byte is zero — JSON text never holds a
    /// NUL byte, so a JSON file cannot match — and the header begins with `{`. The length itself is checked by
    /// `parse`, so that a header length that is too large is reported as such, not as "not a model file".
    package static func matches(head: [UInt8]) -> Bool {
        head.count >= 9 && head[7] == 0 && head[8] == UInt8(ascii: "{")
    }

    package static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(ModelFileError) -> SafetensorsContainer {
        let headerLength = try headerLength(prefix: UnsafeRawBufferPointer(rebasing: bytes.prefix(8)),
                                            fileSize: bytes.count, file: file)
        return try parse(header: UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)]), fileSize: bytes.count,
                         file: file)
    }

    /// The header length the file's first (up to 8) bytes give, checked against the limit and the file's size
    /// before the header is read.
    package static func headerLength(prefix: UnsafeRawBufferPointer, fileSize: Int, file: String) throws(ModelFileError) -> Int {
        guard prefix.count >= 8, fileSize >= 8 else {
            throw ModelFileError(file: file, reason: "truncated: \(fileSize) bytes, shorter than the 8-byte header length")
        }
        var length: UInt64 = 0
        for index in (0..<8).reversed() { length = length << 8 | UInt64(prefix[index]) }
        guard length <= UInt64(maxHeaderBytes) else {
            throw ModelFileError(file: file, object: "header", reason: "header length \(length) is over safetensors' limit of \(maxHeaderBytes) bytes")
        }
        let headerLength = Int(length)
        guard headerLength <= fileSize - 8 else {
            throw ModelFileError(file: file, object: "header", reason: "header length \(headerLength) runs past the end of the file (\(fileSize - 8) bytes after the length)")
        }
        return headerLength
    }

    /// The container from its JSON header (the bytes after the length), checked against a file of `fileSize` bytes.
    package static func parse(header: UnsafeRawBufferPointer, fileSize: Int, file: String) throws(ModelFileError) -> SafetensorsContainer {
        let document: JSONDocument
        do {
            document = try JSONDocument.parse(header, file: file, limits: JSONLimits(
                maxBytes: maxHeaderBytes, maxDepth: 3, maxValues: 4_000_000))
        } catch {
            throw headerError(ModelFileError(error))
        }
        var container = SafetensorsContainer(entries: [], metadata: nil, dataStart: 8 + header.count)
        do {
            try container.read(document.root)
        } catch {
            throw headerError(ModelFileError(error))
        }
        let dataLength = fileSize - container.dataStart
        try container.checkOffsets(dataLength: dataLength, file: file)
        return container
    }

    private static func headerError(_ error: ModelFileError) -> ModelFileError {
        ModelFileError(file: error.file, object: "header " + (error.object ?? "$"), reason: error.reason)
    }

    private mutating func read(_ root: JSONValue) throws(JSONError) {
        guard root.kind == .object else { throw root.error(.type, "expected a JSON object, found \(root.kind)") }
        for (key, value) in try root.members() {
            if key == "__metadata__" {
                guard value.kind == .object else {
                    throw value.error(.type, "expected an object mapping strings to strings, found \(value.kind)")
                }
                var map: [String: String] = [:]
                for (name, member) in try value.members() {
                    guard member.kind == .string else {
                        throw member.error(.type, "metadata values must be strings, found \(member.kind)")
                    }
                    map[name] = try member.string()
                }
                metadata = map
                continue
            }
            guard value.kind == .object else {
                throw value.error(.type, "expected a tensor entry (an object with dtype, shape, data_offsets), found \(value.kind)")
            }
            let dtypeValue = try value.value(at: "dtype")
            let dtypeName = try dtypeValue.string()
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw dtypeValue.error(.value, "unknown dtype \(JSONPath.quoted(dtypeName)); safetensors defines "
                    + SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", "))
            }
            var shape: [Int] = []
            for dimension in try value.value(at: "shape").array() {
                let size = try dimension.int64()
                guard size >= 0, let int = Int(exactly: size) else {
                    throw dimension.error(.value, "expected a dimension ≥ 0, found \(size)")
                }
                shape.append(int)
            }
            let offsetsValue = try value.value(at: "data_offsets")
            let offsets = try offsetsValue.array()
            guard offsets.count == 2 else {
                throw offsetsValue.error(.value, "expected [begin, end], found \(offsets.count) numbers")
            }
            var pair: [Int] = []
            for offset in offsets {
                let number = try offset.int64()
                guard number >= 0, let int = Int(exactly: number) else {
                    throw offset.error(.value, "expected an offset ≥ 0, found \(number)")
                }
                pair.append(int)
            }
            entries.append(Entry(name: key, dtype: dtype, shape: shape, begin: pair[0], end: pair[1]))
        }
    }

    /// The reference's `Metadata::validate` and the end-of-file check, in its order: sorted by offsets, each
    /// tensor starts where the previous one ends, holds exactly its shape's bytes, and the last one ends the file.
    private mutating func checkOffsets(dataLength: Int, file: String) throws(ModelFileError) {
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var position = 0
        for entry in entries {
            let object = "tensor \"\(entry.name)\""
            guard entry.begin == position, entry.end >= entry.begin else {
                let why = entry.end < entry.begin ? "ends before it begins"
                    : entry.begin < position ? "overlaps the previous tensor, which ends at \(position)"
                    : "leaves a hole: the previous tensor ends at \(position)"
                throw ModelFileError(file: file, object: object, reason: "invalid data_offsets [\(entry.begin), \(entry.end)]: \(why)")
            }
            position = entry.end
            guard let count = Tensor.elementCount(of: entry.shape),
                  case let (bits, overflow) = count.multipliedReportingOverflow(by: entry.dtype.bitSize), !overflow else {
                throw ModelFileError(file: file, object: object, reason: "shape \(entry.shape) of \(entry.dtype.rawValue) has more bytes than can be addressed")
            }
            guard bits % 8 == 0 else {
                throw ModelFileError(file: file, object: object, reason: "shape \(entry.shape) of \(entry.dtype.rawValue) does not fill whole bytes")
            }
            guard entry.end - entry.begin == bits / 8 else {
                throw ModelFileError(file: file, object: object, reason: "data_offsets [\(entry.begin), \(entry.end)] hold \(entry.end - entry.begin) bytes, "
                    + "but shape \(entry.shape) of \(entry.dtype.rawValue) needs \(bits / 8)")
            }
        }
        guard position == dataLength else {
            throw ModelFileError(file: file, object: "header", reason: position < dataLength
                ? "the tensors end at byte \(position) of the data but the file has \(dataLength) bytes after the header (\(dataLength - position) not covered)"
                : "the tensors end at byte \(position) of the data but the file has only \(dataLength) bytes after the header (truncated)")
        }
    }

    // MARK: Writing

    /// One tensor to write: name, dtype, shape and its little-endian bytes.
    package struct Item {
        package var name: String
        package var dtype: SafetensorsDType
        package var shape: [Int]
        package var bytes: [UInt8]

        package init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }
    }

    /// What the header says of one tensor: everything but its bytes.
    package struct Layout {
        package var name: String
        package var dtype: SafetensorsDType
        package var shape: [Int]
        package var byteCount: Int

        package init(name: String, dtype: SafetensorsDType, shape: [Int], byteCount: Int) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.byteCount = byteCount
        }
    }

    /// The file the reference writer (`serialize`) produces, in memory.
    package static func serialize(_ items: [Item], metadata: [String: String]?) -> [UInt8] {
        let (header, order) = header(items.map { Layout(name: $0.name, dtype: $0.dtype, shape: $0.shape, byteCount: $0.bytes.count) },
                                     metadata: metadata)
        var bytes = header
        bytes.reserveCapacity(header.count + items.reduce(0) { $0 + $1.bytes.count })
        for index in order { bytes += items[index].bytes }
        return bytes
    }

    /// What the reference writer (`serialize`) puts before the tensors' bytes — the 8-byte length and the header —
    /// and the order the bytes follow in: tensors sorted by descending dtype (its alignment order) then by name,
    /// the header as compact JSON with `__metadata__` first (its keys sorted here: the reference's map has no
    /// order), padded with spaces to a multiple of 8. A writer streams each tensor's bytes after it, in `order`.
    package static func header(_ layouts: [Layout], metadata: [String: String]?) -> (bytes: [UInt8], order: [Int]) {
        let order = layouts.indices.sorted { i, j in
            let a = layouts[i], b = layouts[j]
            return a.dtype.order != b.dtype.order ? a.dtype.order > b.dtype.order : Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if let metadata {
            separator()
            appendString("__metadata__", to: &header)
            header += Array(":{".utf8)
            for (index, key) in metadata.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }).enumerated() {
                if index > 0 { header.append(UInt8(ascii: ",")) }
                appendString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                appendString(metadata[key] ?? "", to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for index in order {
            let item = layouts[index]
            separator()
            appendString(item.name, to: &header)
            header += Array(":{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":[\(item.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + item.byteCount)]}".utf8)
            offset += item.byteCount
        }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count)
        var length = UInt64(header.count)
        for _ in 0..<8 { bytes.append(UInt8(length & 0xFF)); length >>= 8 }
        bytes += header
        return (bytes, order)
    }

    /// A JSON string as serde_json writes it: `"` and `\` escaped, the short escapes for \b \t \n \f \r, `\u00XX`
    /// (lower-case hex) for the other control characters, everything else as UTF-8.
    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [0x5C, byte]
            case 0x5C: bytes += [0x5C, 0x5C]
            case 0x08: bytes += Array("\\b".utf8)
            case 0x09: bytes += Array("\\t".utf8)
            case 0x0A: bytes += Array("\\n".utf8)
            case 0x0C: bytes += Array("\\f".utf8)
            case 0x0D: bytes += Array("\\r".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// The reference's dtypes, in its declaration order — "increasing alignment", which the writer sorts by.
package enum SafetensorsDType: String, CaseIterable, Sendable {
    case BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, I16, U16, F16, BF16
    case I32, U32, F32, C64, F64, I64, U64

    package var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    package var bitSize: Int {
        switch self {
        case .F4: 4
        case .F6_E2M3, .F6_E3M2: 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: 8
        case .I16, .U16, .F16, .BF16: 16
        case .I32, .U32, .F32: 32
        case .C64, .F64, .I64, .U64: 64
        }
    }
}
