internal import CJSONC

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

    init(document: JSONDocument, object: OpaquePointer?, path: JSONPath) {
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
            let content = UnsafeRawBufferPointer(rebasing: document.text[bulkString?.content ?? 0..<0])
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

    /// A number that fits a 32-bit float, rounded once from the decimal literal (see `Float.nearest`), so float32
    /// weights written with shortest round-trip digits come back bit-exact and double rounding cannot occur.
    package func float() throws(JSONError) -> Float {
        let wide = try double()
        let value = kind == .number ? Float.nearest(to: wide) { literal } : Float(wide)
        if value.isOutOfRange(convertedFrom: wide) {
            throw rangeError(literal: literal, magnitude: wide, bits: Float.bitWidth, at: path)
        }
        return value
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

    /// Where a bulk value (an array or string left out of json-c's tree) is in the text, quotes or brackets
    /// included; nil for other values. A reader done with it may release those bytes.
    package var bulkTextRange: Range<Int>? { (bulk ?? bulkString)?.range }

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
        try readElements(into: destination)
    }

    /// Reads an array of numbers straight into `destination`, which must have room for exactly its elements.
    package func readNumbers(into destination: UnsafeMutableBufferPointer<Double>) throws(JSONError) {
        try readElements(into: destination)
    }

    /// Both `readNumbers`: from the text when the array was left out of json-c's tree, else from json-c's elements.
    private func readElements<T: TextFloat>(into destination: UnsafeMutableBufferPointer<T>) throws(JSONError) {
        if let bulk {
            try readText(of: bulk, into: destination)
        } else {
            try readTree(into: destination)
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
        let text = document.text
        var position = bulk.range.lowerBound + 1
        var released = position
        let releaseText = document.releaseText, releaseStride = document.releaseStride
        for index in destination.indices {
            if let release = releaseText, position - released >= releaseStride {
                release(released..<position)
                released = position
            }
            position = DecimalText.skipSeparators(text, from: position)
            let (d, end) = DecimalText.parse(text, at: position)
            let literal = UnsafeRawBufferPointer(rebasing: text[position..<end])
            let value = T.nearest(to: d) { String(decoding: literal, as: UTF8.self) }
            if value.isOutOfRange(convertedFrom: d) {
                throw rangeError(literal: String(decoding: literal, as: UTF8.self), magnitude: d, bits: T.bitWidth,
                                 at: path.appending(index))
            }
            destination[index] = value
            position = end
        }
    }

    /// `readNumbers` from json-c's elements: each double goes through `TextFloat.nearest` (for Float, rounding once
    /// from the literal); integer literals round to nearest like any other literal, and `-0` keeps its sign.
    private func readTree<T: TextFloat>(into destination: UnsafeMutableBufferPointer<T>) throws(JSONError) {
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
                value = T.nearest(to: d) { Self.literal(of: element) }
                if value.isOutOfRange(convertedFrom: d) {
                    throw rangeError(literal: Self.literal(of: element), magnitude: d, bits: T.bitWidth,
                                     at: path.appending(index))
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

    /// The number at `path` is out of range for a `bits`-bit float (`magnitude`: its value as a double).
    private func rangeError(literal: String, magnitude: Double, bits: Int, at path: JSONPath) -> JSONError {
        let underflow = magnitude.isFinite && abs(magnitude) < 1
        return JSONError(kind: .numberRange, file: document.file, path: path.description,
                         reason: "number \(literal) \(underflow ? "underflows" : "overflows") a \(bits)-bit float"
                            + (underflow ? " to zero" : ""))
    }

    /// A string's UTF-8 bytes in place (json-c's buffer, valid during `body`), for large payloads such as base64.
    package func withStringBytes<R>(_ body: (UnsafeRawBufferPointer) throws(JSONError) -> R) throws(JSONError) -> R {
        guard kind == .string, let pointer = json_object_get_string(object) else {
            throw typeError(expected: "a string")
        }
        if let bulkString {
            return try body(UnsafeRawBufferPointer(rebasing: document.text[bulkString.content]))
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
        return (0..<json_object_array_length(object)).map(element)
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
