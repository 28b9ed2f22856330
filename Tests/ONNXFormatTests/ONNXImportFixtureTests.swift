import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
@testable import ONNXFormat
import Testing
import TestSupport

/// `fixtures/onnx/expected.json`, written by fixtures/generate/generate_onnx.py with torch.onnx.export (both
/// exporters), onnx.helper and onnxruntime.
enum ONNXFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fixtures/onnx").standardized

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Parsed on each use: `[String: Any]` cannot be a shared constant under strict concurrency.
    static var expected: [String: Any] {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("expected.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }

    static var models: [[String: Any]] { expected["models"] as? [[String: Any]] ?? [] }

    static func model(_ file: String) -> [String: Any]? { models.first { $0["file"] as? String == file } }

    /// Nested rows, any depth, flattened in row-major order.
    static func rows(_ value: Any?) -> [Double] {
        if let number = value as? Double { return [number] }
        return (value as? [Any])?.flatMap { rows($0) } ?? []
    }
}

struct ONNXImportFixtureTests {
    /// The graphs the generator marks as refused that this reader accepts, on purpose: BatchNormalization and
    /// LayerNormalization in inference form map to the core's layers (the generator's notes say "reads dense chains
    /// only"). Their onnxruntime outputs are checked all the same.
    static let normalizationFiles: Set<String> = ["ts17_batchnorm.onnx", "ts17_layernorm.onnx", "dynamo18_layernorm.onnx"]

    static let accepted = ONNXFixtures.models.filter { ($0["mlpconv"] as? [String: Any])?["accept"] as? Bool == true }
        .compactMap { $0["file"] as? String }
    static let refused = ONNXFixtures.models.filter { ($0["mlpconv"] as? [String: Any])?["accept"] as? Bool == false }
        .compactMap { $0["file"] as? String }.filter { !normalizationFiles.contains($0) }

    @Test("the fixtures are there") func fixturesExist() {
        #expect(ONNXFixtures.models.count == 57)
        #expect(Self.accepted.count == 39)
        #expect((ONNXFixtures.expected["generator"] as? String)?.contains("torch 2.15.0") == true)
    }

    /// Each accepted file loads (detected by content) to the dense layers the generator lists — kernels bit for bit,
    /// in Keras's layout, alpha and beta applied — and predicts what onnxruntime computed on the same rows.
    @Test("accepted fixtures load to the expected layers and match onnxruntime", arguments: accepted)
    func acceptedFixture(file: String) throws {
        let model = try #require(ONNXFixtures.model(file))
        let mlpconv = try #require(model["mlpconv"] as? [String: Any])
        let path = ONNXFixtures.path(file)
        #expect(try ModelFiles.detectKind(at: path) == .onnx)
        let document = try ModelFiles.load(path)
        let expectedLayers = try #require(mlpconv["layers"] as? [[String: Any]])
        let dense = document.architecture.layers.indices.filter { document.architecture.layers[$0].dense != nil }
        #expect(dense.count == expectedLayers.count, "\(file)")
        for (index, expected) in zip(dense, expectedLayers) {
            let settings = try #require(document.architecture.layers[index].dense)
            #expect(settings.units == expected["units"] as? Int, "\(file) layer \(index)")
            #expect(settings.activation.rawValue == expected["activation"] as? String, "\(file) layer \(index)")
            #expect(settings.useBias == expected["use_bias"] as? Bool, "\(file) layer \(index)")
            let kernel = try #require(document.weights[index]["kernel"])
            #expect(same(kernel, ONNXFixtures.rows(expected["kernel"])), "\(file) layer \(index) kernel")
            if settings.useBias {
                let bias = try #require(document.weights[index]["bias"])
                #expect(same(bias, expected["bias"] as? [Double] ?? []), "\(file) layer \(index) bias")
            }
        }
        let inputShape = mlpconv["input_shape"] as? [Int]
        #expect(document.architecture.inputShape == inputShape, "\(file)")
        #expect(document.metadata["source_format"] == "onnx")
        try expectOnnxruntimeOutputs(document, model, file: file)
    }

    @Test("BatchNormalization and LayerNormalization nodes become the core's layers", arguments: normalizationFiles.sorted())
    func normalization(file: String) throws {
        let model = try #require(ONNXFixtures.model(file))
        let document = try ModelFiles.load(ONNXFixtures.path(file))
        let kinds = document.architecture.layers.map(\.kind.typeName)
        #expect(kinds == ["dense", file.contains("batchnorm") ? "batch_normalization" : "layer_normalization", "activation", "dense"])
        if case .batchNormalization(let settings) = document.architecture.layers[1].kind {
            // torch's eps 1e-5 and momentum 0.1, written by the exporter as float32 1e-5 and 0.9.
            #expect(settings.epsilon == 1e-5 && settings.momentum == 0.9)
        }
        if case .layerNormalization(let settings) = document.architecture.layers[1].kind {
            #expect(settings.epsilon == 1e-5 && settings.center && settings.scale)
        }
        try expectOnnxruntimeOutputs(document, model, file: file)
    }

    /// float32 weights bit for bit. Foundation's JSON parser on Linux can be a few ulps off in a float64 (which still rounds
    /// to the same float32), so float64 weights are compared within 8 ulps; their exact bits are checked by the round trips.
    private func same(_ tensor: Tensor, _ expected: [Double]) -> Bool {
        switch tensor.storage {
        case .float32(let values): values.map(\.bitPattern) == expected.map { Float($0).bitPattern }
        case .float64(let values): values.count == expected.count && zip(values, expected).allSatisfy { abs($0 - $1) <= 8 * $0.ulp }
        }
    }

    private func expectOnnxruntimeOutputs(_ document: ModelDocument, _ model: [String: Any], file: String) throws {
        let inputs = ONNXFixtures.rows(model["x"]), expected = ONNXFixtures.rows(model["onnxruntime_outputs"])
        let outputs: [Double]
        let tolerance: Double
        if model["dtype"] as? String == "float64" {
            outputs = try document.network(as: Double.self).predict(inputs)
            tolerance = 1e-12
        } else {
            outputs = try document.network(as: Float.self).predict(inputs.map { Float($0) }).map(Double.init)
            tolerance = 1e-6
        }
        #expect(outputs.count == expected.count && !outputs.isEmpty, "\(file)")
        let worst = zip(outputs, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= tolerance, "\(file): largest difference from onnxruntime \(worst)")
    }

    /// What this reader says for each file the generator marks as refused: the node (name or index) and op, and why.
    static let refusals: [String: String] = [
        "ts17_leaky_relu_0.01.onnx": "graph node 1 \"/1/LeakyRelu\" (LeakyRelu): alpha 0.01: the core's leaky_relu has slope 0.2",
        "dynamo18_leaky_relu_0.01.onnx": "(LeakyRelu): alpha 0.01: the core's leaky_relu has slope 0.2",
        "helper_leaky_relu_0.01.onnx": "(LeakyRelu): alpha 0.01: the core's leaky_relu has slope 0.2",
        "ts17_gelu_tanh.onnx": "gelu's tanh approximation",
        "dynamo18_gelu_tanh.onnx": "gelu's tanh approximation",
        "ts20_gelu_tanh.onnx": "(Gelu): approximate 'tanh': the core's gelu is the exact erf form",
        "dynamo20_gelu_tanh.onnx": "(Gelu): approximate 'tanh': the core's gelu is the exact erf form",
        "helper_hard_sigmoid_0.2.onnx": "(HardSigmoid): alpha 0.2, beta 0.5: the core's hard_sigmoid is Keras 3's",
        "helper_conv.onnx": "(Conv): operator Conv: mlpconv reads MLPs (dense layers) only",
        "helper_two_inputs.onnx": "graph.input: 2 data inputs",
        "helper_branch.onnx": "(Add): the element-wise computation Relu, Add combines a value with itself along two paths: a branch",
        "helper_two_outputs.onnx": "graph.output: 2 outputs: an MLP has one",
        "helper_unknown_op.onnx": "(Swish): operator com.example.Swish is unknown (not in the default ONNX domain)",
        "helper_unsupported_op.onnx": "(Cos): operator Cos: not an operator mlpconv reads",
        "helper_relu_on_initializer.onnx": "(Relu): computes from \"raw_weight_1\" alone: a weight computed in the graph",
    ]

    @Test("refused fixtures name the node, its op and why", arguments: refused)
    func refusedFixture(file: String) throws {
        let path = ONNXFixtures.path(file)
        let expected = try #require(Self.refusals[file], "no expected message for \(file)")
        #expect(try ModelFiles.detectKind(at: path) == .onnx)
        do {
            let document = try ModelFiles.load(path)
            Issue.record("\(file) loaded as \(document.architecture.layers.map(\.name))")
        } catch {
            #expect(error.file == path)
            #expect(error.description.contains(expected), "\(file): \(error.description)")
        }
    }
}
