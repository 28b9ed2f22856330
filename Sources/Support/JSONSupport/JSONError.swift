// MARK: - Errors

/// A JSON document that cannot be used, with where (file, JSON path, byte offset) and why.
package struct JSONError: Error, CustomStringConvertible, Sendable {
    package enum Kind: Sendable, Equatable {
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

    package var kind: Kind
    /// The file name (or other label) given when parsing.
    package var file: String
    /// Where in the document: `$` is the root, then `.key` / `["odd key"]` / `[index]`.
    package var path: String
    /// Byte offset into the input, for errors found while reading the text.
    package var offset: Int?
    /// 1-based line and column (in bytes) of `offset`.
    package var line: Int?
    package var column: Int?
    package var reason: String

    package init(kind: Kind, file: String, path: String, offset: Int? = nil, line: Int? = nil, column: Int? = nil,
                reason: String) {
        self.kind = kind
        self.file = file
        self.path = path
        self.offset = offset
        self.line = line
        self.column = column
        self.reason = reason
    }

    package var description: String {
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
        let shown = key.unicodeScalars.prefix(limit)
        var text: [UInt8] = [UInt8(ascii: "\"")]
        JSONWriter.appendEscaped(Substring(shown).utf8, to: &text)
        if shown.endIndex != key.unicodeScalars.endIndex { text += "…".utf8 }
        text.append(UInt8(ascii: "\""))
        return String(decoding: text, as: UTF8.self)
    }
}
