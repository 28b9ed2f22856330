import MLPCore
import Testing
@testable import JSONSupport
import MLPDocument
@testable import JSONFormat
import TestSupport
import Foundation

@Suite("JSON model codec: large number arrays read from the text")
struct JSONBulkArrayTests {
    @Test("the audit picks out arrays of numbers only, at any depth, and readNumbers reads them exactly")
    func bulkArraysInTheWrapper() throws {
        let text = #"{"a": [1, 2.5, -0, 3e2, 1e-320, -0.0], "b": [1, "x", 2, 3, 4], "c": [[1, 2, 3, 4]], "d": [1, 2]}"#
        let document = try JSONDocument.parse(Array(text.utf8), file: "t.json", limits: JSONLimits(bulkNumberArrays: 4))
        #expect(Set(document.bulkValues.keys.map(\.description)) == ["$.a", "$.c[0]"])
        let a = try document.root.value(at: "a")
        #expect(try a.arrayCount() == 6)
        var doubles = [Double](repeating: 1, count: 6)
        try doubles.withUnsafeMutableBufferPointer { (buffer) throws(JSONError) in try a.readNumbers(into: buffer) }
        #expect(doubles.map(\.bitPattern) == [1, 2.5, -0.0, 300, try #require(Double("1e-320")), -0.0].map(\.bitPattern))
        var floats = [Float](repeating: 1, count: 4)
        let inner = try document.root.value(at: "c").array()[0]
        try floats.withUnsafeMutableBufferPointer { (buffer) throws(JSONError) in try inner.readNumbers(into: buffer) }
        #expect(floats == [1, 2, 3, 4])
        let error = expectError(JSONError.self) { _ = try a.array() }
        #expect(error?.description == "t.json: $.a: expected a short array, found an array of 6 numbers")
        #expect(try document.root.value(at: "b").array().count == 5)
        #expect(try document.root.value(at: "d").array().count == 2)
        // Long strings without escapes, likewise.
        let long = String(repeating: "ab", count: 3000)
        let strings = #"{"s": "\#(long)", "e": "\#(long)\n", "n": 1}"#
        let stringDocument = try JSONDocument.parse(Array(strings.utf8), file: "t.json", limits: JSONLimits(bulkStrings: 4096))
        #expect(Set(stringDocument.bulkValues.keys.map(\.description)) == ["$.s"])
        #expect(try stringDocument.root.value(at: "s").string() == long)
        #expect(try stringDocument.root.value(at: "s").withStringBytes { Array($0) } == Array(long.utf8))
        #expect(try stringDocument.root.value(at: "e").string() == long + "\n")
        let typeError = expectError(JSONError.self) { _ = try stringDocument.root.value(at: "s").double() }
        #expect(typeError?.description == "t.json: $.s: expected a number, found a string (\"" + String(long.prefix(38)) + "…\")")
        // Without the options nothing changes.
        let plain = try JSONDocument.parse(Array(text.utf8), file: "t.json")
        #expect(plain.bulkValues.isEmpty)
        #expect(try plain.root.value(at: "a").array().count == 6)
    }

    /// A one-layer document whose kernel is `[inputs, units]` with the given data literals.
    private func document(dtype: String = "float32", inputs: Int = 20, units: Int = 30, data: String) -> String {
        #"{"format": "mlpconv-model", "format_version": 1, "architecture": {"input_width": \#(inputs), "layers": "#
            + #"[{"name": "d", "units": \#(units), "activation": "relu", "use_bias": false}]}, "#
            + #""weights": {"d": {"kernel": {"dtype": "\#(dtype)", "shape": [\#(inputs), \#(units)], "data": \#(data)}}}}"#
    }

    private func literals(_ count: Int, with overrides: [Int: String] = [:]) -> String {
        "[" + (0..<count).map { overrides[$0] ?? "0.\($0 + 1)" }.joined(separator: ", ") + "]"
    }

    @Test("large arrays round-trip bit-exactly in both dtypes, with the literals that are hard to convert")
    func roundTrip() throws {
        var random = RandomGenerator(seed: 11)
        for dtype in Tensor.DType.allCases {
            let kernel = awkwardTensor([40, 50], dtype, random: &random)
            let document = ModelDocument(
                architecture: .init(inputWidth: 40, layers: [.init(name: "wide", units: 50, activation: .relu, useBias: false)]),
                weights: [.init(kernel: kernel, bias: nil)])
            for encoding in [JSONTensorEncoding.array, .base64] {
                let bytes = try encodeJSON(document, encoding, name: "large-\(dtype.rawValue)")
                #expect(try decodeJSON(bytes) == document)
            }
        }
        let tricky: [Int: String] = [0: "-0", 1: "1.00000005960464477550", 2: "16777217", 3: "-1e-45", 4: "3.4028235e38",
                                     5: "1.5E+3", 6: "0.000000000000000000000000000000000000000000001", 7: "123456789012345678901234567890.5",
                                     8: "-0.0", 9: "7.1e-46"]
        let decoded = try decodeJSON(document(data: literals(600, with: tricky)))
        let values = decoded.weights[0].kernel.float32Values
        #expect(values[0..<10].map(\.bitPattern) == [0x8000_0000, 0x3F80_0001, Float(16_777_216).bitPattern, 0x8000_0001,
                                                     Float.greatestFiniteMagnitude.bitPattern, Float(1500).bitPattern,
                                                     0x0000_0001, Float("123456789012345678901234567890.5")?.bitPattern,
                                                     0x8000_0000, 0x0000_0001])
        #expect(values[599] == Float("0.600"))
        let doubles = try decodeJSON(document(dtype: "float64", data: literals(600, with: [0: "0.30000000000000004",
            1: "9007199254740993", 2: "2.2250738585072014e-308", 3: "-1e-320", 4: "1.7976931348623157e308", 5: "-0"])))
            .weights[0].kernel.float64Values
        #expect(doubles[0..<6].map(\.bitPattern) == [0.30000000000000004, 9_007_199_254_740_992, 2.2250738585072014e-308,
                                                     -(try #require(Double("1e-320"))), .greatestFiniteMagnitude, -0.0].map(\.bitPattern))
        #expect(doubles[599] == 0.6)
    }

    @Test("errors inside large arrays name the element")
    func errors() throws {
        let cases: [(String, String)] = [
            (literals(600, with: [300: "1e39"]), "$.weights.d.kernel.data[300]: number 1e39 overflows a 32-bit float"),
            (literals(600, with: [301: "-1e-50"]), "$.weights.d.kernel.data[301]: number -1e-50 underflows a 32-bit float to zero"),
            (literals(600, with: [302: "NaN"]), "$.weights.d.kernel.data[302]: NaN is not a JSON number"),
            (literals(600, with: [303: "1e400"]), "$.weights.d.kernel.data[303]: number 1e400 overflows a 64-bit float"),
            (literals(600, with: [304: "\"1.5\""]), "$.weights.d.kernel.data[304]: expected a number, found a string (\"1.5\")"),
            (literals(600, with: [305: "[1]"]), "$.weights.d.kernel.data[305]: expected a number, found an array"),
            (literals(599), "$.weights.d.kernel.data: has 599 values; shape [20, 30] needs 600"),
            (literals(600, with: [306: "01"]), "$.weights.d.kernel.data[306]: number expected at ',' (json-c)"),
            (literals(600, with: [307: "99999999999999999999"]), "$.weights.d.kernel.data[307]: integer 99999999999999999999 is outside the Int64 range"),
        ]
        for (data, message) in cases {
            let error = expectError(ModelFileError.self) { _ = try decodeJSON(document(data: data)) }
            #expect(error?.description.hasPrefix("model.json: " + message) == true, "\(message) ← \(error?.description ?? "no error")")
        }
        // An invalid character in a long base64 string.
        let base64 = document(data: "\"" + String(repeating: "A", count: 3200) + "\"").replacingOccurrences(of: "AAAAA\"", with: "AA.AA\"")
        let base64Error = expectError(ModelFileError.self) { _ = try decodeJSON(base64) }
        #expect(base64Error?.description == "model.json: $.weights.d.kernel.data: invalid base64 character '.' at index 3197")
        // A long number array where a shape belongs is still a shape error.
        let shape = document(data: literals(600)).replacingOccurrences(of: #""shape": [20, 30]"#, with: #""shape": "# + literals(300))
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(shape) }
        #expect(error?.description == "model.json: $.weights.d.kernel.shape: expected at most 8 dimensions, found 300")
    }
}
