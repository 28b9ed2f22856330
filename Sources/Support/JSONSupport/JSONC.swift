import CJSONC
import Foundation

// A hardened front end to json-c, private to the codecs.
//
// json-c 0.16 does the tokenising and builds the tree, with a small nesting limit and
// JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8. Even then it lets through (measured, see
// docs/bad-inputs.md and the tests): NaN / Infinity / -Infinity literals, numbers that overflow to inf or
// underflow to zero, integers beyond Int64 (saturated, errno 0), duplicate keys (last one wins silently),
// "\u0000" in keys (the key is cut there), single-quoted keys ({'a': 1}), lone surrogates (replaced by U+FFFD),
// raw control characters in strings, overlong and surrogate UTF-8 byte sequences, "1." as a number, and data
// after a NUL byte.
// So once json-c has accepted a document, `JSONAudit` re-reads the same bytes — a small non-recursive scanner
// that only validates — and rejects all of those with the JSON path and byte offset. Only then does anybody
// get to see the tree.
//
// json-c spends a malloc'd object, a copy of the literal and a strtod on every number, which makes a tensor of a
// million numbers cost ~100 MB and half a second. A caller that reads such arrays only through
// `JSONValue.readNumbers` can opt in (`JSONLimits.bulkNumberArrays`): the audit then runs first, notes every long
// array of numbers only, and json-c parses a copy in which each of those is `[]`; `readNumbers` converts their
// literals straight from the text (`DecimalText`). If anything is wrong with the document, the usual order runs
// instead, so errors read the same either way.

// MARK: - Errors

/// A JSON document that cannot be used, with where (file, JSON path, byte offset) and why.
public struct JSONError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The input could not be read.
        case io
        /// Over the size cap (checked before parsing).
        case tooLarge
        /// Not JSON (json-c's description is in the reason).
        case syntax
        /// Nested deeper than the limit.
        case depth
        /// Invalid UTF-8 bytes, or an escape that is not a Unicode scalar (lone surrogate).
        case invalidUnicode
        /// Data after the document.
        case trailingData
        /// `NaN`, `Infinity`, `-Infinity`.
        case nonFinite
        /// A number that does not fit its type: integer beyond Int64, float overflow or underflow.
        case numberRange
        /// The same key twice in one object.
        case duplicateKey
        /// A key or string value containing U+0000.
        case nulCharacter
        /// A value of the wrong JSON type.
        case type
        /// A required key is absent.
        case missing
        /// A value of the right type outside the accepted range.
        case value
    }

    public var kind: Kind
    /// The file name (or other label) given when parsing.
    public var file: String
    /// Where in the document: `$` is the root, then `.key` / `["odd key"]` / `[index]`.
    public var path: String
    /// Byte offset into the input, for errors found while reading the text.
    public var offset: Int?
    /// 1-based line and column (in bytes) of `offset`.
    public var line: Int?
    public var column: Int?
    public var reason: String

    public init(kind: Kind, file: String, path: String, offset: Int? = nil, line: Int? = nil, column: Int? = nil,
                reason: String) {
        self.kind = kind
        self.file = file
        self.path = path
        self.offset = offset
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String {
        var text = "\(file): \(path): \(reason)"
        if let offset {
            if let line, let column {
                text += " (line \(line), column \(column), byte offset \(offset))"
            } else {
                text += " (byte offset \(offset))"
            }
        }
        return text
    }

    /// An error at `offset` of `bytes`, with line and column worked out.
    package static func at(_ offset: Int, in bytes: UnsafeRawBufferPointer, kind: Kind, file: String, path: String,
                   reason: String) -> JSONError {
        let end = min(max(offset, 0), bytes.count)
        var line = 1
        var lineStart = 0
        for index in 0..<end where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        return JSONError(kind: kind, file: file, path: path, offset: offset, line: line,
                         column: end - lineStart + 1, reason: reason)
    }
}

// MARK: - Paths

/// A location in a JSON document, rendered as `$.layers[2].config["odd key"]`.
package struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    package enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    package var components: [Component] = []

    package static let root = JSONPath()

    package func appending(_ key: String) -> JSONPath { JSONPath(components: components + [.key(key)]) }
    package func appending(_ index: Int) -> JSONPath { JSONPath(components: components + [.index(index)]) }

    package var description: String {
        var text = "$"
        for component in components {
            switch component {
            case .index(let index): text += "[\(index)]"
            case .key(let key) where Self.isIdentifier(key): text += "." + key
            case .key(let key): text += "[" + Self.quoted(key) + "]"
            }
        }
        return text
    }

    private static func isIdentifier(_ key: String) -> Bool {
        guard let first = key.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return key.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }

    /// A JSON string literal for `key`, cut short if long: paths are for messages.
    package static func quoted(_ key: String, limit: Int = 60) -> String {
        var text = "\""
        for (count, scalar) in key.unicodeScalars.enumerated() {
            if count == limit {
                text += "…"
                break
            }
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\t": text += "\\t"
            case "\r": text += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                text += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }
}

// MARK: - Parsing

/// Caps applied before and while parsing.
package struct JSONLimits: Sendable {
    /// Largest accepted input, checked before anything is parsed. json-c takes an `int` length, so this is
    /// also kept below 2 GiB.
    package var maxBytes: Int = 256 << 20
    /// Deepest accepted nesting of arrays and objects (`[[1]]` is 2). json-c's own default is 32; freeing a
    /// very deep document recurses, so this stays small.
    package var maxDepth: Int = 64
    /// Most JSON values (numbers, strings, containers…) accepted, checked before json-c builds its tree: json-c
    /// spends about 100 bytes on each value, so a file of 500 MB of `0,` would otherwise cost ~25 GB.
    package var maxValues: Int = .max
    /// Arrays of at least this many numbers (and nothing else) are left out of json-c's tree and read straight
    /// from the text by `JSONValue.readNumbers`, which is many times faster than json-c's object per number. Off by
    /// default: such an array then has no elements for `JSONValue.array()`.
    package var bulkNumberArrays: Int = .max
    /// Strings of at least this many bytes without escapes are likewise left out of json-c's tree (which copies
    /// them byte by byte); `string()` and `withStringBytes` read them from the text. Off by default.
    package var bulkStrings: Int = .max

    package init(maxBytes: Int = 256 << 20, maxDepth: Int = 64, maxValues: Int = .max, bulkNumberArrays: Int = .max,
                 bulkStrings: Int = .max) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxValues = maxValues
        self.bulkNumberArrays = bulkNumberArrays
        self.bulkStrings = bulkStrings
    }
}

/// A parsed, audited JSON document. Owns json-c's tree and releases it once (`json_object_put`) in `deinit`.
package final class JSONDocument {
    /// The name used in error messages.
    package let file: String
    private let tree: OpaquePointer?  // nil for a top-level `null`
    /// Where the text has the integer literal `-0`: json-c stores it as the integer 0 and drops the sign, which
    /// matters for a weight. Almost always empty.
    fileprivate(set) var negativeZeroIntegers: Set<JSONPath> = []
    /// The values read from the text rather than from json-c's tree (`JSONLimits.bulkNumberArrays`, `bulkStrings`),
    /// by path, and the text they are in (a copy of the input: the caller's buffer is only borrowed).
    fileprivate(set) var bulkValues: [JSONPath: JSONAudit.BulkValue] = [:]
    fileprivate(set) var text: [UInt8] = []

    private init(file: String, tree: OpaquePointer?) {
        self.file = file
        self.tree = tree
    }

    deinit {
        if let tree { json_object_put(tree) }
    }

    /// The top-level value.
    package var root: JSONValue { JSONValue(document: self, object: tree, path: .root) }

    /// Parses `bytes` (named `file` in messages).
    package static func parse(_ bytes: UnsafeRawBufferPointer, file: String,
                      limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONDocument {
        let byteCap = min(limits.maxBytes, Int(Int32.max) - 1)
        guard bytes.count <= byteCap else {
            throw JSONError(kind: .tooLarge, file: file, path: JSONPath.root.description,
                            reason: "input of \(bytes.count) bytes exceeds the limit of \(byteCap) bytes")
        }
        let depth = max(1, min(limits.maxDepth, 10_000))
        if limits.maxValues < .max {
            let bound = valueCountBound(bytes)
            guard bound <= limits.maxValues else {
                throw JSONError(kind: .tooLarge, file: file, path: JSONPath.root.description,
                                reason: "about \(bound) JSON values exceed the limit of \(limits.maxValues) "
                                    + "(each costs the parser ~100 bytes of memory)")
            }
        }
        if limits.bulkNumberArrays < .max || limits.bulkStrings < .max {
            // Audit first; when the document is valid and has bulk values, json-c gets a copy with each of them
            // replaced by `[]` or `""`. Otherwise (or should json-c refuse what the audit accepted), the usual order
            // below gives the usual messages.
            var audit = JSONAudit(bytes: bytes, file: file, maxDepth: depth, bulkNumbers: limits.bulkNumberArrays,
                                  bulkStrings: limits.bulkStrings)
            if (try? audit.run()) != nil, !audit.bulkValues.isEmpty,
               let document = try? tokenize(withoutBulkValues: audit.bulkValues, of: bytes, file: file, depth: depth) {
                document.negativeZeroIntegers = audit.negativeZeroIntegers
                document.bulkValues = audit.bulkValues
                document.text = [UInt8](bytes)
                return document
            }
        }
        let document = try tokenize(bytes, file: file, depth: depth)
        var audit = JSONAudit(bytes: bytes, file: file, maxDepth: depth)
        try audit.run()
        document.negativeZeroIntegers = audit.negativeZeroIntegers
        return document
    }

    /// json-c's parse of `bytes` with each bulk value replaced by `[]` or `""`, so that json-c builds nothing for
    /// them.
    private static func tokenize(
        withoutBulkValues bulkValues: [JSONPath: JSONAudit.BulkValue], of bytes: UnsafeRawBufferPointer, file: String,
        depth: Int
    ) throws(JSONError) -> JSONDocument {
        let values = bulkValues.values.sorted { $0.range.lowerBound < $1.range.lowerBound }
        var compact: [UInt8] = []
        compact.reserveCapacity(bytes.count - values.reduce(0) { $0 + $1.range.count } + 2 * values.count)
        var copied = 0
        for value in values {
            compact.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copied..<value.range.lowerBound]))
            compact.append(contentsOf: value.kind == .numbers ? [UInt8(ascii: "["), UInt8(ascii: "]")]
                                                              : [UInt8(ascii: "\""), UInt8(ascii: "\"")])
            copied = value.range.upperBound
        }
        compact.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copied...]))
        let result = compact.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try tokenize(raw, file: file, depth: depth) }
        }
        return try result.get()
    }

    /// json-c's parse of `bytes`, its errors turned into `JSONError`s with paths, and the check that nothing but
    /// whitespace follows the document.
    private static func tokenize(_ bytes: UnsafeRawBufferPointer, file: String, depth: Int) throws(JSONError) -> JSONDocument {
        // json-c counts a container's contents as one more level ([[1]] needs 3, [[]] needs 2); the audit
        // enforces `depth` containers exactly, json-c one more as the bound on its own recursion.
        guard let tokener = json_tokener_new_ex(Int32(depth + 1)) else {
            throw JSONError(kind: .io, file: file, path: "$", reason: "json-c could not allocate a tokener")
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, mlp_JSON_TOKENER_STRICT() | mlp_JSON_TOKENER_VALIDATE_UTF8())

        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        var tree = json_tokener_parse_ex(tokener, base, Int32(bytes.count))
        var status = json_tokener_get_error(tokener)
        var consumed = json_tokener_get_parse_end(tokener)
        // A top-level number, `true`, `null`… is only complete once something follows it: json-c says
        // "continue" at the end of "123". One space ends it (and leaves real truncation as "continue").
        if status == json_tokener_continue && consumed == bytes.count {
            tree = json_tokener_parse_ex(tokener, " ", 1)
            status = json_tokener_get_error(tokener)
            consumed = bytes.count  // The whole input was consumed before the extra space.
        }
        let document = JSONDocument(file: file, tree: tree)

        switch status {
        case json_tokener_success:
            break
        case json_tokener_continue:
            throw JSONError.at(bytes.count, in: bytes, kind: .syntax, file: file,
                               path: JSONAudit.locate(bytes.count, in: bytes).path,
                               reason: bytes.isEmpty ? "empty input" : "unexpected end of input (truncated?)")
        default:
            let offset = min(consumed, bytes.count)
            let location = JSONAudit.locate(offset, in: bytes)
            let description = json_tokener_error_desc(status).map { String(cString: $0) } ?? "parse error"
            let found = offset < bytes.count ? JSONAudit.describeByte(bytes[offset]) : "end of input"
            if status == json_tokener_error_depth {
                // json-c trips at a different place than the limit means (see above); the audit stops at the
                // first container beyond `depth`, or at an earlier problem, which is then the first error anyway.
                var audit = JSONAudit(bytes: bytes, file: file, maxDepth: depth)
                try audit.run()
            }
            let (kind, reason): (JSONError.Kind, String) =
                switch status {
                case json_tokener_error_depth:
                    (.depth, "nesting deeper than \(depth) levels (json-c: \(description))")
                case json_tokener_error_parse_utf8_string:
                    (.invalidUnicode, "invalid UTF-8 (json-c: \(description)) at \(found)")
                case _ where location.afterDocument:
                    (.trailingData, "data after the end of the document: \(found) (json-c: \(description))")
                default:
                    (.syntax, "\(description) at \(found) (json-c)")
                }
            throw JSONError.at(offset, in: bytes, kind: kind, file: file, path: location.path, reason: reason)
        }

        // json-c stops at a NUL byte and reports success; anything but whitespace after the document is an error.
        var end = consumed
        while end < bytes.count, JSONAudit.isWhitespace(bytes[end]) { end += 1 }
        if end < bytes.count {
            throw JSONError.at(end, in: bytes, kind: .trailingData, file: file, path: "$",
                               reason: "data after the end of the document: " + JSONAudit.describeByte(bytes[end]))
        }
        return document
    }

    /// An upper bound on the number of values in `bytes`: every value but the first in a container follows a
    /// comma, and every container opens with a bracket (bytes inside strings only make the bound looser).
    private static func valueCountBound(_ bytes: UnsafeRawBufferPointer) -> Int {
        // 16 bytes at a time: this runs over the whole file before json-c does.
        let comma = SIMD16<UInt8>(repeating: UInt8(ascii: ",")), bracket = SIMD16<UInt8>(repeating: UInt8(ascii: "["))
        let brace = SIMD16<UInt8>(repeating: UInt8(ascii: "{")), one = SIMD16<UInt8>(repeating: 1)
        var count = 1, index = 0
        while index + 16 * 255 <= bytes.count {
            // Up to 255 blocks per lane counter before it could overflow.
            var lanes = SIMD16<UInt8>()
            for _ in 0..<255 {
                let block = bytes.loadUnaligned(fromByteOffset: index, as: SIMD16<UInt8>.self)
                lanes &+= one.replacing(with: 0, where: (block .!= comma) .& (block .!= bracket) .& (block .!= brace))
                index += 16
            }
            count += lanes.indices.reduce(0) { $0 + Int(lanes[$1]) }
        }
        for byte in bytes[index...] where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
            count += 1
        }
        return count
    }

    /// Parses `bytes` (named `file` in messages).
    package static func parse(_ bytes: [UInt8], file: String,
                      limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONDocument {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try parse(raw, file: file, limits: limits) }
        }
        return try result.get()
    }

    /// Reads and parses the file at `path`, checking its size against the cap before reading it.
    package static func parse(contentsOfFile path: String, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONDocument {
        func ioError(_ reason: String) -> JSONError {
            JSONError(kind: .io, file: path, path: "$", reason: reason)
        }
        func systemError(_ what: String) -> JSONError {
            ioError("\(what): \(String(cString: strerror(errno)))")
        }
        // Open first and inspect what was opened (fstat), so the file cannot be swapped between the check and
        // the read. O_NONBLOCK keeps opening a FIFO from blocking; it changes nothing for regular files.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("cannot open file") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw systemError("cannot read file") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw ioError("not a regular file") }
        let cap = min(limits.maxBytes, Int(Int32.max) - 1)
        guard status.st_size <= cap else {
            throw JSONError(kind: .tooLarge, file: path, path: "$",
                            reason: "file of \(status.st_size) bytes exceeds the limit of \(cap) bytes")
        }
        // One byte more than fstat said, to notice a file that grew in the meantime.
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size) + 1)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[count...])
                return read(fd, rest.baseAddress, rest.count)
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw systemError("cannot read file")
            }
            if got == 0 { break }
            count += got
        }
        if count == bytes.count { throw ioError("file changed while being read") }
        bytes.removeSubrange(count...)
        return try parse(bytes, file: path, limits: limits)
    }
}

// MARK: - Reading the tree

/// A value in a `JSONDocument` and its path. Accessors check the JSON type (and range) and throw a
/// `JSONError` naming the path and what was expected.
package struct JSONValue {
    /// The JSON types, described for messages.
    package enum Kind: Sendable, Equatable, CustomStringConvertible {
        case null, bool, integer, number, string, array, object

        package var description: String {
            switch self {
            case .null: "null"
            case .bool: "a boolean"
            case .integer: "an integer"
            case .number: "a number"
            case .string: "a string"
            case .array: "an array"
            case .object: "an object"
            }
        }
    }

    /// Keeps the tree alive as long as any value from it.
    package let document: JSONDocument
    fileprivate let object: OpaquePointer?
    package let path: JSONPath

    fileprivate init(document: JSONDocument, object: OpaquePointer?, path: JSONPath) {
        self.document = document
        self.object = object
        self.path = path
    }

    package var kind: Kind {
        switch json_object_get_type(object) {
        case json_type_boolean: .bool
        case json_type_int: .integer
        case json_type_double: .number
        case json_type_string: .string
        case json_type_array: .array
        case json_type_object: .object
        default: .null
        }
    }

    package var isNull: Bool { kind == .null }

    package func error(_ kind: JSONError.Kind, _ reason: String) -> JSONError {
        JSONError(kind: kind, file: document.file, path: path.description, reason: reason)
    }

    /// "expected X, found Y" with a short rendering of scalar values.
    private func typeError(expected: String) -> JSONError {
        var found = kind.description
        switch kind {
        case .string where bulkString != nil:
            let content = document.text[bulkString?.content ?? 0..<0]
            found += " (\"" + String(decoding: content.prefix(38), as: UTF8.self) + "…\")"
        case .bool, .integer, .number, .string:
            if let text = json_object_to_json_string_ext(object, mlp_JSON_C_TO_STRING_PLAIN()) {
                let rendered = String(cString: text)
                found += " (" + (rendered.count > 40 ? rendered.prefix(40) + "…" : rendered) + ")"
            }
        default: break
        }
        return error(.type, "expected \(expected), found \(found)")
    }

    package func string() throws(JSONError) -> String {
        guard kind == .string, let pointer = json_object_get_string(object) else {
            throw typeError(expected: "a string")
        }
        if let bulkString {
            // No escapes (so no U+0000), and the audit validated the UTF-8.
            return String(decoding: document.text[bulkString.content], as: UTF8.self)
        }
        let length = Int(json_object_get_string_len(object))
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        // Names end up in C APIs and file formats that stop at NUL: refuse rather than truncate later.
        if bytes.contains(0) { throw error(.nulCharacter, "string contains U+0000") }
        // The audit has already validated the UTF-8, so decoding cannot repair anything here.
        return String(decoding: bytes, as: UTF8.self)
    }

    package func bool() throws(JSONError) -> Bool {
        guard kind == .bool else { throw typeError(expected: "a boolean") }
        return json_object_get_boolean(object) != 0
    }

    /// An integer literal (no fraction or exponent). The audit has already refused literals beyond Int64,
    /// which json-c would have saturated.
    package func int64() throws(JSONError) -> Int64 {
        guard kind == .integer else { throw typeError(expected: "an integer") }
        return json_object_get_int64(object)
    }

    /// An integer ≥ `minimum` (a count such as `iterations`).
    package func int(atLeast minimum: Int) throws(JSONError) -> Int {
        let value = try int64()
        guard let int = Int(exactly: value), int >= minimum else {
            throw error(.value, "expected an integer ≥ \(minimum), found \(value)")
        }
        return int
    }

    /// An integer in `range` (e.g. `1...1_000_000` for `units`).
    package func int(in range: ClosedRange<Int>) throws(JSONError) -> Int {
        let value = try int64()
        guard let int = Int(exactly: value), range.contains(int) else {
            throw error(.value, "expected an integer in \(range.lowerBound)...\(range.upperBound), found \(value)")
        }
        return int
    }

    /// Any finite number. An integer must convert exactly (beyond 2^53 it would be rounded silently).
    package func double() throws(JSONError) -> Double {
        switch kind {
        case .integer:
            let integer = json_object_get_int64(object)
            guard let value = Double(exactly: integer) else {
                throw error(.numberRange, "integer \(integer) cannot be represented exactly as a 64-bit float")
            }
            return integer == 0 && document.negativeZeroIntegers.contains(path) ? -0.0 : value
        case .number:
            let value = json_object_get_double(object)
            guard value.isFinite else { throw error(.nonFinite, "number is not finite") }
            return value
        default:
            throw typeError(expected: "a number")
        }
    }

    /// A number that fits a 32-bit float, rounded once from the decimal literal (see `nearestFloat`), so float32
    /// weights written with shortest round-trip digits come back bit-exact and double rounding cannot occur.
    package func float() throws(JSONError) -> Float {
        let wide = try double()
        let value = kind == .number ? Self.nearestFloat(to: wide) { literal } : Float(wide)
        guard value.isFinite else { throw error(.numberRange, "number \(literal) overflows a 32-bit float") }
        if value == 0 && wide != 0 { throw error(.numberRange, "number \(literal) underflows a 32-bit float to zero") }
        return value
    }

    /// The float nearest to a decimal literal, which is what `strtof` returns, given the double `d` nearest to it
    /// (json-c has already converted every literal with `strtod`).
    ///
    /// `Float(d)` is that float except in one case. Every float and every midpoint between two adjacent floats is
    /// a double, and rounding to double is monotonic, so a literal x strictly between two midpoints has its d in
    /// the closed interval between them, and `Float(d)` rounds to the float inside — unless d landed exactly *on* a
    /// midpoint, where the tie goes to even, possibly the wrong way (x = 1.00000005960464477550 is just above the
    /// midpoint 1 + 2⁻²⁴, its d is that midpoint, and `Float(d)` is 1.0 instead of the float above). Only then,
    /// and on overflow or underflow, is the literal itself converted, so the common case costs a few comparisons.
    /// `literal` is only called in those cases; Swift's Float(_:) parses it in the C locale, whatever the process's is.
    @inline(__always)
    package static func nearestFloat(to d: Double, literal: () -> String) -> Float {
        let f = Float(d)
        let exact = Double(f)
        if exact == d { return f }
        if f.isFinite && f != 0 {
            let neighbour = exact < d ? f.nextUp : f.nextDown
            if neighbour.isFinite && (exact + Double(neighbour)) / 2 != d { return f }
        }
        return Float(literal()) ?? f
    }

    /// The number's text as json-c read it: json-c keeps a parsed number's literal as its user data
    /// (`json_object_new_double_s`), and its own serialization of the number returns the same text.
    private var literal: String {
        Self.literal(of: object)
    }

    private static func literal(of object: OpaquePointer?) -> String {
        if let text = json_object_get_userdata(object) { return String(cString: text.assumingMemoryBound(to: CChar.self)) }
        return json_object_to_json_string_ext(object, mlp_JSON_C_TO_STRING_PLAIN()).map { String(cString: $0) } ?? "?"
    }

    /// The number of elements of an array, without materialising them.
    package func arrayCount() throws(JSONError) -> Int {
        guard kind == .array else { throw typeError(expected: "an array") }
        return bulk?.count ?? json_object_array_length(object)
    }

    /// The array's place in the text when it was left out of json-c's tree (`JSONLimits.bulkNumberArrays`).
    private var bulk: JSONAudit.BulkValue? { bulkValue(json_type_array, .numbers) }

    /// The string's place in the text when it was left out of json-c's tree (`JSONLimits.bulkStrings`).
    private var bulkString: JSONAudit.BulkValue? { bulkValue(json_type_string, .string) }

    private func bulkValue(_ type: json_type, _ kind: JSONAudit.BulkValue.Kind) -> JSONAudit.BulkValue? {
        guard !document.bulkValues.isEmpty, json_object_get_type(object) == type,
              let value = document.bulkValues[path], value.kind == kind else { return nil }
        return value
    }

    /// Reads an array of numbers straight into `destination`, which must have room for exactly its elements, each
    /// rounded once to the nearest float. No Swift value is created per number.
    package func readNumbers(into destination: UnsafeMutableBufferPointer<Float>) throws(JSONError) {
        if let bulk {
            try readText(of: bulk, into: destination)
        } else {
            try readNumbers(into: destination, bits: 32) { element, d in Self.nearestFloat(to: d) { Self.literal(of: element) } }
        }
    }

    /// Reads an array of numbers straight into `destination`, which must have room for exactly its elements.
    package func readNumbers(into destination: UnsafeMutableBufferPointer<Double>) throws(JSONError) {
        if let bulk {
            try readText(of: bulk, into: destination)
        } else {
            try readNumbers(into: destination, bits: 64) { _, d in d }
        }
    }

    /// `readNumbers` for an array left out of json-c's tree: the audit has checked every literal's grammar and
    /// range for a double, so each is converted here (`DecimalText`) and, for Float, rounded once from the text.
    private func readText<T: TextFloat>(
        of bulk: JSONAudit.BulkValue, into destination: UnsafeMutableBufferPointer<T>
    ) throws(JSONError) {
        guard bulk.count == destination.count else {
            throw error(.value, "expected \(destination.count) numbers, found \(bulk.count)")
        }
        let failure: JSONError? = document.text.withUnsafeBytes { text in
            var position = bulk.range.lowerBound + 1
            for index in destination.indices {
                position = DecimalText.skipSeparators(text, from: position)
                let (d, end) = DecimalText.parse(text, at: position)
                let literal = UnsafeRawBufferPointer(rebasing: text[position..<end])
                let value = T.nearest(to: d) { String(decoding: literal, as: UTF8.self) }
                if !value.isFinite || (value == 0 && d != 0) {
                    return rangeError(literal: String(decoding: literal, as: UTF8.self), magnitude: d, bits: T.bitWidth,
                                      index: index)
                }
                destination[index] = value
                position = end
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// The loop behind both `readNumbers`: `convert` turns a json-c double and its object into an element; integer
    /// literals round to nearest like any other literal, and `-0` keeps its sign.
    private func readNumbers<T: BinaryFloatingPoint>(
        into destination: UnsafeMutableBufferPointer<T>, bits: Int, _ convert: (OpaquePointer?, Double) -> T
    ) throws(JSONError) {
        guard try arrayCount() == destination.count else {
            throw error(.value, "expected \(destination.count) numbers, found \(try arrayCount())")
        }
        let negativeZeros = !document.negativeZeroIntegers.isEmpty
        for index in destination.indices {
            let element = json_object_array_get_idx(object, index)
            let value: T
            switch json_object_get_type(element) {
            case json_type_double:
                let d = json_object_get_double(element)
                value = convert(element, d)
                if !value.isFinite || (value == 0 && d != 0) {
                    throw rangeError(literal: Self.literal(of: element), magnitude: d, bits: bits, index: index)
                }
            case json_type_int:
                let integer = json_object_get_int64(element)
                value = integer == 0 && negativeZeros && document.negativeZeroIntegers.contains(path.appending(index))
                    ? -0.0 : T(integer)
            default:
                throw self.element(index).typeError(expected: "a number")
            }
            destination[index] = value
        }
    }

    private func element(_ index: Int) -> JSONValue {
        JSONValue(document: document, object: json_object_array_get_idx(object, index), path: path.appending(index))
    }

    /// Element `index` is out of range for a `bits`-bit float (`magnitude`: its value as a double).
    private func rangeError(literal: String, magnitude: Double, bits: Int, index: Int) -> JSONError {
        let underflow = magnitude.isFinite && abs(magnitude) < 1
        return JSONError(kind: .numberRange, file: document.file, path: path.appending(index).description,
                         reason: "number \(literal) \(underflow ? "underflows" : "overflows") a \(bits)-bit float"
                            + (underflow ? " to zero" : ""))
    }

    /// A string's UTF-8 bytes in place (json-c's buffer, valid during `body`), for large payloads such as base64.
    package func withStringBytes<R>(_ body: (UnsafeRawBufferPointer) throws(JSONError) -> R) throws(JSONError) -> R {
        guard kind == .string, let pointer = json_object_get_string(object) else {
            throw typeError(expected: "a string")
        }
        if let bulkString {
            let result = document.text.withUnsafeBytes { text in
                Result { () throws(JSONError) in try body(UnsafeRawBufferPointer(rebasing: text[bulkString.content])) }
            }
            return try result.get()
        }
        return try body(UnsafeRawBufferPointer(start: pointer, count: Int(json_object_get_string_len(object))))
    }

    /// The elements, each with its path.
    package func array() throws(JSONError) -> [JSONValue] {
        guard kind == .array else { throw typeError(expected: "an array") }
        if let bulk {
            // Only `readNumbers` reads these (the caller opted in with `JSONLimits.bulkNumberArrays`).
            throw error(.type, "expected a short array, found an array of \(bulk.count) numbers")
        }
        let count = json_object_array_length(object)
        return (0..<count).map { index in
            JSONValue(document: document, object: json_object_array_get_idx(object, index),
                      path: path.appending(index))
        }
    }

    /// An object's members in document order (json-c keeps insertion order; the audit refused duplicates).
    package func members() throws(JSONError) -> [(key: String, value: JSONValue)] {
        guard kind == .object, let object else { throw typeError(expected: "an object") }
        var members: [(key: String, value: JSONValue)] = []
        members.reserveCapacity(Int(json_object_object_length(object)))
        var iterator = json_object_iter_begin(object)
        var end = json_object_iter_end(object)
        while json_object_iter_equal(&iterator, &end) == 0 {
            if let name = json_object_iter_peek_name(&iterator) {
                let key = String(cString: name)
                members.append((key, JSONValue(document: document, object: json_object_iter_peek_value(&iterator),
                                               path: path.appending(key))))
            }
            json_object_iter_next(&iterator)
        }
        return members
    }

    /// An object's keys in document order.
    package func keys() throws(JSONError) -> [String] {
        try members().map(\.key)
    }

    /// The member `key` of this object, or nil if absent (a present `null` is returned as a null value).
    package func optionalValue(at key: String) throws(JSONError) -> JSONValue? {
        guard kind == .object else { throw typeError(expected: "an object") }
        var member: OpaquePointer?
        guard json_object_object_get_ex(object, key, &member) != 0 else { return nil }
        return JSONValue(document: document, object: member, path: path.appending(key))
    }

    /// The member `key` of this object; absent is an error naming the full path.
    package func value(at key: String) throws(JSONError) -> JSONValue {
        guard let value = try optionalValue(at: key) else {
            throw JSONError(kind: .missing, file: document.file, path: path.appending(key).description,
                            reason: "required key \(JSONPath.quoted(key)) is missing")
        }
        return value
    }

    /// The member `key`, which must be an object.
    package func object(at key: String) throws(JSONError) -> JSONValue {
        let value = try value(at: key)
        guard value.kind == .object else { throw value.typeError(expected: "an object") }
        return value
    }
}

// MARK: - The audit

/// Re-reads a document json-c has accepted and rejects what json-c lets through. Non-recursive, validates
/// only, allocates only for object keys (to find duplicates).
package struct JSONAudit {
    private enum Frame {
        /// `current` is nil while the next key is being read, so errors in it name the object.
        case object(keys: Set<[UInt8]>, current: String?)
        /// `start`: the offset of `[`; `numbersOnly`: no element so far was anything but a number.
        case array(index: Int, start: Int, numbersOnly: Bool)
    }

    /// A value long enough to be read from the text: an array of numbers only (`JSONLimits.bulkNumberArrays`) or a
    /// string without escapes (`JSONLimits.bulkStrings`).
    package struct BulkValue: Sendable {
        package enum Kind: Sendable { case numbers, string }

        package var kind: Kind
        /// The whole value, `[` to `]` or quote to quote.
        package var range: Range<Int>
        /// Elements of an array, bytes of a string.
        package var count: Int

        /// A string's bytes, between the quotes.
        package var content: Range<Int> { (range.lowerBound + 1)..<(range.upperBound - 1) }
    }

    package let bytes: UnsafeRawBufferPointer
    package let file: String
    package let maxDepth: Int
    private var position = 0
    private var frames: [Frame] = []
    /// When set, `run` stops quietly at this offset (used to name the path of a json-c syntax error).
    private var stopOffset: Int?
    /// Paths of `-0` integer literals, whose sign json-c drops.
    private(set) var negativeZeroIntegers: Set<JSONPath> = []
    /// Arrays of at least `bulkNumbers` numbers and nothing else, and strings of at least `bulkStrings` bytes
    /// without escapes, by path.
    private(set) var bulkValues: [JSONPath: BulkValue] = [:]
    private let bulkNumbers: Int
    private let bulkStrings: Int
    /// Whether the string just scanned had an escape sequence.
    private var stringHadEscape = false

    package init(bytes: UnsafeRawBufferPointer, file: String, maxDepth: Int, bulkNumbers: Int = .max, bulkStrings: Int = .max) {
        self.bytes = bytes
        self.file = file
        self.maxDepth = maxDepth
        self.bulkNumbers = bulkNumbers
        self.bulkStrings = bulkStrings
    }

    /// The JSON path of the value being read at `offset`, as far as the text up to there tells, and whether
    /// the document had already ended there (json-c calls a second document just "unexpected character").
    package static func locate(_ offset: Int, in bytes: UnsafeRawBufferPointer) -> (path: String, afterDocument: Bool) {
        var audit = JSONAudit(bytes: bytes, file: "", maxDepth: Int.max)
        audit.stopOffset = offset
        do throws(JSONError) {
            try audit.run()
        } catch {
            // Anything the audit objects to before `offset` does not matter here: the path so far is the answer.
        }
        return (audit.currentPath.description, audit.documentEnded)
    }

    package static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// `'x'` for printable ASCII, `byte 0xFF` otherwise.
    package static func describeByte(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'"
                                     : "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    /// True between values: after a scalar or a closing bracket, until the next ',' or key.
    private var expectingValue = true
    /// Whether the top-level value is complete.
    private var documentEnded: Bool { frames.isEmpty && !expectingValue }

    private var currentPath: JSONPath {
        JSONPath(components: frames.compactMap { frame in
            switch frame {
            case .object(_, let key): key.map { .key($0) }
            case .array(let index, _, _): .index(index)
            }
        })
    }

    private func fail(_ kind: JSONError.Kind, _ reason: String, at offset: Int? = nil) -> JSONError {
        JSONError.at(offset ?? position, in: bytes, kind: kind, file: file, path: currentPath.description,
                     reason: reason)
    }

    private var stopped: Bool {
        if let stopOffset { return position >= stopOffset }
        return false
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek(), Self.isWhitespace(byte) { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(JSONError) {
        guard peek() == byte else {
            throw fail(.syntax, "expected '\(Character(Unicode.Scalar(byte)))'"
                + (peek().map { ", found " + Self.describeByte($0) } ?? ", found end of input"))
        }
        position += 1
    }

    package mutating func run() throws(JSONError) {
        expectingValue = true
        while !stopped {
            skipWhitespace()
            if stopped { return }
            if expectingValue {
                try scanValueStart()
                continue
            }
            // A value just ended: close containers or move to the next element.
            guard let frame = frames.last else { break }
            guard let byte = peek() else { throw fail(.syntax, "unexpected end of input") }
            switch (frame, byte) {
            case (.object, UInt8(ascii: ",")):
                position += 1
                try scanKey()
                expectingValue = true
            case (.array(let index, let start, let numbersOnly), UInt8(ascii: ",")):
                position += 1
                frames[frames.count - 1] = .array(index: index + 1, start: start, numbersOnly: numbersOnly)
                expectingValue = true
            case (.object, UInt8(ascii: "}")):
                position += 1
                frames.removeLast()
            case (.array(let index, let start, let numbersOnly), UInt8(ascii: "]")):
                position += 1
                frames.removeLast()
                if numbersOnly && index + 1 >= bulkNumbers {
                    bulkValues[currentPath] = BulkValue(kind: .numbers, range: start..<position, count: index + 1)
                }
            default:
                throw fail(.syntax, "unexpected " + Self.describeByte(byte))
            }
        }
        if stopped { return }
        skipWhitespace()
        if let byte = peek() {
            throw fail(.trailingData, "data after the end of the document: " + Self.describeByte(byte))
        }
    }

    /// Reads one value, or opens a container (pushing a frame).
    private mutating func scanValueStart() throws(JSONError) {
        guard let byte = peek() else { throw fail(.syntax, "unexpected end of input") }
        if bulkNumbers < .max, byte != UInt8(ascii: "-") && !isDigit(at: position),
           case .array(let index, let start, true) = frames.last {
            frames[frames.count - 1] = .array(index: index, start: start, numbersOnly: false)
        }
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            if frames.count >= maxDepth { throw fail(.depth, "nesting deeper than \(maxDepth) levels") }
            let open = position
            position += 1
            skipWhitespace()
            if byte == UInt8(ascii: "{") {
                if peek() == UInt8(ascii: "}") {
                    position += 1
                    expectingValue = false
                } else {
                    frames.append(.object(keys: [], current: nil))
                    try scanKey()
                }
            } else {
                if peek() == UInt8(ascii: "]") {
                    position += 1
                    expectingValue = false
                } else {
                    frames.append(.array(index: 0, start: open, numbersOnly: true))
                    if bulkNumbers < .max { try scanNumberRun() }
                }
            }
        case UInt8(ascii: "\""):
            let open = position
            _ = try scanString(isKey: false)
            if position - open - 2 >= bulkStrings && !stringHadEscape {
                bulkValues[currentPath] = BulkValue(kind: .string, range: open..<position, count: position - open - 2)
            }
            expectingValue = false
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
            expectingValue = false
        case UInt8(ascii: "t"): try scanLiteral("true"); expectingValue = false
        case UInt8(ascii: "f"): try scanLiteral("false"); expectingValue = false
        case UInt8(ascii: "n"): try scanLiteral("null"); expectingValue = false
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw fail(.nonFinite, "\(byte == UInt8(ascii: "N") ? "NaN" : "Infinity") is not a JSON number")
        default:
            throw fail(.syntax, "unexpected " + Self.describeByte(byte))
        }
    }

    /// Inside a just-opened array: reads elements while they are numbers, in a tighter loop than `run`'s (tensor
    /// data is arrays of many numbers). Leaves the state as `run` would have it at the first element that is not a
    /// number, or after the closing bracket.
    private mutating func scanNumberRun() throws(JSONError) {
        guard case .array(_, let start, _) = frames.last else { return }
        var index = 0
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "-") || isDigit(at: position) else {
                expectingValue = true
                return
            }
            try scanNumber()
            skipWhitespace()
            guard position < bytes.count else { break }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                index += 1
                frames[frames.count - 1] = .array(index: index, start: start, numbersOnly: true)
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                frames.removeLast()
                if index + 1 >= bulkNumbers {
                    bulkValues[currentPath] = BulkValue(kind: .numbers, range: start..<position, count: index + 1)
                }
                break
            } else {
                break
            }
        }
        expectingValue = false
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(JSONError) {
        let start = position
        for expected in UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
            guard peek() == expected else { throw fail(.syntax, "invalid literal", at: start) }
            position += 1
        }
    }

    /// Reads `"key" :` inside an object, checking the key for U+0000 and duplicates.
    private mutating func scanKey() throws(JSONError) {
        skipWhitespace()
        if stopped { return }
        let start = position
        guard peek() == UInt8(ascii: "\"") else {
            throw fail(.syntax, "expected an object key"
                + (peek().map { ", found " + Self.describeByte($0) } ?? ", found end of input"))
        }
        guard case .object(var keys, _) = frames.last else {
            throw fail(.syntax, "object key outside an object", at: start)
        }
        // While the key is read, errors name the object, not the previous key. (Parking an empty set in the
        // frame also leaves `keys` uniquely referenced, so inserting does not copy it.)
        frames[frames.count - 1] = .object(keys: [], current: nil)
        let keyBytes: [UInt8]
        do throws(JSONError) {
            keyBytes = try scanString(isKey: true)
        } catch {
            frames[frames.count - 1] = .object(keys: keys, current: nil)
            throw error
        }
        let key = String(decoding: keyBytes, as: UTF8.self)
        frames.removeLast()
        let (isNew, _) = keys.insert(keyBytes)
        frames.append(.object(keys: keys, current: key))
        if !isNew {
            throw fail(.duplicateKey, "duplicate key \(JSONPath.quoted(key)) (json-c would keep only the last value)",
                       at: start)
        }
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
    }

    /// Reads a string literal; for keys, returns its decoded UTF-8 bytes.
    private mutating func scanString(isKey: Bool) throws(JSONError) -> [UInt8] {
        let start = position
        position += 1  // opening quote
        stringHadEscape = false
        var decoded: [UInt8] = []
        while true {
            if !isKey {
                // Skip plain ASCII in one tight loop: base64 tensors are strings of megabytes.
                var index = position
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
                    index += 1
                }
                position = index
            }
            guard let byte = peek() else { throw fail(.syntax, "unterminated string", at: start) }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return decoded
            case UInt8(ascii: "\\"):
                stringHadEscape = true
                let escapeStart = position
                position += 1
                guard let escape = peek() else { throw fail(.syntax, "unterminated string", at: start) }
                position += 1
                let simple: UInt8? =
                    switch escape {
                    case UInt8(ascii: "\""): 0x22
                    case UInt8(ascii: "\\"): 0x5C
                    case UInt8(ascii: "/"): 0x2F
                    case UInt8(ascii: "b"): 0x08
                    case UInt8(ascii: "f"): 0x0C
                    case UInt8(ascii: "n"): 0x0A
                    case UInt8(ascii: "r"): 0x0D
                    case UInt8(ascii: "t"): 0x09
                    default: nil
                    }
                if let simple {
                    if isKey { decoded.append(simple) }
                    continue
                }
                guard escape == UInt8(ascii: "u") else {
                    throw fail(.syntax, "invalid escape \\\(Character(Unicode.Scalar(escape)))", at: escapeStart)
                }
                var scalar = try scanHex4(escapeStart)
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one; json-c would substitute U+FFFD.
                    guard peek() == UInt8(ascii: "\\"), position + 1 < bytes.count,
                          bytes[position + 1] == UInt8(ascii: "u") else {
                        throw fail(.invalidUnicode, "lone surrogate \\u\(String(scalar, radix: 16)) in string",
                                   at: escapeStart)
                    }
                    position += 2
                    let low = try scanHex4(escapeStart)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw fail(.invalidUnicode, "lone surrogate \\u\(String(scalar, radix: 16)) in string",
                                   at: escapeStart)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail(.invalidUnicode, "lone surrogate \\u\(String(scalar, radix: 16)) in string",
                               at: escapeStart)
                }
                if isKey {
                    if scalar == 0 {
                        throw fail(.nulCharacter, "object key contains U+0000 (json-c would cut the key there)",
                                   at: escapeStart)
                    }
                    if let unicode = Unicode.Scalar(scalar) { decoded.append(contentsOf: String(unicode).utf8) }
                }
            case 0x00..<0x20:
                throw fail(.syntax, "unescaped control character U+00\(byte < 0x10 ? "0" : "")\(String(byte, radix: 16, uppercase: true)) in string")
            case 0x80...:
                let length = try scanUTF8Sequence()
                if isKey { decoded.append(contentsOf: bytes[(position - length)..<position]) }
            default:
                position += 1
                if isKey { decoded.append(byte) }
            }
        }
    }

    private mutating func scanHex4(_ escapeStart: Int) throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw fail(.syntax, "truncated \\u escape", at: escapeStart) }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail(.syntax, "invalid \\u escape", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence at `position` (Unicode Table 3-7: no overlong forms, no
    /// surrogates, nothing above U+10FFFF — json-c's own check accepts the first two) and returns its length.
    private mutating func scanUTF8Sequence() throws(JSONError) -> Int {
        let start = position
        let lead = bytes[start]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw fail(.invalidUnicode, "invalid UTF-8 byte 0x\(String(lead, radix: 16, uppercase: true))")
        }
        guard start + length <= bytes.count else { throw fail(.invalidUnicode, "truncated UTF-8 sequence") }
        for index in 1..<length {
            let range: ClosedRange<UInt8> = index == 1 ? secondRange : 0x80...0xBF
            guard range.contains(bytes[start + index]) else {
                throw fail(.invalidUnicode, "invalid UTF-8 sequence (overlong, surrogate or malformed)")
            }
        }
        position += length
        return length
    }

    /// Reads a number, checks the strict grammar, and that it fits: integers in Int64, others finite and not
    /// silently rounded to zero. Numbers are the bulk of a weights file, so nothing is allocated here unless the
    /// literal's magnitude is extreme.
    private mutating func scanNumber() throws(JSONError) {
        let start = position
        let number = Self.scanNumberLiteral(bytes, at: start)
        position = number.end
        if let problem = number.problem { throw fail(problem.kind, problem.reason, at: start) }
        let literal = UnsafeRawBufferPointer(rebasing: bytes[start..<number.end])
        if number.isInteger {
            try checkInteger(literal, start: start)
        } else if let leadingExponent = number.leadingExponent, !(-300...300).contains(leadingExponent + number.exponent) {
            // Within 10^±300 a double is finite and not zero, so only extreme literals need converting.
            try checkExtremeNumber(literal, start: start)
        }
    }

    /// What `scanNumberLiteral` found.
    private struct NumberLiteral {
        var end: Int
        var isInteger = true
        /// The decimal exponent of the first non-zero digit (1.5 → 0, 0.02 → -2); nil when all digits are zero.
        var leadingExponent: Int?
        /// The written exponent (saturated: only the range matters).
        var exponent = 0
        /// Why the text is not a JSON number.
        var problem: (kind: JSONError.Kind, reason: String)?
    }

    /// The strict JSON number grammar at `start`, over local variables only (this is the audit's inner loop).
    private static func scanNumberLiteral(_ bytes: UnsafeRawBufferPointer, at start: Int) -> NumberLiteral {
        let count = bytes.count
        @inline(__always) func byte(_ index: Int) -> UInt8 { index < count ? bytes[index] : 0 }
        @inline(__always) func isDigit(_ index: Int) -> Bool { byte(index) &- UInt8(ascii: "0") < 10 }
        var index = start
        if byte(index) == UInt8(ascii: "-") { index += 1 }
        if byte(index) == UInt8(ascii: "I") || byte(index) == UInt8(ascii: "N") {
            let name = byte(index) == UInt8(ascii: "I") ? "Infinity" : "NaN"
            return NumberLiteral(end: index, problem: (.nonFinite, "\(index > start ? "-" : "")\(name) is not a JSON number"))
        }
        guard isDigit(index) else { return NumberLiteral(end: index, problem: (.syntax, "malformed number")) }
        let integerStart = index
        if byte(index) == UInt8(ascii: "0") {
            index += 1
        } else {
            while isDigit(index) { index += 1 }
        }
        var result = NumberLiteral(end: index)
        result.leadingExponent = byte(integerStart) == UInt8(ascii: "0") ? nil : index - integerStart - 1
        if byte(index) == UInt8(ascii: ".") {
            result.isInteger = false
            index += 1
            guard isDigit(index) else { return NumberLiteral(end: index, problem: (.syntax, "malformed number: no digits after '.'")) }
            let fractionStart = index
            if result.leadingExponent == nil {
                while byte(index) == UInt8(ascii: "0") { index += 1 }
                if isDigit(index) { result.leadingExponent = fractionStart - index - 1 }
            }
            while isDigit(index) { index += 1 }
        }
        if byte(index) | 0x20 == UInt8(ascii: "e") {
            result.isInteger = false
            index += 1
            var sign = 1
            if byte(index) == UInt8(ascii: "+") || byte(index) == UInt8(ascii: "-") {
                if byte(index) == UInt8(ascii: "-") { sign = -1 }
                index += 1
            }
            guard isDigit(index) else { return NumberLiteral(end: index, problem: (.syntax, "malformed number: no digits in exponent")) }
            var exponent = 0
            while isDigit(index) {
                exponent = min(exponent * 10 + Int(byte(index) - 0x30), 1 << 40)
                index += 1
            }
            result.exponent = sign * exponent
        }
        result.end = index
        return result
    }

    @inline(__always)
    private func isDigit(at index: Int) -> Bool {
        index < bytes.count && bytes[index] &- UInt8(ascii: "0") < 10
    }


    /// Accumulates with overflow checks rather than building a String: the literal may be huge.
    private mutating func checkInteger(_ literal: UnsafeRawBufferPointer, start: Int) throws(JSONError) {
        let negative = literal.first == UInt8(ascii: "-")
        var value: Int64 = 0
        for digit in literal.dropFirst(negative ? 1 : 0) {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? times10.subtractingReportingOverflow(Int64(digit - 0x30))
                                             : times10.addingReportingOverflow(Int64(digit - 0x30))
            if overflow1 || overflow2 {
                throw fail(.numberRange, "integer \(Self.shown(literal)) is outside the Int64 range (json-c would saturate it)",
                           at: start)
            }
            value = next
        }
        if negative && value == 0 { negativeZeroIntegers.insert(currentPath) }
    }

    private func checkExtremeNumber(_ literal: UnsafeRawBufferPointer, start: Int) throws(JSONError) {
        guard let value = Double(String(decoding: literal, as: UTF8.self)) else {
            throw fail(.syntax, "malformed number \(Self.shown(literal))", at: start)
        }
        if !value.isFinite {
            throw fail(.numberRange, "number \(Self.shown(literal)) overflows a 64-bit float", at: start)
        }
        if value == 0 {
            throw fail(.numberRange, "number \(Self.shown(literal)) underflows a 64-bit float to zero", at: start)
        }
    }

    /// A literal for a message, cut short if long.
    private static func shown(_ literal: UnsafeRawBufferPointer) -> String {
        literal.count > 40 ? String(decoding: literal.prefix(40), as: UTF8.self) + "…" : String(decoding: literal, as: UTF8.self)
    }
}

/// Float and Double as `readNumbers` fills them from text.
package protocol TextFloat: BinaryFloatingPoint {
    static var bitWidth: Int { get }
    /// The value nearest to the literal whose nearest double is `d` (`literal` gives the text if needed).
    static func nearest(to d: Double, literal: () -> String) -> Self
}

extension Float: TextFloat {
    package static var bitWidth: Int { 32 }
    @inline(__always)
    package static func nearest(to d: Double, literal: () -> String) -> Float { JSONValue.nearestFloat(to: d, literal: literal) }
}

extension Double: TextFloat {
    package static var bitWidth: Int { 64 }
    @inline(__always)
    package static func nearest(to d: Double, literal: () -> String) -> Double { d }
}
