import Foundation
import Testing
@testable import JSONSupport
import TestSupport


private func parse(_ text: String, file: String = "model.json",
                   limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONDocument {
    try JSONDocument.parse(Array(text.utf8), file: file, limits: limits)
}

@Suite("json-c wrapper")
struct JSONDocumentTests {
    @Test("a valid document reads back with types, key order and exact numbers")
    func validDocument() throws {
        let text = """
            {"zeta": 1, "alpha": {"units": 16, "activation": "relu", "use_bias": true, "note": null},
             "layers": [{"name": "d\\u00e9nse \\ud83d\\ude00"}, {"name": "out"}],
             "big": 9223372036854775807, "small": -9223372036854775808,
             "weights": [0.1, -2.5e-3, 3, 1e-310, 3.4028235e38], "odd key": "x\\ty"}\t\r\n  
            """
        let document = try parse(text)
        let root = document.root
        #expect(try root.keys() == ["zeta", "alpha", "layers", "big", "small", "weights", "odd key"])
        let alpha = try root.object(at: "alpha")
        #expect(try alpha.value(at: "units").int(in: 1...1024) == 16)
        #expect(try alpha.value(at: "activation").string() == "relu")
        #expect(try alpha.value(at: "use_bias").bool())
        #expect(try alpha.value(at: "note").isNull)
        #expect(try alpha.optionalValue(at: "absent") == nil)
        let layers = try root.value(at: "layers").array()
        #expect(try layers.map { try $0.value(at: "name").string() } == ["dénse 😀", "out"])
        #expect(layers[1].path.description == "$.layers[1]")
        #expect(try root.value(at: "big").int64() == .max)
        #expect(try root.value(at: "small").int64() == .min)
        let weights = try root.value(at: "weights").array()
        // A subnormal literal in Swift source draws a warning; parse it instead.
        let subnormal = try #require(Double("1e-310"))
        #expect(try weights.map { try $0.double() } == [0.1, -2.5e-3, 3, subnormal, 3.4028235e38])
        #expect(try weights[0].float() == Float(0.1))
        #expect(try weights[4].float() == .greatestFiniteMagnitude)
        #expect(try root.value(at: "odd key").string() == "x\ty")
        #expect(try root.value(at: "odd key").path.description == "$[\"odd key\"]")

        // Top-level scalars need json-c to see the end of input; they work too.
        #expect(try parse("123").root.int64() == 123)
        #expect(try parse(" null ").root.isNull)
        #expect(try parse("\"s\"").root.string() == "s")
    }

    /// Each bad input, the error kind, the JSON path, text the reason must contain, and the byte offset.
    struct BadInput: CustomTestStringConvertible, Sendable {
        var label: String
        var bytes: [UInt8]
        var kind: JSONError.Kind
        var path: String
        var reason: String
        var offset: Int?
        var testDescription: String { label }

        init(_ label: String, _ text: String, _ kind: JSONError.Kind, _ path: String, _ reason: String,
             offset: Int? = nil) {
            self.init(label, Array(text.utf8), kind, path, reason, offset: offset)
        }

        init(_ label: String, _ bytes: [UInt8], _ kind: JSONError.Kind, _ path: String, _ reason: String,
             offset: Int? = nil) {
            self.label = label
            self.bytes = bytes
            self.kind = kind
            self.path = path
            self.reason = reason
            self.offset = offset
        }
    }

    static let badInputs: [BadInput] = [
        BadInput("trailing garbage", #"{"a": 1} x"#, .trailingData, "$", "data after the end of the document: 'x'",
                 offset: 9),
        BadInput("two documents", #"{"a": 1}{"b": 2}"#, .trailingData, "$", "data after the end of the document: '{'",
                 offset: 8),
        BadInput("NUL after the document", Array(#"{"a": 1}"#.utf8) + [0, 0x20], .trailingData, "$",
                 "data after the end of the document: byte 0x0", offset: 8),
        BadInput("trailing comma", #"{"w": [1, 2,]}"#, .syntax, "$.w[2]", "unexpected character at ']'", offset: 12),
        BadInput("comment", #"{"a": 1 /* c */}"#, .syntax, "$.a", "at '/'", offset: 8),
        BadInput("single-quoted key (json-c accepts)", #"{'a': 1}"#, .syntax, "$", "expected an object key, found '''",
                 offset: 1),
        BadInput("single-quoted value", #"{"a": 'x'}"#, .syntax, "$.a", "unexpected character at '''", offset: 6),
        BadInput("NaN", #"{"w": [1.0, NaN]}"#, .nonFinite, "$.w[1]", "NaN is not a JSON number", offset: 12),
        BadInput("Infinity", #"{"w": Infinity}"#, .nonFinite, "$.w", "Infinity is not a JSON number", offset: 6),
        BadInput("-Infinity", #"{"w": [-Infinity]}"#, .nonFinite, "$.w[0]", "-Infinity is not a JSON number",
                 offset: 7),
        BadInput("1e400", #"{"w": [0.5, 1e400]}"#, .numberRange, "$.w[1]", "number 1e400 overflows a 64-bit float",
                 offset: 12),
        BadInput("1e-400", #"{"w": 1e-400}"#, .numberRange, "$.w", "underflows a 64-bit float to zero", offset: 6),
        BadInput("integer beyond Int64", #"{"units": 99999999999999999999}"#, .numberRange, "$.units",
                 "integer 99999999999999999999 is outside the Int64 range", offset: 10),
        BadInput("integer just beyond Int64", #"[-9223372036854775809]"#, .numberRange, "$[0]",
                 "outside the Int64 range", offset: 1),
        BadInput("malformed number 1.", #"[1.]"#, .syntax, "$[0]", "no digits after '.'", offset: 1),
        BadInput("duplicate key", #"{"a": 1, "a": 2}"#, .duplicateKey, "$.a", "duplicate key \"a\"", offset: 9),
        BadInput("duplicate key, nested", #"{"layers": [{"units": 1}, {"units": 2, "units": 3}]}"#, .duplicateKey,
                 "$.layers[1].units", "duplicate key \"units\"", offset: 39),
        BadInput("duplicate key via escapes", #"{"ab": 1, "a\u0062": 2}"#, .duplicateKey, "$.ab", "duplicate key",
                 offset: 10),
        BadInput("nesting deeper than the limit", String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
                 .depth, "$" + String(repeating: "[0]", count: 64), "nesting deeper than 64 levels", offset: 64),
        BadInput("invalid UTF-8 byte", [0x5B, 0x22, 0xFF, 0x22, 0x5D], .invalidUnicode, "$[0]", "invalid UTF-8",
                 offset: 2),
        BadInput("overlong UTF-8 (json-c accepts)", [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D], .invalidUnicode, "$[0]",
                 "invalid UTF-8", offset: 2),
        BadInput("UTF-8 encoded surrogate (json-c accepts)", [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D],
                 .invalidUnicode, "$[0]", "invalid UTF-8 sequence", offset: 2),
        BadInput("lone surrogate", #"{"name": "\ud800"}"#, .invalidUnicode, "$.name", "lone surrogate \\ud800",
                 offset: 10),
        BadInput("lone low surrogate", #"["x\udc00"]"#, .invalidUnicode, "$[0]", "lone surrogate \\udc00", offset: 3),
        BadInput("NUL in a key", #"{"layers": {"a\u0000b": 1}}"#, .nulCharacter, "$.layers",
                 "object key contains U+0000", offset: 14),
        BadInput("raw control character in a string", "[\"a\nb\"]", .syntax, "$[0]",
                 "unescaped control character U+000A", offset: 3),
        BadInput("truncated", #"{"a": [1, 2"#, .syntax, "$.a[1]", "unexpected end of input", offset: 11),
        BadInput("empty input", "", .syntax, "$", "empty input", offset: 0),
    ]

    @Test("hostile inputs are rejected with file, JSON path, offset and reason", arguments: badInputs)
    func rejects(_ input: BadInput) {
        let error = expectError(JSONError.self) { _ = try JSONDocument.parse(input.bytes, file: "weights.json") }
        guard let error else { return }
        let message = error.description
        #expect(error.kind == input.kind, "\(message)")
        #expect(error.file == "weights.json")
        #expect(error.path == input.path, "\(message)")
        #expect(message.hasPrefix("weights.json: \(input.path): "), "\(message)")
        #expect(message.contains(input.reason), "\(message)")
        if let offset = input.offset {
            #expect(error.offset == offset, "\(message)")
            #expect(message.contains("byte offset \(offset))"), "\(message)")
        }
    }

    @Test("float() rounds the decimal literal once, straight to Float (no double rounding via Double)")
    func floatRoundsOnce() throws {
        // Just above the midpoint 1 + 2^-24 between two floats: to Double it rounds onto the midpoint, which
        // Float then rounds to even (1.0); rounded once, it is the float above 1.
        let literal = "1.00000005960464477550"
        let viaDouble = Float(try #require(Double(literal)))
        let direct = try #require(Float(literal))
        #expect(viaDouble != direct)
        let value = try parse("[\(literal)]").root.array()[0]
        #expect(try value.float() == direct)
        #expect(try value.float().bitPattern == 0x3F80_0001)
    }

    @Test("line and column are reported for errors found in the text")
    func lineAndColumn() {
        let error = expectError(JSONError.self) { _ = try parse("{\n  \"a\": 1,\n  \"b\": NaN\n}") }
        #expect(error?.description == "model.json: $.b: NaN is not a JSON number (line 3, column 8, byte offset 19)")
    }

    @Test("the size cap applies before parsing, to bytes and to files")
    func sizeCap() throws {
        let limits = JSONLimits(maxBytes: 16, maxDepth: 64)
        let text = #"{"w": [1, 2, 3, 4, 5]}"#
        let error = expectError(JSONError.self) { _ = try parse(text, limits: limits) }
        #expect(error?.kind == .tooLarge)
        #expect(error?.description == "model.json: $: input of 22 bytes exceeds the limit of 16 bytes")

        let folder = try TemporaryFolder()
        let path = try folder.write("big.json", Array(text.utf8))
        let fileError = expectError(JSONError.self) { _ = try JSONDocument.parse(contentsOfFile: path, limits: limits) }
        #expect(fileError?.kind == .tooLarge)
        #expect(fileError?.description == "\(path): $: file of 22 bytes exceeds the limit of 16 bytes")

        #expect(try JSONDocument.parse(contentsOfFile: path).root.value(at: "w").array().count == 5)
        // Through a symlink, the target is what counts.
        let link = folder.path("link.json")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(try JSONDocument.parse(contentsOfFile: link).root.value(at: "w").array().count == 5)
        let emptyPath = try folder.write("empty.json", [])
        let empty = expectError(JSONError.self) { _ = try JSONDocument.parse(contentsOfFile: emptyPath) }
        #expect(empty?.description == "\(emptyPath): $: empty input (line 1, column 1, byte offset 0)")
        let directory = expectError(JSONError.self) { _ = try JSONDocument.parse(contentsOfFile: folder.url.path) }
        #expect(directory?.description == "\(folder.url.path): $: not a regular file")
        let missing = expectError(JSONError.self) { _ = try JSONDocument.parse(contentsOfFile: folder.path("nope.json")) }
        #expect(missing?.kind == .io)
        #expect(missing?.description == "\(folder.path("nope.json")): $: cannot open file: No such file or directory")
    }

    @Test("the depth limit counts nested arrays and objects exactly")
    func depthLimit() throws {
        let limits = JSONLimits(maxDepth: 3)
        for ok in ["[[[1]]]", "[[[]]]", #"{"a": {"b": {"c": 1}}}"#, "7"] {
            #expect(throws: Never.self, "\(ok)") { _ = try parse(ok, limits: limits) }
        }
        // Four containers, with and without something inside the innermost.
        let expectations = [
            (#"{"a": [[[1]]]}"#, "model.json: $.a[0][0]: nesting deeper than 3 levels"),
            (#"{"a": [[[]]]}"#, "model.json: $.a[0][0]: nesting deeper than 3 levels"),
            (#"[{"b": {"c": {}}}]"#, "model.json: $[0].b.c: nesting deeper than 3 levels"),
            (String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
             "model.json: $[0][0][0]: nesting deeper than 3 levels (line 1, column 4, byte offset 3)"),
        ]
        for (text, message) in expectations {
            let error = expectError(JSONError.self) { _ = try parse(text, limits: limits) }
            #expect(error?.kind == .depth)
            #expect(error?.description.hasPrefix(message) == true, "\(error?.description ?? "")")
        }
    }

    @Test("paths quote odd keys as JSON strings, escaped and cut short if long")
    func pathQuoting() {
        let odd = "a\"b\\c\n\t\r\u{1}\u{1F}\u{7F} é😀"
        #expect(JSONPath.quoted(odd) == #""a\"b\\c\n\t\r\u0001\u001f\u007f é😀""#)
        let path = JSONPath.root.appending("layers").appending(2).appending(odd).appending("_ok9").appending("9lives")
        #expect(path.description == #"$.layers[2]["a\"b\\c\n\t\r\u0001\u001f\u007f é😀"]._ok9["9lives"]"#)
        let sixty = String(repeating: "é", count: 60)
        #expect(JSONPath.quoted(sixty) == "\"" + sixty + "\"")
        #expect(JSONPath.quoted(sixty + "😀\n") == "\"" + sixty + "…\"")
        #expect(JSONPath.quoted("ab\ncd", limit: 3) == #""ab\n…""#)
    }

    @Test("accessors name the path and what they expected")
    func typeErrors() throws {
        let document = try parse(#"{"config": {"units": "16", "rate": 1e39, "n": 0, "exact": 9007199254740993, "name": "a\u0000b", "list": {}}}"#)
        let config = try document.root.object(at: "config")
        let cases: [(String, () throws -> Void)] = [
            ("model.json: $.config.units: expected an integer, found a string (\"16\")",
             { _ = try config.value(at: "units").int64() }),
            ("model.json: $.config.units: expected a number, found a string (\"16\")",
             { _ = try config.value(at: "units").double() }),
            ("model.json: $.config.rate: number 1e39 overflows a 32-bit float",
             { _ = try config.value(at: "rate").float() }),
            ("model.json: $.config.n: expected an integer in 1...4096, found 0",
             { _ = try config.value(at: "n").int(in: 1...4096) }),
            ("model.json: $.config.exact: integer 9007199254740993 cannot be represented exactly as a 64-bit float",
             { _ = try config.value(at: "exact").double() }),
            ("model.json: $.config.name: string contains U+0000", { _ = try config.value(at: "name").string() }),
            ("model.json: $.config.list: expected an array, found an object", { _ = try config.value(at: "list").array() }),
            ("model.json: $.config.activation: required key \"activation\" is missing",
             { _ = try config.value(at: "activation") }),
            ("model.json: $.config.units: expected an object, found a string (\"16\")",
             { _ = try config.object(at: "units") }),
            ("model.json: $: expected a boolean, found an object", { _ = try document.root.bool() }),
            ("model.json: $.config.n: expected a string, found an integer (0)", { _ = try config.value(at: "n").string() }),
        ]
        for (message, body) in cases {
            let error = expectError(JSONError.self) { try body() }
            #expect(error?.description == message)
        }
    }
}
