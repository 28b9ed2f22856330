import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
@testable import ONNXFormat
import ONNXSupport
import Testing
import TestSupport

/// mlpconv's exporter → this reader: the architecture (from `metadata_props`) and every weight come back bit for bit,
/// and a second export → import changes nothing.
struct ONNXImportRoundTripTests {
    /// A document with deterministic, non-trivial weights (sign changes, values that are not short decimals).
    static func document(_ layers: [ModelDocument.Layer], inputWidth: Int, inputShape: [Int]? = nil, dtype: Tensor.DType) -> ModelDocument {
        let architecture = ModelDocument.Architecture(inputWidth: inputWidth, inputShape: inputShape, layers: layers)
        var seed = 0x5EED as UInt64
        let weights = layers.indices.map { index in
            var tensors: [String: Tensor] = [:]
            for variable in architecture.variables(ofLayer: index) {
                let values = (0..<variable.count).map { _ -> Double in
                    seed = seed &* 6364136223846793005 &+ 1442695040888963407
                    let unit = Double(seed >> 11) / Double(1 << 53)
                    return variable.name == "moving_variance" ? 0.5 + unit : unit * 2 - 1
                }
                tensors[variable.name] = dtype == .float32
                    ? Tensor(unchecked: variable.shape, storage: .float32(values.map { Float($0) }))
                    : Tensor(unchecked: variable.shape, storage: .float64(values))
            }
            return ModelDocument.LayerWeights(tensors: tensors)
        }
        return ModelDocument(architecture: architecture, weights: weights, metadata: ["description": "round trip"])
    }

    static let elementwise = Activation.allCases.filter { !$0.isRowwise && $0 != .linear }

    static func allActivations() -> [ModelDocument.Layer] {
        elementwise.enumerated().map { index, activation in
            ModelDocument.Layer(name: "layer_\(index)", units: 3 + index % 2, activation: activation, useBias: index % 3 != 0)
        } + [ModelDocument.Layer(name: "out", units: 3, activation: .softmax),
             ModelDocument.Layer(name: "log", kind: .activation(.logSoftmax))]
    }

    @Test("exported models read back bit for bit", arguments: [(Tensor.DType.float32, 17), (.float32, 13), (.float32, 20), (.float64, 17), (.float64, 21)])
    func everyActivation(dtype: Tensor.DType, opset: Int) throws {
        let original = Self.document(Self.allActivations(), inputWidth: 4, dtype: dtype)
        try expectRoundTrip(original, options: SaveOptions(onnxOpset: opset))
    }

    @Test func flattenDropoutLayerNormalizationAndExternalData() throws {
        let layers: [ModelDocument.Layer] = [
            .init(name: "flat", kind: .flatten),
            .init(name: "hidden", units: 5, activation: .linear),
            .init(name: "norm", kind: .layerNormalization(LayerNormalizationSettings(epsilon: 1e-3))),
            .init(name: "act", kind: .activation(.gelu)),
            .init(name: "drop", kind: .dropout(DropoutSettings(rate: 0.25))),
            .init(name: "out", units: 2, activation: .sigmoid),
        ]
        let original = Self.document(layers, inputWidth: 6, inputShape: [2, 3], dtype: .float32)
        try expectRoundTrip(original, options: SaveOptions())
        try expectRoundTrip(original, options: SaveOptions(onnxExternalData: true))
    }

    private func expectRoundTrip(_ original: ModelDocument, options: SaveOptions, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = try TemporaryFolder()
        let first = folder.path("first.onnx"), second = folder.path("second.onnx")
        try ModelFiles.save(original, to: first, format: .onnx, options: options)
        let imported = try ModelFiles.load(first)
        #expect(imported.architecture == original.architecture, sourceLocation: sourceLocation)
        #expect(imported.weights == original.weights, sourceLocation: sourceLocation)
        #expect(imported.metadata["description"] == "round trip", sourceLocation: sourceLocation)
        try ModelFiles.save(imported, to: second, format: .onnx, options: options)
        let again = try ModelFiles.load(second)
        #expect(again == imported, sourceLocation: sourceLocation)
    }

    static func batchNormalizationLayers(center: Bool, scale: Bool) -> [ModelDocument.Layer] {
        [
            .init(name: "hidden", units: 4, activation: .linear),
            .init(name: "bn", kind: .batchNormalization(BatchNormalizationSettings(momentum: 0.9, epsilon: 0.01, center: center, scale: scale))),
            .init(name: "act", kind: .activation(.relu)),
            .init(name: "second", units: 3, activation: .tanh, useBias: false),
            .init(name: "bn_2", kind: .batchNormalization(BatchNormalizationSettings(center: !center, scale: scale, unbiasedMovingVariance: true))),
            .init(name: "out", units: 2, activation: .sigmoid),
        ]
    }

    /// The exporter folds BatchNormalization into a per-feature Mul and Add and keeps the layer's tensors beside the
    /// fold; the record names the layer, so it reads back with its statistics and settings.
    @Test("folded BatchNormalization reads back bit for bit", arguments: [Tensor.DType.float32, .float64], [false, true])
    func batchNormalization(dtype: Tensor.DType, externalData: Bool) throws {
        for (center, scale) in [(true, true), (false, true), (true, false), (false, false)] {
            let original = Self.document(Self.batchNormalizationLayers(center: center, scale: scale), inputWidth: 3, dtype: dtype)
            try expectRoundTrip(original, options: SaveOptions(onnxExternalData: externalData))
            // Last, its Add produces the graph's output.
            let last = Self.document(Array(Self.batchNormalizationLayers(center: center, scale: scale).prefix(2)), inputWidth: 3, dtype: dtype)
            try expectRoundTrip(last, options: SaveOptions(onnxExternalData: externalData))
        }
    }

    /// One layer's export with the file's initializers changed by `edit`, read back.
    private func importEdited(center: Bool = true, scale: Bool = true, dtype: Tensor.DType = .float32,
                              keepRecord: Bool = true, nodes: (inout [Onnx_NodeProto]) -> Void = { _ in },
                              _ edit: (inout [Onnx_TensorProto]) throws -> Void) throws -> ModelFileError? {
        let document = Self.document(Self.batchNormalizationLayers(center: center, scale: scale), inputWidth: 3, dtype: dtype)
        var model = try exportedModel(document, file: "bn.onnx").model
        try edit(&model.graph.initializer)
        nodes(&model.graph.node)
        if !keepRecord { model.metadataProps.removeAll { $0.key == ONNXImporter.architectureKey } }
        let bytes = try ONNXProtobuf.encode(model)
        return expectError(ModelFileError.self) { _ = try ONNXImporter.decode(bytes, file: "bn.onnx", limits: LoadLimits()) }
    }

    private func tamper(_ name: String, in initializers: inout [Onnx_TensorProto]) throws {
        let index = try #require(initializers.firstIndex { $0.name == name })
        // A mantissa bit of the first element (little-endian) high enough that no fold can round it away.
        initializers[index].rawData[initializers[index].dataType == 1 ? 2 : 6] ^= 1
    }

    @Test("a tampered statistic is refused, naming the initializer that no longer matches", arguments: [Tensor.DType.float32, .float64])
    func tamperedStatisticIsRefused(dtype: Tensor.DType) throws {
        let mean = try importEdited(dtype: dtype) { try tamper("bn.moving_mean", in: &$0) }
        #expect(mean?.object == "graph node 1 \"bn/Mul\" (Mul)")
        #expect(mean?.reason == "the stored statistics do not give the graph's offset: initializer bn.offset differs from "
            + "bn.moving_mean, bn.moving_variance, bn.gamma, bn.beta folded with epsilon 0.01")
        let variance = try importEdited(dtype: dtype) { try tamper("bn.moving_variance", in: &$0) }
        #expect(variance?.reason.hasPrefix("the stored statistics do not give the graph's scale: initializer bn.scale differs") == true,
                "\(String(describing: variance))")
        let gamma = try importEdited(dtype: dtype) { try tamper("bn_2.gamma", in: &$0) }
        #expect(gamma?.object == "graph node 6 \"bn_2/Mul\" (Mul)", "\(String(describing: gamma))")
        #expect(gamma?.reason.hasPrefix("the stored statistics do not give the graph's scale: initializer bn_2.scale differs") == true)
        let scaleItself = try importEdited(dtype: dtype) { try tamper("bn.scale", in: &$0) }
        #expect(scaleItself?.reason.hasPrefix("the stored statistics do not give the graph's scale") == true)
    }

    @Test func missingOrMisshapenStatisticsAreRefused() throws {
        let missing = try importEdited { $0.removeAll { $0.name == "bn.moving_variance" } }
        #expect(missing?.reason == "initializer bn.moving_variance is missing: the statistics of batch_normalization layer bn are not in the file")
        // center=false, scale=true for bn: its beta is not read, so its absence is no error; its gamma's is.
        let gamma = try importEdited(center: false) { $0.removeAll { $0.name == "bn.gamma" } }
        #expect(gamma?.reason == "initializer bn.gamma is missing: the statistics of batch_normalization layer bn are not in the file")
        let misshapen = try importEdited {
            let index = try #require($0.firstIndex { $0.name == "bn.moving_mean" })
            $0[index].dims = [2, 2]
        }
        #expect(misshapen?.object == "initializer bn.moving_mean")
        #expect(misshapen?.reason == "has shape [2, 2]; batch_normalization layer bn has 4 features")
    }

    @Test func foldOfAnotherLayerOrWithoutItsAddIsRefused() throws {
        // Node 1 is bn's Mul, node 2 its Add; bn_2 is the record's second batch_normalization layer.
        let otherLayer = try importEdited(nodes: { $0[1].input[1] = "bn_2.scale" }) { _ in }
        #expect(otherLayer?.object == "graph node 1 \"bn/Mul\" (Mul)")
        #expect(otherLayer?.reason == "scales by bn_2.scale, the fold of recorded batch_normalization layer bn_2, where the record has layer bn")
        let noOffset = try importEdited(nodes: { $0[2].input[1] = "bn.beta" }) { _ in }
        #expect(noOffset?.reason == "scales by bn.scale but is not followed by Add(·, bn.offset): not the fold of batch_normalization layer bn")
    }

    /// Without the record (as another tool might keep the graph and drop the metadata) nothing says the Mul and Add
    /// are a BatchNormalization: refused as before.
    @Test func foldWithoutRecordIsRefusedNamingIt() throws {
        let error = try importEdited(keepRecord: false) { _ in }
        #expect(error?.reason.contains("a per-feature scale or offset (a BatchNormalization folded by its exporter)") == true, "\(String(describing: error))")
    }
}
