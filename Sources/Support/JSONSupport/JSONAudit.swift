/// Re-reads a document json-c has accepted and rejects what json-c lets through. Non-recursive, validates
/// only, allocates only for object keys (to find duplicates).
///
/// This file has the structure (containers, keys, bulk values); strings and numbers are scanned in
/// `JSONAudit+Strings.swift` and `JSONAudit+Numbers.swift`.
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
    var position = 0
    private var frames: [Frame] = []
    /// When set, `run` stops quietly at this offset (used to name the path of a json-c syntax error).
    private var stopOffset: Int?
    /// Paths of `-0` integer literals, whose sign json-c drops.
    var negativeZeroIntegers: Set<JSONPath> = []
    /// Arrays of at least `bulkNumbers` numbers and nothing else, and strings of at least `bulkStrings` bytes
    /// without escapes, by path.
    private(set) var bulkValues: [JSONPath: BulkValue] = [:]
    private let bulkNumbers: Int
    private let bulkStrings: Int
    /// Whether the string just scanned had an escape sequence.
    var stringHadEscape = false
    /// Called with the text the audit has gone past, every `stride` bytes (see
    /// `JSONDocument.parse(borrowing:owner:file:limits:releasing:releaseStride:)`). Nothing behind `position` is read
    /// again unless there is an error to locate. Unmanaged (the caller keeps it alive while the audit runs): a
    /// reference stored in this struct makes the Swift 6.3 optimizer crash on it.
    var releasePassed: Unmanaged<TextRelease>?

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

    var currentPath: JSONPath {
        JSONPath(components: frames.compactMap { frame in
            switch frame {
            case .object(_, let key): key.map { .key($0) }
            case .array(let index, _, _): .index(index)
            }
        })
    }

    func fail(_ kind: JSONError.Kind, _ reason: String, at offset: Int? = nil) -> JSONError {
        JSONError.at(offset ?? position, in: bytes, kind: kind, file: file, path: currentPath.description,
                     reason: reason)
    }

    private var stopped: Bool {
        if let stopOffset { return position >= stopOffset }
        return false
    }

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek(), Self.isWhitespace(byte) { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(JSONError) {
        guard peek() == byte else {
            throw fail(.syntax, "expected '\(Character(Unicode.Scalar(byte)))', found " + foundHere)
        }
        position += 1
    }

    /// What is at `position`, for "expected …, found …".
    private var foundHere: String { peek().map(Self.describeByte) ?? "end of input" }

    package mutating func run() throws(JSONError) {
        expectingValue = true
        while !stopped {
            releaseIfDue()
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
                closeArray(start: start, count: index + 1, numbersOnly: numbersOnly)
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
            releaseIfDue()
            skipWhitespace()
            guard position < bytes.count else { break }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                index += 1
                frames[frames.count - 1] = .array(index: index, start: start, numbersOnly: true)
            } else if bytes[position] == UInt8(ascii: "]") {
                closeArray(start: start, count: index + 1, numbersOnly: true)
                break
            } else {
                break
            }
        }
        expectingValue = false
    }

    private func releaseIfDue() {
        releasePassed?._withUnsafeGuaranteedRef { $0.passed(position) }
    }

    /// Steps over the `]` of the array opened at `start` and notes it when it is a bulk array.
    private mutating func closeArray(start: Int, count: Int, numbersOnly: Bool) {
        position += 1
        frames.removeLast()
        if numbersOnly && count >= bulkNumbers {
            bulkValues[currentPath] = BulkValue(kind: .numbers, range: start..<position, count: count)
        }
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
            throw fail(.syntax, "expected an object key, found " + foundHere)
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
}
