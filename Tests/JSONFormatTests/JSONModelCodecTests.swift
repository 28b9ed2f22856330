import Foundation
import MLPCore
import Testing
@testable import JSONSupport
import MLPDocument
import FormatSupport
@testable import JSONFormat
import TestSupport


// MARK: - Helpers

/// Encodes `document` and, when `MLPCONV_INTEROP_DIR` is set, also writes the file there (CI validates every
/// `*.json` in that folder against schemas/mlpconv-model.schema.json with Python's jsonschema).
private func encodeJSON(_ document: ModelDocument, _ encoding: JSONTensorEncoding, name: String) throws -> [UInt8] {
    let bytes = JSONModelCodec.encode(document, tensors: encoding)
    try writeInteropFile(bytes, name: "\(name)-\(encoding.rawValue).json")
    return bytes
}

/// Valid documents go to the top of the folder as `json-codec-<name>`; documents the schema must reject go to
/// its `json-codec-invalid` subfolder (scripts/interop_check.py checks both).
private func writeInteropFile(_ bytes: [UInt8], name: String, invalid: Bool = false) throws {
    guard let root = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !root.isEmpty else { return }
    var directory = URL(fileURLWithPath: root, isDirectory: true)
    if invalid { directory.appendPathComponent("json-codec-invalid", isDirectory: true) }
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try Data(bytes).write(to: directory.appendingPathComponent("json-codec-" + name))
}

private func decodeJSON(_ bytes: [UInt8], file: String = "model.json", limits: LoadLimits = LoadLimits()) throws(ModelFileError) -> ModelDocument {
    let result = bytes.withUnsafeBytes { raw in
        Result { () throws(ModelFileError) in try JSONModelCodec.decode(raw, file: file, limits: limits) }
    }
    return try result.get()
}

private func decodeJSON(_ text: String, limits: LoadLimits = LoadLimits()) throws(ModelFileError) -> ModelDocument {
    try decodeJSON(Array(text.utf8), limits: limits)
}

/// Values that are hard to get through text: signed zeros, subnormals, extremes, then random bit patterns
/// (every exponent and mantissa) mixed with ordinary weights.
private func awkwardFloats(count: Int, random: inout RandomGenerator) -> [Float] {
    let specials: [Float] = [0.1, -0.0, 0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude,
                             -.greatestFiniteMagnitude, 1, -1, 16_777_216, 16_777_218, 1e-7, 3.4e38, .ulpOfOne, 0.3]
    return (0..<count).map { index in
        if index < specials.count { return specials[index] }
        let bits = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
        return index % 3 == 0 && bits.isFinite ? bits : Float(random.nextStandardNormal() * 0.1)
    }
}

private func awkwardDoubles(count: Int, random: inout RandomGenerator) -> [Double] {
    let specials: [Double] = [0.1, -0.0, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
                              -.greatestFiniteMagnitude, 9_007_199_254_740_994, 1e-300, -.leastNonzeroMagnitude, 1 / 3]
    return (0..<count).map { index in
        if index < specials.count { return specials[index] }
        let bits = Double(bitPattern: random.next())
        return index % 2 == 0 && bits.isFinite ? bits : random.nextStandardNormal()
    }
}

private func tensor(_ shape: [Int], _ dtype: Tensor.DType, random: inout RandomGenerator) -> Tensor {
    let count = shape.reduce(1, *)
    switch dtype {
    case .float32: return Tensor(values: awkwardFloats(count: count, random: &random), shape: shape)
    case .float64: return Tensor(values: awkwardDoubles(count: count, random: &random), shape: shape)
    }
}

/// A trained-looking model: every parameter and slot filled with awkward values in `dtype`.
private func sampleDocument(
    optimizer config: OptimizerConfig = OptimizerConfig(.adam), dtype: Tensor.DType = .float32, seed: UInt64 = 7
) throws -> ModelDocument {
    let model = try Model<Float>(
        inputWidth: 5,
        layers: [LayerSpec(7, .relu, name: "hidden"), LayerSpec(4, .tanh, name: "mid dle", useBias: false,
                                                                  kernelInitializer: .heNormal),
                 LayerSpec(3, .softmax, name: "out", biasInitializer: .ones)],
        loss: .categoricalCrossentropy, optimizer: config, seed: seed)
    var document = ModelDocument(model: model, metadata: [
        "description": "quotes \" backslash \\ tab \t newline \n and unicode: ümlaut, 日本語, 😀",
        "created_by": "mlpconv tests", "": "empty key", "control \u{1}": "\u{7F}",
        "long": String(repeating: "ab ü ", count: 1500), "long with escapes": String(repeating: "a\"b\n", count: 1500),
    ])
    var random = RandomGenerator(seed: seed)
    document.weights = document.weights.map { weights in
        ModelDocument.LayerWeights(kernel: tensor(weights.kernel.shape, dtype, random: &random),
                                   bias: weights.bias.map { tensor($0.shape, dtype, random: &random) })
    }
    if var training = document.training {
        training.optimizer.iterations = 123
        training.optimizer.slots = training.optimizer.slots.map { slot in
            .init(name: slot.name, tensors: slot.tensors.map { tensor($0.shape, dtype, random: &random) })
        }
        training.epochsCompleted = 3
        training.history = [
            EpochRecord(epoch: 1, metrics: ["loss": 0.75, "accuracy": 0.5, "val_loss": 0.8, "val_accuracy": 0.25]),
            EpochRecord(epoch: 2, metrics: ["loss": .nan, "accuracy": 0.1]),
            EpochRecord(epoch: 3, metrics: ["loss": .infinity, "val_loss": -.infinity]),
        ]
        document.training = training
    }
    return document
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

private func schemaURL() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas/mlpconv-model.schema.json")
}

// MARK: - Round trips

@Suite("JSON model codec: round trips")
struct JSONModelCodecRoundTripTests {
    static let encodings = JSONTensorEncoding.allCases
    static let dtypes = Tensor.DType.allCases

    @Test("bit-exact round trip in every encoding and dtype (special values, history NaN, unicode metadata)",
          arguments: encodings, dtypes)
    func roundTrip(encoding: JSONTensorEncoding, dtype: Tensor.DType) throws {
        let document = try sampleDocument(dtype: dtype)
        try document.validate()
        let bytes = try encodeJSON(document, encoding, name: "roundtrip-\(dtype.rawValue)")
        let decoded = try decodeJSON(bytes)
        #expect(decoded == document)
        // Again from the decoded document: the same bytes (writing is deterministic).
        #expect(JSONModelCodec.encode(decoded, tensors: encoding) == bytes)
    }

    @Test("tensors with NaN or ±∞ are written as base64 in every encoding and read back with their payloads")
    func nonFiniteTensors() throws {
        var document = try sampleDocument()
        let kernel = document.weights[0].kernel
        var values = kernel.float32Values
        values[0] = Float(bitPattern: 0x7FC0_1234)  // NaN with a payload
        values[1] = -.infinity
        values[2] = .infinity
        values[3] = Float(bitPattern: 0xFF80_0001)  // signalling NaN, negative
        document.weights[0].kernel = Tensor(values: values, shape: kernel.shape)
        for encoding in JSONTensorEncoding.allCases {
            let bytes = try encodeJSON(document, encoding, name: "nonfinite")
            let decoded = try decodeJSON(bytes)
            #expect(decoded == document)
            let kernelValue = try JSONDocument.parse(bytes, file: "m").root.object(at: "weights").object(at: "hidden")
                .object(at: "kernel").value(at: "data")
            #expect(kernelValue.kind == .string, "\(encoding)")
            #expect(decoded.weights[0].kernel.float32Values[0].bitPattern == 0x7FC0_1234)
            #expect(decoded.weights[0].kernel.float32Values[3].bitPattern == 0xFF80_0001)
        }
    }

    @Test("optimizer slots of every optimizer kind and setting round-trip and rebuild a trainable model")
    func everyOptimizer() throws {
        var configs: [OptimizerConfig] = [OptimizerConfig(.sgd), OptimizerConfig(.adam), OptimizerConfig(.adamw),
                                          OptimizerConfig(.rmsprop), OptimizerConfig(.adagrad)]
        var sgd = OptimizerConfig(.sgd, learningRate: 0.05)
        sgd.momentum = 0.9
        sgd.nesterov = true
        sgd.clipnorm = 1.5
        var amsgrad = OptimizerConfig(.adam)
        amsgrad.amsgrad = true
        amsgrad.globalClipnorm = 0.13
        var rmsprop = OptimizerConfig(.rmsprop)
        rmsprop.momentum = 0.5
        rmsprop.centered = true
        rmsprop.clipvalue = 2
        var adagrad = OptimizerConfig(.adagrad)
        adagrad.initialAccumulatorValue = 0.25
        adagrad.weightDecay = 1e-4
        configs += [sgd, amsgrad, rmsprop, adagrad]
        for (index, config) in configs.enumerated() {
            let document = try sampleDocument(optimizer: config, seed: UInt64(index))
            #expect(document.training?.optimizer.slots.map(\.name) == config.slotNames)
            for encoding in JSONTensorEncoding.allCases {
                let bytes = try encodeJSON(document, encoding, name: "optimizer-\(index)-\(config.kind.name)")
                let decoded = try decodeJSON(bytes)
                #expect(decoded == document, "\(config.kind.name) \(encoding)")
                #expect(decoded.training?.optimizer.config == config)
                let model: Model<Float> = try decoded.model()
                #expect(model.training.optimizer.state.iterations == 123)
            }
        }
    }

    @Test("a network-only document (no training state, no Keras) round-trips and writes no training key")
    func networkOnly() throws {
        var random = RandomGenerator(seed: 1)
        let network = try Network<Double>(inputWidth: 3, layers: [LayerSpec(2, .sigmoid), LayerSpec(1, .linear, useBias: false)],
                                          random: &random)
        let document = ModelDocument(network: network)
        for encoding in JSONTensorEncoding.allCases {
            let bytes = try encodeJSON(document, encoding, name: "network-only")
            #expect(!text(bytes).contains("\"training\""))
            let decoded = try decodeJSON(bytes)
            #expect(decoded == document)
            #expect(decoded.training == nil)
            #expect(decoded.weights[0].kernel.dtype == .float64)
            let rebuilt: Network<Double> = try decoded.network(as: Double.self)
            #expect(rebuilt == network)
        }
    }

    @Test("numbers are written in the shortest form for their dtype; the layout is line-oriented")
    func shortestNumbers() throws {
        let architecture = ModelDocument.Architecture(inputWidth: 2, layers: [ModelDocument.Layer(name: "d", units: 3, activation: .relu)])
        let kernel = try Tensor(shape: [2, 3], float32: [0.1, -0.0, .leastNonzeroMagnitude, 3.4028235e38, 3, 0.3])
        let bias = try Tensor(shape: [3], float64: [0.1, -0.0, 1e-300])
        let document = ModelDocument(architecture: architecture, weights: [.init(kernel: kernel, bias: bias)])
        let written = text(try encodeJSON(document, .array, name: "shortest"))
        #expect(written.contains(#""kernel": {"dtype": "float32", "shape": [2, 3], "data": [0.1,-0.0,1e-45,3.4028235e+38,3.0,0.3]}"#),
                "\(written)")
        #expect(written.contains(#""data": [0.1,-0.0,1e-300]"#))
        #expect(!written.contains("0.10000000149011612"))
        #expect(written.hasPrefix("{\n  \"format\": \"mlpconv-model\",\n  \"format_version\": 1,\n  \"architecture\": {\n"))
        #expect(written.contains(#"    {"name": "d", "units": 3, "activation": "relu", "use_bias": true, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}"#))
        #expect(written.hasSuffix("  \"metadata\": {}\n}\n"))
        // auto: small tensors as arrays, large ones as base64.
        let big = try Tensor(shape: [2, 4097], float32: [Float](repeating: 0.5, count: 8194))
        let wide = ModelDocument(
            architecture: .init(inputWidth: 2, layers: [.init(name: "d", units: 4097, activation: .relu, useBias: false)]),
            weights: [.init(kernel: big, bias: nil)])
        let autoBytes = try encodeJSON(wide, .auto, name: "auto-large")
        #expect(text(autoBytes).contains(#""data": "AAAAPwAAAD8"#))
        #expect(try decodeJSON(autoBytes) == wide)
    }

    @Test("literals other writers produce read back exactly: -0, integers, exponents, one-rounding to float32")
    func foreignLiterals() throws {
        let source = #"""
            {"format": "mlpconv-model", "format_version": 1,
             "architecture": {"input_width": 1, "layers": [{"name": "d", "units": 6, "activation": "linear"}]},
             "weights": {"d": {"kernel": {"dtype": "float32", "shape": [1, 6],
                                          "data": [-0, 0, 7, 1.00000005960464477550, 2.5E-3, -1e-45]},
                               "bias": {"dtype": "float64", "shape": [6], "data": [-0, 9007199254740993, 1E2, -0.0, 1e-320, 0.1]}}}}
            """#
        let document = try decodeJSON(source)
        let kernel = document.weights[0].kernel.float32Values
        #expect(kernel.map(\.bitPattern) == [0x8000_0000, 0, Float(7).bitPattern, 0x3F80_0001, Float(2.5e-3).bitPattern,
                                             0x8000_0001])
        let bias = try #require(document.weights[0].bias).float64Values
        #expect(bias[0].bitPattern == (-0.0 as Double).bitPattern)
        #expect(bias[1] == 9_007_199_254_740_992)  // nearest double, as strtod gives for the same literal
        #expect(bias[2] == 100 && bias[3].sign == .minus && bias[4] == Double("1e-320") && bias[5] == 0.1)
        #expect(document.metadata.isEmpty && document.training == nil)
    }

    @Test("base64 coder: every length and every byte value round-trips; strict decoding")
    func base64() throws {
        var random = RandomGenerator(seed: 3)
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var encoded = [UInt8](repeating: 0, count: Base64.encodedCount(length))
            let written = bytes.withUnsafeBytes { raw in encoded.withUnsafeMutableBufferPointer { Base64.encode(raw, into: $0) } }
            #expect(written == encoded.count)
            #expect(text(encoded) == Data(bytes).base64EncodedString())
            var decoded = [UInt8](repeating: 0, count: length)
            try encoded.withUnsafeBytes { raw in try decoded.withUnsafeMutableBytes { try Base64.decode(raw, into: $0) } }
            #expect(decoded == bytes)
        }
        func failure(_ text: String, bytes: Int) -> Base64.DecodingError? {
            var output = [UInt8](repeating: 0, count: bytes)
            let input = Array(text.utf8)
            return input.withUnsafeBytes { raw in
                output.withUnsafeMutableBytes { out in
                    do throws(Base64.DecodingError) { try Base64.decode(raw, into: out); return nil } catch { return error }
                }
            }
        }
        #expect(failure("QQ==", bytes: 1) == nil)
        #expect(failure("QR==", bytes: 1) == .nonCanonical(index: 1))
        #expect(failure("QUI=", bytes: 2) == nil)
        #expect(failure("QUJ=", bytes: 2) == .nonCanonical(index: 2))
        #expect(failure("QQ=A", bytes: 1) == .padding(index: 3))
        #expect(failure("Q===", bytes: 1) == .invalidCharacter(index: 1, byte: UInt8(ascii: "=")))
        #expect(failure("AAAA AAA", bytes: 6) == .invalidCharacter(index: 4, byte: 0x20))
        #expect(failure("AAAAAA-A", bytes: 6) == .invalidCharacter(index: 6, byte: UInt8(ascii: "-")))
        #expect(failure("AAAA", bytes: 6) == .length(characters: 4, expected: 8))
    }
}

// MARK: - Bad inputs

/// A valid document the bad-input cases mutate: two layers (one without bias), float32 arrays, one base64
/// tensor, SGD with momentum, history, random state, metadata.
private let validDocument = #"""
    {
      "format": "mlpconv-model",
      "format_version": 1,
      "architecture": {"input_width": 2, "layers": [
        {"name": "hidden", "units": 3, "activation": "relu"},
        {"name": "out", "units": 1, "activation": "linear", "use_bias": false}]},
      "weights": {
        "hidden": {"kernel": {"dtype": "float32", "shape": [2, 3], "data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]},
                   "bias": {"dtype": "float32", "shape": [3], "data": [0, 0, 0]}},
        "out": {"kernel": {"dtype": "float32", "shape": [3, 1], "data": "AACAPwAAAEAAAEBA"}}
      },
      "training": {
        "loss": "mse",
        "optimizer": {"name": "sgd", "hyperparameters": {"learning_rate": 0.01, "momentum": 0.9}, "iterations": 5,
                      "slots": {"momentum": {"hidden/kernel": {"dtype": "float32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]},
                                             "hidden/bias": {"dtype": "float64", "shape": [3], "data": [1, 2, 3]},
                                             "out/kernel": {"dtype": "float32", "shape": [3, 1], "data": [1, 2, 3]}}}},
        "epochs_completed": 1,
        "random_state": ["0123456789abcdef", "0000000000000002", "0000000000000003", "0000000000000004"],
        "history": [{"epoch": 1, "metrics": {"loss": 0.5, "val_loss": "NaN"}}]
      },
      "metadata": {"description": "bad-input template"}
    }
    """#

struct BadDocument: CustomTestStringConvertible, Sendable {
    var label: String
    var bytes: [UInt8]
    /// The JSON path the message must name, and text the reason must contain.
    var path: String
    var reason: String
    /// Whether the published schema can reject this document too (CI checks it does).
    var schemaRejects: Bool
    var limits = LoadLimits()
    var testDescription: String { label }

    /// The template with `old` replaced by `new` (which must occur exactly once).
    init(_ label: String, _ old: String, _ new: String, _ path: String, _ reason: String, schema: Bool = true,
         limits: LoadLimits = LoadLimits()) {
        self.init(label, [(old, new)], path, reason, schema: schema, limits: limits)
    }

    /// The template with each `old` replaced by its `new`; a case whose `old` is not found exactly once carries
    /// a marker that makes its test fail with a clear message.
    init(_ label: String, _ replacements: [(old: String, new: String)], _ path: String, _ reason: String,
         schema: Bool = true, limits: LoadLimits = LoadLimits()) {
        var bytes = templateBytes
        for (old, new) in replacements {
            let text = String(decoding: bytes, as: UTF8.self)
            let parts = text.components(separatedBy: old)
            bytes = parts.count == 2 ? Array(parts.joined(separator: new).utf8)
                                     : Array("template mismatch: \(old) occurs \(parts.count - 1) times".utf8)
        }
        self.init(label, bytes: bytes, path, reason, schema: schema, limits: limits)
    }

    init(_ label: String, bytes: [UInt8], _ path: String, _ reason: String, schema: Bool = true,
         limits: LoadLimits = LoadLimits()) {
        self.label = label
        self.bytes = bytes
        self.path = path
        self.reason = reason
        self.schemaRejects = schema
        self.limits = limits
    }
}

private let kernelData = #""data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]"#

/// The template cut right after `marker` (a prefix of it, `cut` bytes long).
private func truncated(after marker: String, keeping cut: Int) -> [UInt8] {
    guard let range = validDocument.range(of: marker) else { return [] }
    return Array(validDocument[..<range.lowerBound].utf8) + Array(marker.utf8.prefix(cut))
}

/// The template with `old` replaced by raw bytes (invalid UTF-8 cannot be in a Swift string).
private func replacing(_ old: String, withBytes new: [UInt8]) -> [UInt8] {
    guard let range = validDocument.range(of: old) else { return [] }
    return Array(validDocument[..<range.lowerBound].utf8) + new + Array(validDocument[range.upperBound...].utf8)
}
private let hiddenKernelShape = #""shape": [2, 3], "data": [0.1"#
private let templateBytes = Array(validDocument.utf8)

@Suite("JSON model codec: bad inputs (bad-inputs.md)")
struct JSONModelCodecBadInputTests {
    static let cases: [BadDocument] = [
        // 1. Not a model file
        BadDocument("1: empty file", bytes: [], "$", "empty input"),
        BadDocument("1: a JSON array", bytes: Array("[1, 2]".utf8), "$",
                    "expected an mlpconv model document (a JSON object), found an array"),
        BadDocument("1: another JSON document", bytes: Array(#"{"class_name": "Sequential"}"#.utf8), "$.format",
                    "not an mlpconv model document: required key \"format\" is missing (expected \"mlpconv-model\")"),
        BadDocument("1: another format", #""format": "mlpconv-model""#, #""format": "keras""#, "$.format",
                    "not an mlpconv model document: format is \"keras\", expected \"mlpconv-model\""),
        BadDocument("1: newer format version", #""format_version": 1"#, #""format_version": 2"#, "$.format_version",
                    "format version 2 is newer than this mlpconv reads (1); a newer mlpconv is needed"),
        BadDocument("1: format version 0", #""format_version": 1"#, #""format_version": 0"#, "$.format_version",
                    "expected format version 1, found 0"),
        // 2. Truncated
        BadDocument("2: truncated", bytes: Array(templateBytes.prefix(templateBytes.count / 2)), "$.training.optimizer.hyperparameters",
                    "unexpected end of input (truncated?)"),
        BadDocument("2: truncated inside a number", bytes: truncated(after: "0.6]", keeping: 2), "$.weights.hidden.kernel.data[5]",
                    "unexpected end of input (truncated?)"),
        // 5. Shapes disagreeing with the architecture
        BadDocument("5: kernel shape", hiddenKernelShape, #""shape": [64, 32], "data": [0.1"#, "$.weights.hidden.kernel.shape",
                    "shape [64, 32] does not match the architecture: layer \"hidden\" (2 inputs × 3 units) needs [2, 3]",
                    schema: false),
        BadDocument("5: bias shape", #""shape": [3], "data": [0, 0, 0]"#, #""shape": [4], "data": [0, 0, 0, 0]"#,
                    "$.weights.hidden.bias.shape",
                    "shape [4] does not match the architecture: layer \"hidden\" (3 units) needs [3]", schema: false),
        BadDocument("5: slot shape", #""shape": [3, 1], "data": [1, 2, 3]"#, #""shape": [1, 3], "data": [1, 2, 3]"#,
                    "$.training.optimizer.slots.momentum[\"out/kernel\"].shape",
                    "shape [1, 3] does not match the architecture: out/kernel needs [3, 1]", schema: false),
        BadDocument("5: data length vs shape", kernelData, #""data": [0.1, 0.2, 0.3, 0.4, 0.5]"#,
                    "$.weights.hidden.kernel.data", "has 5 values; shape [2, 3] needs 6", schema: false),
        BadDocument("5: negative dimension", hiddenKernelShape, #""shape": [-2, 3], "data": [0.1"#,
                    "$.weights.hidden.kernel.shape[0]", "expected an integer ≥ 0, found -2"),
        BadDocument("5: too many dimensions", hiddenKernelShape, #""shape": [1,1,1,1,1,1,1,1,1], "data": [0.1"#,
                    "$.weights.hidden.kernel.shape", "expected at most 8 dimensions, found 9"),
        // 6. Missing and unexpected tensors
        BadDocument("6: missing bias", #",\#n               "bias": {"dtype": "float32", "shape": [3], "data": [0, 0, 0]}"#, "",
                    "$.weights.hidden.bias", "required key \"bias\" is missing", schema: false),
        BadDocument("6: missing layer weights", #",\#n    "out": {"kernel": {"dtype": "float32", "shape": [3, 1], "data": "AACAPwAAAEAAAEBA"}}"#,
                    "", "$.weights.out",
                    "missing weights for layer \"out\" (the architecture's layers are: \"hidden\", \"out\")", schema: false),
        BadDocument("6: weights for an unknown layer", #""out": {"kernel""#, #""extra": {}, "out": {"kernel""#,
                    "$.weights.extra", "unexpected weights for layer \"extra\" (the architecture's layers are: \"hidden\", \"out\")",
                    schema: false),
        BadDocument("6: bias on a layer without bias", #""data": "AACAPwAAAEAAAEBA"}"#,
                    #""data": "AACAPwAAAEAAAEBA"}, "bias": {"dtype": "float32", "shape": [1], "data": [0]}"#,
                    "$.weights.out.bias", "unexpected tensor: layer \"out\" has use_bias false", schema: false),
        BadDocument("6: unknown tensor in a layer", #""data": "AACAPwAAAEAAAEBA"}"#, #""data": "AACAPwAAAEAAAEBA"}, "gamma": 1"#,
                    "$.weights.out", "unknown key \"gamma\"; expected bias, kernel"),
        BadDocument("6: unknown key in a tensor", #""shape": [3], "data": [0, 0, 0]"#, #""shape": [3], "data": [0, 0, 0], "order": "C""#,
                    "$.weights.hidden.bias", "unknown key \"order\"; expected data, dtype, shape"),
        BadDocument("6: missing slot entry", #""hidden/bias": {"dtype": "float64", "shape": [3], "data": [1, 2, 3]},"#, "",
                    "$.training.optimizer.slots.momentum[\"hidden/bias\"]",
                    "missing slot entry \"hidden/bias\" (the model's parameters are: \"hidden/kernel\", \"hidden/bias\", \"out/kernel\")",
                    schema: false),
        BadDocument("6: unexpected slot entry", #""out/kernel": {"#, #""out/bias": {}, "out/kernel": {"#,
                    "$.training.optimizer.slots.momentum[\"out/bias\"]", "unexpected slot entry \"out/bias\"", schema: false),
        BadDocument("6: unexpected slot", #""slots": {"momentum""#, #""slots": {"velocity": {}, "momentum""#,
                    "$.training.optimizer.slots.velocity",
                    "unexpected slot \"velocity\" (sgd with these hyperparameters keeps slots: \"momentum\")", schema: false),
        BadDocument("6: missing slot", [(#""name": "sgd""#, #""name": "adam""#), (#", "momentum": 0.9}"#, "}")],
                    "$.training.optimizer.slots.velocity",
                    "missing slot \"velocity\" (adam with these hyperparameters keeps slots: \"momentum\", \"velocity\")",
                    schema: false),
        BadDocument("6: slot kept by no setting", #""learning_rate": 0.01, "momentum": 0.9"#, #""learning_rate": 0.01, "momentum": 0"#,
                    "$.training.optimizer.slots.momentum",
                    "unexpected slot \"momentum\" (sgd with these hyperparameters keeps no slots)", schema: false),
        // 7. Declared sizes that would exhaust memory
        BadDocument("7: 1e6 × 1e6 declared", #""input_width": 2"#, #""input_width": 1000000"#, "$.weights.hidden.kernel.shape",
                    "shape [2, 3] does not match the architecture: layer \"hidden\" (1000000 inputs × 3 units) needs [1000000, 3]",
                    schema: false),
        BadDocument("7: element count overflows", hiddenKernelShape, #""shape": [4611686018427387904, 4], "data": [0.1"#,
                    "$.weights.hidden.kernel.shape", "shape [4611686018427387904, 4] has more elements than can be addressed",
                    schema: false),
        // 9. Widths and layer counts
        BadDocument("9: units -3", #""units": 3"#, #""units": -3"#, "$.architecture.layers[0].units",
                    "expected a positive integer, got -3"),
        BadDocument("9: units 0", #""units": 3"#, #""units": 0"#, "$.architecture.layers[0].units",
                    "expected a positive integer, got 0"),
        BadDocument("9: units too large", #""units": 3"#, #""units": 99999999"#, "$.architecture.layers[0].units",
                    "expected a positive integer up to 16777216, got 99999999"),
        BadDocument("9: input width 0", #""input_width": 2"#, #""input_width": 0"#, "$.architecture.input_width",
                    "expected a positive integer, got 0"),
        BadDocument("9: zero layers", [(#"{"name": "hidden", "units": 3, "activation": "relu"},"#, ""),
                                       (#"{"name": "out", "units": 1, "activation": "linear", "use_bias": false}"#, "")],
                    "$.architecture.layers", "a model needs at least one layer"),
        BadDocument("9: duplicate layer name", #""name": "out""#, #""name": "hidden""#, "$.architecture.layers[1].name",
                    "layer name \"hidden\" is used twice; names must be unique", schema: false),
        BadDocument("9: layer name with a slash", #""name": "out""#, #""name": "a/b""#, "$.architecture.layers[1].name",
                    "\"a/b\" is not a valid layer name"),
        // 10. Unsupported dtypes
        BadDocument("10: int32 dtype", #""dtype": "float64""#, #""dtype": "int32""#,
                    "$.training.optimizer.slots.momentum[\"hidden/bias\"].dtype",
                    "unsupported dtype \"int32\"; supported: float32, float64"),
        BadDocument("10: float16 dtype", #""dtype": "float32", "shape": [3]"#, #""dtype": "float16", "shape": [3]"#,
                    "$.weights.hidden.bias.dtype", "unsupported dtype \"float16\"; supported: float32, float64"),
        BadDocument("10: data as an object", kernelData, #""data": {"0": 0.1}"#, "$.weights.hidden.kernel.data",
                    "expected an array of numbers or a base64 string, found an object"),
        // 12. Unknown names
        BadDocument("12: unknown activation", #""activation": "relu""#, #""activation": "swishy""#,
                    "$.architecture.layers[0].activation",
                    "unknown activation \"swishy\"; supported: linear, relu, sigmoid, tanh, softmax, elu, selu, gelu, silu, leaky_relu"),
        BadDocument("12: unknown loss", #""loss": "mse""#, #""loss": "hinge""#, "$.training.loss",
                    "unknown loss \"hinge\"; supported: half_squared_error, mean_squared_error"),
        BadDocument("12: unknown optimizer", #""name": "sgd""#, #""name": "lion""#, "$.training.optimizer.name",
                    "unknown optimizer \"lion\"; supported: sgd, adam, adamw, rmsprop, adagrad"),
        BadDocument("12: unknown initializer", #""activation": "relu"}"#, #""activation": "relu", "kernel_initializer": "orthogonal"}"#,
                    "$.architecture.layers[0].kernel_initializer", "unknown initializer \"orthogonal\"; supported: glorot_uniform"),
        BadDocument("12: hyperparameter of another optimizer", #""momentum": 0.9}"#, #""momentum": 0.9, "beta_1": 0.9}"#,
                    "$.training.optimizer.hyperparameters.beta_1", "beta_1"),
        BadDocument("12: hyperparameter out of range", #""momentum": 0.9}"#, #""momentum": 1.5}"#,
                    "$.training.optimizer.hyperparameters.momentum", "must be in [0, 1], got 1.5"),
        // 13. Duplicate keys
        BadDocument("13: duplicate key", #""units": 3,"#, #""units": 3, "units": 4,"#, "$.architecture.layers[0].units",
                    "duplicate key \"units\"", schema: false),
        BadDocument("13: duplicate layer weights", #""out": {"kernel""#, #""hidden": {}, "out": {"kernel""#, "$.weights.hidden",
                    "duplicate key \"hidden\"", schema: false),
        // 14. Deep nesting
        BadDocument("14: deep nesting", #""description": "bad-input template""#,
                    #""description": "# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
                    "$.metadata.description" + String(repeating: "[0]", count: 14), "nesting deeper than 16 levels"),
        // 15. Size caps before parsing
        BadDocument("15: file over the size cap", #""description": "bad-input template""#,
                    #""description": ""# + String(repeating: "1", count: 5000) + "\"", "$",
                    "bytes exceeds the limit of 4096 bytes", schema: false,
                    limits: LoadLimits(maxFileBytes: 4096)),
        BadDocument("15: too many values for the tensor cap", kernelData,
                    #""data": ["# + Array(repeating: "0", count: 2_000_000).joined(separator: ",") + "]", "$",
                    "JSON values exceed the limit of 1048676", schema: false, limits: LoadLimits(maxTotalBytes: 400)),
        BadDocument("15: tensor over the per-tensor cap", hiddenKernelShape, hiddenKernelShape, "$.weights.hidden.kernel.shape",
                    "shape [2, 3] of float32 takes 24 bytes, over the limit of 16 bytes per tensor", schema: false,
                    limits: LoadLimits(maxTensorBytes: 16)),
        BadDocument("15: tensors over the total cap", #""shape": [3, 1], "data": "AACAPwAAAEAAAEBA""#,
                    #""shape": [3, 1], "data": "AACAPwAAAEAAAEBA""#, "$.weights.out.kernel.shape",
                    "the tensors up to this one take 48 bytes, over the limit of 40 bytes in all", schema: false,
                    limits: LoadLimits(maxTotalBytes: 40)),
        // 16. Numbers out of range
        BadDocument("16: 1e400", kernelData, #""data": [0.1, 1e400, 0.3, 0.4, 0.5, 0.6]"#, "$.weights.hidden.kernel.data[1]",
                    "number 1e400 overflows a 64-bit float", schema: false),
        BadDocument("16: float32 weight 1e39", kernelData, #""data": [0.1, 0.2, 1e39, 0.4, 0.5, 0.6]"#,
                    "$.weights.hidden.kernel.data[2]", "number 1e39 overflows a 32-bit float", schema: false),
        BadDocument("16: float32 weight 1e-50", kernelData, #""data": [0.1, 0.2, 0.3, -1e-50, 0.5, 0.6]"#,
                    "$.weights.hidden.kernel.data[3]", "number -1e-50 underflows a 32-bit float to zero", schema: false),
        BadDocument("16: 1e-400", kernelData, #""data": [0.1, 0.2, 0.3, 0.4, 1e-400, 0.6]"#, "$.weights.hidden.kernel.data[4]",
                    "number 1e-400 underflows a 64-bit float to zero", schema: false),
        BadDocument("16: integer beyond Int64", #""iterations": 5"#, #""iterations": 9223372036854775808"#,
                    "$.training.optimizer.iterations", "integer 9223372036854775808 is outside the Int64 range"),
        BadDocument("16: integer data beyond Int64", #""data": [1, 2, 3]}}}}"#, #""data": [1, 2, 99999999999999999999]}}}}"#,
                    "$.training.optimizer.slots.momentum[\"out/kernel\"].data[2]", "outside the Int64 range", schema: false),
        BadDocument("16: negative epochs", #""epochs_completed": 1"#, #""epochs_completed": -1"#,
                    "$.training.epochs_completed", "expected an integer ≥ 0, found -1"),
        // 17. NaN and Infinity literals
        BadDocument("17: NaN literal", kernelData, #""data": [0.1, NaN, 0.3, 0.4, 0.5, 0.6]"#, "$.weights.hidden.kernel.data[1]",
                    "NaN is not a JSON number"),
        BadDocument("17: -Infinity literal", #""loss": 0.5"#, #""loss": -Infinity"#, "$.training.history[0].metrics.loss",
                    "-Infinity is not a JSON number"),
        BadDocument("17: unknown non-finite spelling", #""val_loss": "NaN""#, #""val_loss": "nan""#,
                    "$.training.history[0].metrics.val_loss", "expected a number or \"NaN\", \"Infinity\", \"-Infinity\""),
        // 18. Text encoding
        BadDocument("18: invalid UTF-8", bytes: replacing("bad-input template", withBytes: [0x62, 0xC3, 0x28]),
                    "$.metadata.description", "invalid UTF-8", schema: false),
        BadDocument("18: lone surrogate", #""name": "out""#, #""name": "o\ud800""#, "$.architecture.layers[1].name",
                    "lone surrogate \\ud800", schema: false),
        // 19. Trailing data and non-JSON syntax
        BadDocument("19: trailing garbage", bytes: templateBytes + Array(" x".utf8), "$", "data after the end of the document"),
        BadDocument("19: two documents", bytes: templateBytes + templateBytes, "$", "data after the end of the document: '{'"),
        BadDocument("19: trailing comma", #""relu"},"#, #""relu",},"#, "$.architecture.layers[0].activation",
                    "unexpected character at '}' (json-c) (line 5, column 57)"),
        BadDocument("19: comment", #""iterations": 5,"#, #""iterations": 5, /* resumed */"#, "$.training.optimizer.iterations",
                    "at '/'"),
        BadDocument("19: single quotes", #""loss": "mse""#, #""loss": 'mse'"#, "$.training.loss", "unexpected character"),
        // 20. Wrong JSON types
        BadDocument("20: weights as strings", kernelData, #""data": ["1.5", 0.2, 0.3, 0.4, 0.5, 0.6]"#,
                    "$.weights.hidden.kernel.data[0]", "expected a number, found a string (\"1.5\")"),
        BadDocument("20: data as a decimal string", kernelData, #""data": "1.5""#, "$.weights.hidden.kernel.data",
                    "base64 data has 3 characters; shape [2, 3] of float32 is 24 bytes, which take 32"),
        BadDocument("20: units as a string", #""units": 3"#, #""units": "3""#, "$.architecture.layers[0].units",
                    "expected an integer, found a string (\"3\")"),
        BadDocument("20: units as a fraction", #""units": 3"#, #""units": 3.0"#, "$.architecture.layers[0].units",
                    "expected an integer, found a number (3.0)", schema: false),
        BadDocument("20: use_bias as a string", #""use_bias": false"#, #""use_bias": "false""#, "$.architecture.layers[1].use_bias",
                    "expected a boolean, found a string (\"false\")"),
        BadDocument("20: metadata as an array", #""metadata": {"description": "bad-input template"}"#,
                    #""metadata": ["bad-input template"]"#, "$.metadata", "expected an object, found an array"),
        BadDocument("20: metadata value a number", #""description": "bad-input template""#, #""description": 1"#,
                    "$.metadata.description", "expected a string, found an integer (1)"),
        BadDocument("20: null shape", hiddenKernelShape, #""shape": null, "data": [0.1"#, "$.weights.hidden.kernel.shape",
                    "expected an array, found null"),
        BadDocument("20: random state words", #""0123456789abcdef""#, #""0123456789abcdefg""#,
                    "$.training.random_state[0]", "expected 16 hex digits, found \"0123456789abcdefg\""),
        BadDocument("20: random state of three words", #""0123456789abcdef", "#, "", "$.training.random_state",
                    "expected 4 state words (16 hex digits each), found 3"),
        BadDocument("20: all-zero random state",
                    #"["0123456789abcdef", "0000000000000002", "0000000000000003", "0000000000000004"]"#,
                    #"["0000000000000000", "0000000000000000", "0000000000000000", "0000000000000000"]"#, "$.training.random_state",
                    "the all-zero state is not a valid xoshiro256** state", schema: true),
        // 21. U+0000
        BadDocument("21: NUL in a key", #""description": "bad"#, #""descr\u0000iption": "bad"#, "$.metadata",
                    "object key contains U+0000"),
        BadDocument("21: NUL in a layer name", #""name": "out""#, #""name": "o\u0000ut""#, "$.architecture.layers[1].name",
                    "string contains U+0000"),
        // Base64 data
        BadDocument("base64 of the wrong length", #""AACAPwAAAEAAAEBA""#, #""AACAPwAAAEAAAEBAAAAA""#, "$.weights.out.kernel.data",
                    "base64 data has 20 characters; shape [3, 1] of float32 is 12 bytes, which take 16", schema: false),
        BadDocument("base64 with an invalid character", #""AACAPwAAAEAAAEBA""#, #""AACAPwAA.EAAAEBA""#, "$.weights.out.kernel.data",
                    "invalid base64 character '.' at index 8"),
        BadDocument("base64 with a line break", #""AACAPwAAAEAAAEBA""#, #""AACAPwAA\nAAEAAEB""#, "$.weights.out.kernel.data",
                    "invalid base64 character byte 0xA at index 8 (whitespace and line breaks are not allowed)", schema: true),
        BadDocument("base64 with bad padding", #""AACAPwAAAEAAAEBA""#, #""AACAPwAAAEAAAE=A""#, "$.weights.out.kernel.data",
                    "invalid base64 character '=' at index 14"),
        // Anything else the reader does not know
        BadDocument("unknown top-level key", #""metadata": {"#, #""extra": 1, "metadata": {"#, "$",
                    "unknown key \"extra\"; expected architecture, format, format_version, metadata, training, weights"),
        BadDocument("unknown layer key", #""activation": "relu"}"#, #""activation": "relu", "unit": 3}"#, "$.architecture.layers[0]",
                    "unknown key \"unit\""),
        BadDocument("missing loss", #""loss": "mse","#, "", "$.training.loss", "required key \"loss\" is missing"),
    ]

    @Test("each bad input is rejected with a message naming the file, the JSON path and the reason", arguments: cases)
    func rejects(_ input: BadDocument) throws {
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(input.bytes, limits: input.limits) }
        guard let error else { return }
        let message = error.description
        #expect(error.file == "model.json")
        #expect(error.object == input.path, "\(message)")
        #expect(message.hasPrefix("model.json: \(input.path): "), "\(message)")
        #expect(message.contains(input.reason), "\(message)")
        if input.schemaRejects && input.limits == LoadLimits() {
            let name = input.label.map { $0.isLetter || $0.isNumber ? $0 : "-" }
            try writeInteropFile(input.bytes, name: String(name) + ".json", invalid: true)
        }
    }

    @Test("the template itself is valid, and the catalogue's exact message for units ≤ 0")
    func templateAndExactMessage() throws {
        let document = try decodeJSON(validDocument)
        #expect(document.architecture.layers.map(\.name) == ["hidden", "out"])
        #expect(document.weights[1].kernel.float32Values == [1, 2, 3])
        #expect(document.training?.optimizer.slots[0].tensors[1].dtype == .float64)
        #expect(document.training?.history.first?.metrics["val_loss"]?.isNaN == true)
        #expect(document.training?.randomState?.wordArray.first == 0x0123_4567_89AB_CDEF)
        try writeInteropFile(templateBytes, name: "bad-input-template.json")

        let error = expectError(ModelFileError.self) {
            _ = try decodeJSON(validDocument.replacingOccurrences(of: #""units": 1"#, with: #""units": -3"#))
        }
        #expect(error?.description == "model.json: $.architecture.layers[1].units: expected a positive integer, got -3")
    }

    @Test("a declared 1e6 × 1e6 float32 kernel is refused by the size cap before anything is allocated")
    func hugeDeclaredShape() throws {
        let huge = validDocument
            .replacingOccurrences(of: #""input_width": 2"#, with: #""input_width": 1000000"#)
            .replacingOccurrences(of: #""units": 3"#, with: #""units": 1000000"#)
            .replacingOccurrences(of: hiddenKernelShape, with: #""shape": [1000000, 1000000], "data": [0.1"#)
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(huge) }
        #expect(error?.description == "model.json: $.weights.hidden.kernel.shape: shape [1000000, 1000000] of float32 takes "
                + "4000000000000 bytes, over the limit of 8589934592 bytes per tensor")
        // The same kernel declared as base64: refused the same way, before the string's length is even looked at.
        let base64 = huge.replacingOccurrences(of: kernelData, with: #""data": "AAAA""#)
        let error2 = expectError(ModelFileError.self) { _ = try decodeJSON(base64) }
        #expect(error2?.object == "$.weights.hidden.kernel.shape")
    }

    @Test("an error inside a tensor array reports the element's line and column")
    func lineAndColumn() {
        let error = expectError(ModelFileError.self) {
            _ = try decodeJSON(validDocument.replacingOccurrences(of: kernelData, with: #""data": [0.1, 0.2, 0.3, 0.4, 0.5, NaN]"#))
        }
        #expect(error?.description == "model.json: $.weights.hidden.kernel.data[5]: NaN is not a JSON number (line 8, column 98)")
    }
}

// MARK: - Schema

@Suite("JSON model schema")
struct JSONModelSchemaTests {
    /// The schema's object at a `$defs` name (or the root for nil).
    private func definition(_ name: String?, in root: JSONValue) throws -> JSONValue {
        guard let name else { return root }
        return try root.object(at: "$defs").object(at: name)
    }

    private func keys(_ value: JSONValue, _ member: String) throws -> [String] {
        try value.object(at: member).keys()
    }

    private func strings(_ value: JSONValue) throws -> [String] {
        try value.array().map { try $0.string() }
    }

    @Test("the schema parses and lists exactly the reader's keys, required keys and names")
    func schemaMatchesReader() throws {
        let schema = try JSONDocument.parse(contentsOfFile: schemaURL().path).root
        #expect(try schema.value(at: "$schema").string() == "https://json-schema.org/draft/2020-12/schema")
        #expect(try schema.object(at: "properties").object(at: "format").value(at: "const").string() == ModelDocument.formatName)
        #expect(try schema.object(at: "properties").object(at: "format_version").value(at: "const").int64()
                == Int64(ModelDocument.formatVersion))

        // Objects the reader is strict about: every key it accepts is described, no other is allowed.
        let objects: [(String?, Set<String>, [String])] = [
            (nil, JSONModelCodec.documentKeys, ["format", "format_version", "architecture", "weights"]),
            ("architecture", DocumentJSON.architectureKeys, ["input_width", "layers"]),
            ("layer", DocumentJSON.layerKeys, ["name", "units", "activation"]),
            ("tensor", JSONModelCodec.tensorKeys, ["dtype", "shape", "data"]),
            ("training", JSONModelCodec.trainingKeys, ["loss", "optimizer", "epochs_completed"]),
            ("optimizer", JSONModelCodec.optimizerKeys, ["name", "hyperparameters", "iterations", "slots"]),
        ]
        for (name, readerKeys, required) in objects {
            let object = try definition(name, in: schema)
            #expect(Set(try keys(object, "properties")) == readerKeys, "\(name ?? "root")")
            #expect(try strings(object.value(at: "required")) == required, "\(name ?? "root")")
            #expect(try object.value(at: "additionalProperties").bool() == false, "\(name ?? "root")")
        }

        // Names from the core's closed sets.
        let layer = try definition("layer", in: schema).object(at: "properties")
        #expect(try strings(layer.object(at: "activation").value(at: "enum")) == Activation.acceptedNames)
        #expect(try strings(layer.object(at: "kernel_initializer").value(at: "enum")) == Initializer.acceptedNames)
        let training = try definition("training", in: schema).object(at: "properties")
        #expect(try strings(training.object(at: "loss").value(at: "enum")) == Loss.acceptedNames)
        let optimizer = try definition("optimizer", in: schema).object(at: "properties")
        #expect(try strings(optimizer.object(at: "name").value(at: "enum"))
                == OptimizerKind.acceptedNames + ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
        let slotNames = try strings(optimizer.object(at: "slots").object(at: "propertyNames").value(at: "enum"))
        var allSlots = Set<String>()
        for kind in OptimizerKind.allCases {
            var config = OptimizerConfig(kind)
            (config.momentum, config.amsgrad, config.centered) = (0.5, true, true)
            allSlots.formUnion(config.slotNames)
        }
        #expect(Set(slotNames) == allSlots)
        let tensorProperties = try definition("tensor", in: schema).object(at: "properties")
        #expect(try strings(tensorProperties.object(at: "dtype").value(at: "enum")) == Tensor.DType.allCases.map(\.rawValue))
        #expect(try tensorProperties.object(at: "shape").value(at: "maxItems").int64() == Int64(JSONModelCodec.maxRank))

        // Every optimizer's hyperparameters are described with exactly the keys the core accepts.
        let rules = try definition("optimizer", in: schema).value(at: "allOf").array()
        for kind in OptimizerKind.allCases {
            let rule = try #require(try rules.first { rule in
                try strings(rule.object(at: "if").object(at: "properties").object(at: "name").value(at: "enum")).contains(kind.name)
            })
            let described = try rule.object(at: "then").object(at: "properties").object(at: "hyperparameters")
                .object(at: "properties").keys()
            #expect(Set(described) == Set(OptimizerConfig(kind).hyperparameters.map(\.key)), "\(kind)")
        }
    }

    @Test("a bad document's missing required keys are ones the schema requires")
    func badDocumentRequiredKeys() throws {
        let schema = try JSONDocument.parse(contentsOfFile: schemaURL().path).root
        let required = Set(try strings(schema.value(at: "required")))
        let bad = #"{"format": "mlpconv-model", "format_version": 1}"#
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(bad) }
        #expect(error?.description == "model.json: $.architecture: required key \"architecture\" is missing")
        #expect(required.isSuperset(of: ["architecture", "weights"]))
        let present = Set(try JSONDocument.parse(Array(bad.utf8), file: "m").root.keys())
        #expect(required.subtracting(present) == ["architecture", "weights"])
    }
}

// MARK: - Large arrays read from the text

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
            let kernel = tensor([40, 50], dtype, random: &random)
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
