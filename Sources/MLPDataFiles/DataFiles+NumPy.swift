import Foundation
import MLPCore
internal import ZipSupport

// NumPy data files: a lone `.npy` (features only) and `.npz` archives holding `x.npy` and, optionally, `y.npy`.
//
// The `.npy` format (numpy's `lib/format.py`): the magic `\x93NUMPY`, a version byte pair, a little-endian header
// length (2 bytes in version 1.0, 4 in 2.0 and 3.0), then a Python dict literal such as
// `{'descr': '<f4', 'fortran_order': False, 'shape': (150, 4), }` padded with spaces and a newline, then the
// raw elements. The declared shape and type are checked against the bytes actually present before anything
// is allocated for them.

/// A parsed `.npy` header.
struct NPYHeader: Equatable {
    enum Kind: Equatable { case float, signed, unsigned, bool }

    var kind: Kind
    /// Bytes per element: 1, 2, 4 or 8.
    var itemSize: Int
    var bigEndian: Bool
    /// numpy's type string, for messages (`<f4`).
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]
    /// Where the elements start.
    var dataOffset: Int
    /// Elements and their bytes, already checked against the limits.
    var count: Int
    var byteCount: Int
}

/// Where NumPy errors point: the array's name in an `.npz`, nothing for a lone `.npy`.
struct NPYSite {
    var file: String
    /// `x` or `y` in an archive; nil for a lone `.npy`.
    var array: String?

    func error(_ reason: String, index: [Int]? = nil) -> DataFileError {
        if let array { return DataFileError(file: file, location: .array(array, index: index), reason: reason) }
        if let index { return DataFileError(file: file, location: .array("", index: index), reason: reason) }
        return DataFileError(file: file, reason: reason)
    }
}

enum NPY {
    /// numpy refuses headers over 10 000 bytes by default; allow some slack for hand-written files.
    static let maxHeaderLength = 65_536

    /// Parses the header at the start of `bytes`, or returns nil if `bytes` is too short to hold all of it.
    static func header(_ bytes: UnsafeRawBufferPointer, site: NPYSite, limits: DataLimits) throws(DataFileError) -> NPYHeader? {
        let magicLength = min(bytes.count, DataFiles.npyMagic.count)
        guard bytes.prefix(magicLength).elementsEqual(DataFiles.npyMagic.prefix(magicLength)) else {
            throw site.error("not a .npy array (no \\x93NUMPY magic)")
        }
        guard bytes.count >= 10 else { return nil }
        let major = bytes[6], minor = bytes[7]
        let lengthStart: Int
        let headerLength: Int
        switch major {
        case 1:
            lengthStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { return nil }
            lengthStart = 12
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default:
            throw site.error(".npy format version \(major).\(minor) is not supported (1.0, 2.0 and 3.0 are)")
        }
        guard headerLength <= maxHeaderLength else {
            throw site.error(".npy header of \(headerLength) bytes is over the limit of \(maxHeaderLength)")
        }
        let dataOffset = lengthStart + headerLength
        guard bytes.count >= dataOffset else { return nil }
        // Version 1 and 2 headers are latin-1, version 3 UTF-8; every valid header is ASCII.
        let text = Array(bytes[lengthStart..<dataOffset])
        var parser = PythonLiteralParser(text: text)
        let dictionary: [String: PythonLiteral]
        do {
            dictionary = try parser.parseHeaderDictionary()
        } catch {
            throw site.error("malformed .npy header (\(error.reason)): \(String(decoding: text.prefix(120), as: UTF8.self).trimmingBlanks())")
        }

        guard case .string(let descr)? = dictionary["descr"] else {
            if case .list? = dictionary["descr"] {
                throw site.error("structured arrays (record dtypes) are not supported; save a plain numeric array")
            }
            throw site.error("the .npy header has no 'descr' type string")
        }
        guard case .bool(let fortranOrder)? = dictionary["fortran_order"] else {
            throw site.error("the .npy header has no 'fortran_order' flag")
        }
        guard case .tuple(let dimensions)? = dictionary["shape"] else {
            throw site.error("the .npy header has no 'shape' tuple")
        }
        var shape: [Int] = []
        for dimension in dimensions {
            guard case .int(let value) = dimension, value >= 0 else {
                throw site.error("the .npy shape \(PythonLiteral.tuple(dimensions)) is not a tuple of sizes")
            }
            shape.append(value)
        }
        var header = try type(descr, site: site)
        header.fortranOrder = fortranOrder
        header.shape = shape
        header.dataOffset = dataOffset

        // Sizes, overflow included, before anything is allocated.
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= limits.maxValues else {
                throw site.error("shape \(shapeText(shape)) holds more than the limit of \(limits.maxValues) numbers")
            }
            count = product
        }
        header.count = count
        header.byteCount = count * header.itemSize
        return header
    }

    /// The element type of a `descr` such as `<f4`, `>i8` or `|u1`.
    private static func type(_ descr: String, site: NPYSite) throws(DataFileError) -> NPYHeader {
        let characters = Array(descr.utf8)
        guard characters.count >= 3, let order = characters.first, let size = Int(String(decoding: characters[2...], as: UTF8.self))
        else { throw site.error("unsupported element type '\(descr)'; use float32, float64 or an integer type") }
        let kind: NPYHeader.Kind
        switch (characters[1], size) {
        case (UInt8(ascii: "f"), 2), (UInt8(ascii: "f"), 4), (UInt8(ascii: "f"), 8): kind = .float
        case (UInt8(ascii: "i"), 1), (UInt8(ascii: "i"), 2), (UInt8(ascii: "i"), 4), (UInt8(ascii: "i"), 8): kind = .signed
        case (UInt8(ascii: "u"), 1), (UInt8(ascii: "u"), 2), (UInt8(ascii: "u"), 4), (UInt8(ascii: "u"), 8): kind = .unsigned
        case (UInt8(ascii: "b"), 1): kind = .bool
        default:
            throw site.error("unsupported element type '\(descr)'; use float32, float64 or an integer type")
        }
        let bigEndian: Bool
        switch order {
        case UInt8(ascii: "<"), UInt8(ascii: "|"), UInt8(ascii: "="): bigEndian = false  // '=' is native: little here
        case UInt8(ascii: ">"): bigEndian = size > 1
        default: throw site.error("unsupported byte order in element type '\(descr)'")
        }
        return NPYHeader(kind: kind, itemSize: size, bigEndian: bigEndian, descr: descr, fortranOrder: false,
                         shape: [], dataOffset: 0, count: 0, byteCount: 0)
    }

    /// The elements of a checked array as `T`, row-major (Fortran-ordered arrays are reordered).
    /// `bytes` must start at the `.npy` magic and end right after the data.
    static func values<T: BinaryFloatingPoint>(_ header: NPYHeader, in bytes: UnsafeRawBufferPointer, as: T.Type) -> [T] {
        let data = UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset..<(header.dataOffset + header.byteCount)])
        var values = convert(data, header: header, as: T.self)
        if header.fortranOrder, header.shape.filter({ $0 > 1 }).count > 1 {
            // Column-major: the first index varies fastest. Walk the row-major positions with an index counter
            // and read each element at its column-major offset.
            let shape = header.shape
            var strides = [Int](repeating: 1, count: shape.count)
            for k in shape.indices.dropFirst() { strides[k] = strides[k - 1] * shape[k - 1] }
            var index = [Int](repeating: 0, count: shape.count)
            let source = values
            for position in values.indices {
                var offset = 0
                for k in shape.indices { offset += index[k] * strides[k] }
                values[position] = source[offset]
                var k = shape.count - 1
                while k >= 0 {
                    index[k] += 1
                    if index[k] < shape[k] { break }
                    index[k] = 0
                    k -= 1
                }
            }
        }
        return values
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    private static func convert<T: BinaryFloatingPoint>(_ data: UnsafeRawBufferPointer, header: NPYHeader,
                                                        as: T.Type) -> [T] {
        let count = header.count
        let swap = header.bigEndian
        return [T](unsafeUninitializedCapacity: count) { out, initialized in
            // Elements may be unaligned (an entry inside a zip, a header of odd length): load them unaligned.
            func each<Bits: FixedWidthInteger & UnsignedInteger>(_: Bits.Type, _ value: (Bits) -> T) {
                let size = MemoryLayout<Bits>.size
                for i in 0..<count {
                    let bits = data.loadUnaligned(fromByteOffset: i * size, as: Bits.self)
                    out[i] = value(swap ? bits.byteSwapped : bits)
                }
            }
            switch (header.kind, header.itemSize) {
            case (.float, 4):
                if T.self == Float.self, !swap, let source = data.baseAddress, let target = out.baseAddress {
                    UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: count * 4)
                } else {
                    each(UInt32.self) { T(Float(bitPattern: $0)) }
                }
            case (.float, 8): each(UInt64.self) { T(Double(bitPattern: $0)) }
            case (.float, _): each(UInt16.self) { T(halfToFloat($0)) }
            case (.signed, 1): for i in 0..<count { out[i] = T(Int8(bitPattern: data[i])) }
            case (.signed, 2): each(UInt16.self) { T(Int16(bitPattern: $0)) }
            case (.signed, 4): each(UInt32.self) { T(Int32(bitPattern: $0)) }
            case (.signed, _): each(UInt64.self) { T(Int64(bitPattern: $0)) }
            case (.unsigned, 1), (.bool, _): for i in 0..<count { out[i] = T(data[i]) }
            case (.unsigned, 2): each(UInt16.self) { T($0) }
            case (.unsigned, 4): each(UInt32.self) { T($0) }
            case (.unsigned, _): each(UInt64.self) { T($0) }
            }
            initialized = count
        }
    }

    /// IEEE binary16 → binary32 (exact: every half is a float).
    static func halfToFloat(_ bits: UInt16) -> Float {
        let sign: Float = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int((bits >> 10) & 0x1F)
        let fraction = Float(bits & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24  // zero and subnormals
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction * 0x1p-10) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// A version 1.0 `.npy` of float32 values, C order, header padded so the data starts on a 64-byte boundary
    /// (what numpy itself writes).
    static func encode(_ values: [Float], shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = DataFiles.npyMagic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + values.count * 4)
        for value in values {
            let bits = value.bitPattern.littleEndian
            bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
        }
        return bytes
    }
}

/// "(150, 4)" — shapes as numpy prints them.
func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

// MARK: - The header's Python literal

enum PythonLiteral: Equatable, CustomStringConvertible {
    case string(String), int(Int), bool(Bool), none, tuple([PythonLiteral]), list([PythonLiteral])

    var description: String {
        switch self {
        case .string(let text): "'\(text)'"
        case .int(let value): String(value)
        case .bool(let value): value ? "True" : "False"
        case .none: "None"
        case .tuple(let items): items.count == 1 ? "(\(items[0]),)" : "(" + items.map(\.description).joined(separator: ", ") + ")"
        case .list(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

struct PythonLiteralError: Error { var reason: String }

/// The subset of Python literals numpy writes in `.npy` headers: a dict of string keys whose values are strings,
/// booleans, integers, and tuples or lists of those (lists only in structured dtypes, which are refused later).
struct PythonLiteralParser {
    let text: [UInt8]
    var position = 0
    /// Nesting cap: a header of a thousand '(' must not exhaust the stack.
    var depth = 0

    init(text: [UInt8]) { self.text = text }

    mutating func parseHeaderDictionary() throws(PythonLiteralError) -> [String: PythonLiteral] {
        skipBlanks()
        try expect("{")
        var dictionary: [String: PythonLiteral] = [:]
        while true {
            skipBlanks()
            if peek == UInt8(ascii: "}") { position += 1; break }
            guard case .string(let key) = try value() else { throw PythonLiteralError(reason: "a key is not a string") }
            skipBlanks()
            try expect(":")
            let item = try value()
            if dictionary[key] != nil { throw PythonLiteralError(reason: "key '\(key)' appears twice") }
            dictionary[key] = item
            skipBlanks()
            if peek == UInt8(ascii: ",") { position += 1; continue }
            try expect("}")
            break
        }
        skipBlanks()
        guard position == text.count else { throw PythonLiteralError(reason: "text after the dictionary") }
        return dictionary
    }

    private var peek: UInt8? { position < text.count ? text[position] : nil }

    private mutating func skipBlanks() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func expect(_ character: Character) throws(PythonLiteralError) {
        guard let ascii = character.asciiValue, peek == ascii else {
            throw PythonLiteralError(reason: "expected '\(character)' at byte \(position)")
        }
        position += 1
    }

    private mutating func value() throws(PythonLiteralError) -> PythonLiteral {
        skipBlanks()
        guard let first = peek else { throw PythonLiteralError(reason: "unexpected end") }
        switch first {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            position += 1
            let start = position
            while let byte = peek, byte != first {
                if byte == UInt8(ascii: "\\") { throw PythonLiteralError(reason: "escapes in strings are not supported") }
                position += 1
            }
            guard peek == first else { throw PythonLiteralError(reason: "unterminated string") }
            let string = String(decoding: text[start..<position], as: UTF8.self)
            position += 1
            return .string(string)
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let close = first == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            depth += 1
            defer { depth -= 1 }
            guard depth <= 16 else { throw PythonLiteralError(reason: "nested too deeply") }
            position += 1
            var items: [PythonLiteral] = []
            while true {
                skipBlanks()
                if peek == close { position += 1; break }
                items.append(try value())
                skipBlanks()
                if peek == UInt8(ascii: ",") { position += 1; continue }
                guard peek == close else { throw PythonLiteralError(reason: "expected ',' or a closing bracket at byte \(position)") }
                position += 1
                break
            }
            return first == UInt8(ascii: "(") ? .tuple(items) : .list(items)
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
            let start = position
            position += 1
            while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
            guard let number = Int(String(decoding: text[start..<position], as: UTF8.self)) else {
                throw PythonLiteralError(reason: "integer out of range")
            }
            if peek == UInt8(ascii: "L") { position += 1 }  // Python 2 longs, in files from old numpy versions
            return .int(number)
        default:
            for (word, literal) in [("True", PythonLiteral.bool(true)), ("False", .bool(false)), ("None", .none)]
            where text[position...].starts(with: word.utf8) {
                position += word.utf8.count
                return literal
            }
            throw PythonLiteralError(reason: "unexpected character at byte \(position)")
        }
    }
}

// MARK: - Loading

extension DataFiles {
    /// A lone `.npy`: features only, `[rows, inputs]` (or `[rows]` for a one-input model).
    static func loadNPY(_ path: String, shape: ModelShape, limits: DataLimits) throws(DataFileError) -> Dataset<Float> {
        let site = NPYSite(file: path, array: nil)
        if shape.requireTargets {
            throw DataFileError(file: path, reason: "a .npy file holds features only, but targets are needed: "
                                    + "use an .npz with arrays x and y, an HDF5 file, or a CSV file")
        }
        let file = try InputFile(path: path)
        // The header first, from its own few bytes: the shape it declares is checked against the file's size
        // before the file is read.
        var head = [UInt8](repeating: 0, count: NPY.maxHeaderLength + 12)
        head.removeSubrange(try file.readBytes(into: &head, at: 0)...)
        let parsed = try head.withUnsafeBytes { raw in
            Result { () throws(DataFileError) in try NPY.header(raw, site: site, limits: limits) }
        }.get()
        guard let header = parsed else { throw site.error("truncated .npy header") }
        if file.size >= 0 {
            try checkDataSize(header, available: file.size - header.dataOffset, site: site)
        }
        try checkFeatureShape(header.shape, model: shape) { reason in site.error(reason) }
        let bytes = try file.readAll(maxBytes: limits.maxBytes)
        try checkDataSize(header, available: bytes.count - 1 - header.dataOffset, site: site)
        let features = bytes.withUnsafeBytes { raw in
            NPY.values(header, in: UnsafeRawBufferPointer(rebasing: raw.dropLast()), as: Float.self)
        }
        try checkFinite(features, columns: max(shape.inputs, 1), vector: header.shape.count == 1) { reason, index in
            site.error(reason, index: index)
        }
        return try dataset(path, features: features, featureWidth: shape.inputs, targets: [], targetWidth: 0)
    }

    /// The data must be exactly what the header declares: fewer bytes is a truncated file, more a header that lies
    /// (or a second array appended to the file).
    static func checkDataSize(_ header: NPYHeader, available: Int, site: NPYSite) throws(DataFileError) {
        guard available != header.byteCount else { return }
        let declared = "the header declares shape \(shapeText(header.shape)) of \(header.descr), "
            + "\(header.byteCount) bytes of data"
        if available < header.byteCount {
            throw site.error(declared + ", but only \(max(available, 0)) bytes follow it (truncated file?)")
        }
        throw site.error(declared + ", but \(available) bytes follow it")
    }

    /// An `.npz` archive with `x.npy` and optionally `y.npy`, read in memory (never extracted to disk).
    static func loadNPZ(_ path: String, shape: ModelShape, limits: DataLimits) throws(DataFileError) -> Dataset<Float> {
        let bytes = try InputFile(path: path).readAll(maxBytes: limits.maxBytes)
        let archive: ZipReader
        do {
            // The entry count is checked against the cap before any entry is parsed.
            archive = try ZipReader(Data(bytes.dropLast()), maxEntries: limits.maxArchiveEntries)
        } catch where error.isOverLimit {
            throw DataFileError(file: path, reason: "\(error); refused (an .npz holds one entry per array)")
        } catch {
            throw DataFileError(file: path, reason: "not a readable zip archive (.npz): \(error)")
        }
        var entries: [String: ZipReader.Entry] = [:]
        var names: [String] = []
        for entry in archive.entries {
            names.append(entry.name)
            if entry.name == "x.npy" || entry.name == "y.npy" {
                if entries[entry.name] != nil {
                    throw DataFileError(file: path, reason: "the archive has two entries named \(entry.name)")
                }
                entries[entry.name] = entry
            }
        }
        func listing() -> String {
            let arrays = names.map { $0.hasSuffix(".npy") ? String($0.dropLast(4)) : $0 }
            return arrays.isEmpty ? "the archive is empty" : "it holds " + arrays.map { "'\($0)'" }.joined(separator: ", ")
        }
        guard let xEntry = entries["x.npy"] else {
            throw DataFileError(file: path, reason: "no array 'x' (the features); \(listing())")
        }
        let yEntry = shape.ignoresTargets ? nil : entries["y.npy"]
        if yEntry == nil, shape.requireTargets {
            throw DataFileError(file: path, reason: "no array 'y', but targets are needed; \(listing())")
        }

        let xSite = NPYSite(file: path, array: "x")
        let (xHeader, xBytes) = try readEntry(xEntry, of: archive, site: xSite, limits: limits)
        try checkFeatureShape(xHeader.shape, model: shape) { reason in xSite.error(reason) }
        let rows = xHeader.shape[0]

        var yHeader: NPYHeader?
        var yBytes: Data?
        var yLayout: ModelShape.Targets = .none
        let ySite = NPYSite(file: path, array: "y")
        if let yEntry {
            let (header, bytes) = try readEntry(yEntry, of: archive, site: ySite, limits: limits)
            if header.count > limits.maxValues - xHeader.count {
                throw DataFileError(file: path, reason: "x and y together hold more than the limit of \(limits.maxValues) numbers")
            }
            yLayout = try checkTargetShape(header.shape, rows: rows, model: shape) { reason in
                ySite.error(reason)
            }
            (yHeader, yBytes) = (header, bytes)
        }

        let features = xBytes.withUnsafeBytes { raw in NPY.values(xHeader, in: raw, as: Float.self) }
        try checkFinite(features, columns: shape.inputs, vector: xHeader.shape.count == 1) { reason, index in
            xSite.error(reason, index: index)
        }
        guard let yHeader, let yBytes else {
            return try dataset(path, features: features, featureWidth: shape.inputs, targets: [], targetWidth: 0)
        }
        let yValues = yBytes.withUnsafeBytes { raw in NPY.values(yHeader, in: raw, as: Double.self) }
        let (targets, width) = try targets(yValues, layout: yLayout, vector: yHeader.shape.count == 1, model: shape) {
            reason, index in ySite.error(reason, index: index)
        }
        return try dataset(path, features: features, featureWidth: shape.inputs, targets: targets, targetWidth: width)
    }

    /// Decompresses one `.npy` entry into memory, stopping as soon as it outgrows what its own header declares
    /// or the byte cap (a zip bomb's declared sizes are not trusted), and checks its CRC.
    private static func readEntry(_ entry: ZipReader.Entry, of archive: ZipReader, site: NPYSite,
                                  limits: DataLimits) throws(DataFileError) -> (NPYHeader, Data) {
        guard !entry.isDirectory, !entry.isSymbolicLink else { throw site.error("the archive entry \(entry.name) is not a file") }
        if entry.uncompressedSize > UInt64(limits.maxBytes) {
            throw site.error("the entry declares \(entry.uncompressedSize) bytes uncompressed, over the limit of "
                                 + "\(limits.maxBytes) bytes")
        }

        /// Raised from inside the decompression callback to stop it.
        struct Stop: Error { var error: DataFileError }
        var buffer = Data()
        var header: NPYHeader?
        var allowed = limits.maxBytes
        do {
            try archive.read(entry, chunkSize: 1 << 16) { chunk in
                func tooLarge() -> Stop {
                    Stop(error: site.error(header.map { header in
                        "decompresses to more than its header declares (shape \(shapeText(header.shape)) of "
                            + "\(header.descr): \(header.byteCount) bytes of data)"
                    } ?? "decompresses to more than the limit of \(allowed) bytes"))
                }
                guard buffer.count + chunk.count <= allowed else { throw tooLarge() }
                buffer.append(contentsOf: chunk)
                if header == nil {
                    do {
                        let parsed = try buffer.withUnsafeBytes { raw in
                            Result { () throws(DataFileError) in try NPY.header(raw, site: site, limits: limits) }
                        }.get()
                        if let parsed {
                            if parsed.dataOffset + parsed.byteCount > limits.maxBytes {
                                throw Stop(error: site.error(
                                    "shape \(shapeText(parsed.shape)) of \(parsed.descr) needs \(parsed.byteCount) bytes, "
                                        + "over the limit of \(limits.maxBytes) bytes"))
                            }
                            header = parsed
                            allowed = min(allowed, parsed.dataOffset + parsed.byteCount)
                            buffer.reserveCapacity(allowed)
                            if buffer.count > allowed { throw tooLarge() }
                        }
                    } catch let error as DataFileError {
                        throw Stop(error: error)
                    }
                }
            }
        } catch let stop as Stop {
            throw stop.error
        } catch {
            throw site.error("the archive entry \(entry.name): \(error)")
        }
        guard let header else { throw site.error("truncated .npy header") }
        try checkDataSize(header, available: buffer.count - header.dataOffset, site: site)
        return (header, buffer)
    }
}
