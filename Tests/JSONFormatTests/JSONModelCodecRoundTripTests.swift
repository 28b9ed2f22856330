import TestSupport
import Foundation
import MLPCore
import Testing
@testable import JSONSupport
import MLPDocument
@testable import JSONFormat

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
        ModelDocument.LayerWeights(kernel: awkwardTensor(weights.kernel.shape, dtype, random: &random),
                                   bias: weights.bias.map { awkwardTensor($0.shape, dtype, random: &random) })
    }
    if var training = document.training {
        training.optimizer.iterations = 123
        training.optimizer.slots = training.optimizer.slots.map { slot in
            .init(name: slot.name, tensors: slot.tensors.map { awkwardTensor($0.shape, dtype, random: &random) })
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
        #expect(written.contains(#""kernel": {"dtype": "float32", "shape": [2, 3], "crc32c": "f5f6d15d", "data": [0.1,-0.0,1e-45,3.4028235e+38,3.0,0.3]}"#),
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
