import Foundation
import MLPCore
import MLPDocument
@testable import JSONFormat

// What the JSON model codec suites share: encoding (with CI's interop copy), decoding, awkward values.

/// Encodes `document` and, when `MLPCONV_INTEROP_DIR` is set, also writes the file there (CI validates every
/// `*.json` in that folder against schemas/mlpconv-model.schema.json with Python's jsonschema).
func encodeJSON(_ document: ModelDocument, _ encoding: JSONTensorEncoding, name: String) throws -> [UInt8] {
    let bytes = JSONModelCodec.encode(document, tensors: encoding)
    try writeInteropFile(bytes, name: "\(name)-\(encoding.rawValue).json")
    return bytes
}

/// Valid documents go to the top of the folder as `json-codec-<name>`; documents the schema must reject go to
/// its `json-codec-invalid` subfolder (scripts/interop_check.py checks both).
func writeInteropFile(_ bytes: [UInt8], name: String, invalid: Bool = false) throws {
    guard let root = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !root.isEmpty else { return }
    var directory = URL(fileURLWithPath: root, isDirectory: true)
    if invalid { directory.appendPathComponent("json-codec-invalid", isDirectory: true) }
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try Data(bytes).write(to: directory.appendingPathComponent("json-codec-" + name))
}

func decodeJSON(_ bytes: [UInt8], file: String = "model.json", limits: LoadLimits = LoadLimits()) throws(ModelFileError) -> ModelDocument {
    let result = bytes.withUnsafeBytes { raw in
        Result { () throws(ModelFileError) in try JSONModelCodec.decode(raw, file: file, limits: limits) }
    }
    return try result.get()
}

func decodeJSON(_ text: String, limits: LoadLimits = LoadLimits()) throws(ModelFileError) -> ModelDocument {
    try decodeJSON(Array(text.utf8), limits: limits)
}

/// Values that are hard to get through text: signed zeros, subnormals, extremes, then random bit patterns
/// (every exponent and mantissa) mixed with ordinary weights.
func awkwardFloats(count: Int, random: inout RandomGenerator) -> [Float] {
    let specials: [Float] = [0.1, -0.0, 0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude,
                             -.greatestFiniteMagnitude, 1, -1, 16_777_216, 16_777_218, 1e-7, 3.4e38, .ulpOfOne, 0.3]
    return (0..<count).map { index in
        if index < specials.count { return specials[index] }
        let bits = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
        return index % 3 == 0 && bits.isFinite ? bits : Float(random.nextStandardNormal() * 0.1)
    }
}

func awkwardDoubles(count: Int, random: inout RandomGenerator) -> [Double] {
    let specials: [Double] = [0.1, -0.0, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
                              -.greatestFiniteMagnitude, 9_007_199_254_740_994, 1e-300, -.leastNonzeroMagnitude, 1 / 3]
    return (0..<count).map { index in
        if index < specials.count { return specials[index] }
        let bits = Double(bitPattern: random.next())
        return index % 2 == 0 && bits.isFinite ? bits : random.nextStandardNormal()
    }
}

func awkwardTensor(_ shape: [Int], _ dtype: Tensor.DType, random: inout RandomGenerator) -> Tensor {
    let count = shape.reduce(1, *)
    switch dtype {
    case .float32: return Tensor(values: awkwardFloats(count: count, random: &random), shape: shape)
    case .float64: return Tensor(values: awkwardDoubles(count: count, random: &random), shape: shape)
    }
}
