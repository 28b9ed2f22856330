import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
@testable import ONNXFormat
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

    /// The exporter folds BatchNormalization into a per-feature Mul and Add: the statistics are not in the file, and
    /// the reader says so rather than invent them.
    @Test func foldedBatchNormalizationIsRefusedNamingIt() throws {
        let layers: [ModelDocument.Layer] = [
            .init(name: "hidden", units: 3, activation: .linear),
            .init(name: "bn", kind: .batchNormalization(BatchNormalizationSettings())),
        ]
        let folder = try TemporaryFolder()
        let path = folder.path("bn.onnx")
        try ModelFiles.save(Self.document(layers, inputWidth: 2, dtype: .float32), to: path, format: .onnx)
        let error = expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }
        #expect(error?.reason.contains("a per-feature scale or offset (a BatchNormalization folded by its exporter)") == true, "\(String(describing: error))")
    }
}
