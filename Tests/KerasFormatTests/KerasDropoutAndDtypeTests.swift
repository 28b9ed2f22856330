import Foundation
import MLPCore
import Testing
import TestSupport
@testable import MLPModelFiles
@testable import KerasFormat
import MLPDocument

/// Two results that were once silently wrong: a Keras Dropout layer was dropped (trained at rate 0, written back
/// without it), and a float64 model was written with a float32 dtype policy (Keras loaded it as float32).
struct KerasDropoutAndDtypeTests {
    private let dropoutFile = kerasFixtureFolder("keras").appendingPathComponent("adam_dropout_relu.keras").path

    @Test("a Keras Dropout layer is kept: training applies it, and writing keeps it")
    func dropoutIsKept() throws {
        let document = try ModelFiles.load(dropoutFile)
        #expect(document.architecture.layers.map(\.kind.typeName) == ["dense", "dropout", "dense"])
        #expect(document.architecture.layers[1].kind == .dropout(DropoutSettings(rate: 0.25)))

        // The same epoch from the same state, with the file's rate and with the rate at 0: masks change the result.
        let x = (0..<32).map { Float(sin(Double($0))) }, y = (0..<8).map { Float($0 % 3) }
        let data = try Dataset(features: x, featureWidth: 4, targets: y, targetWidth: 1)
        func trainedKernel(_ document: ModelDocument) throws -> [Float] {
            var model: Model<Float> = try document.model(seedIfMissing: 5)
            try model.fit(data, options: FitOptions(epochs: 1, batchSize: 8, shuffle: false))
            return model.network.layers[0].kernel
        }
        var withoutDropout = document
        withoutDropout.architecture.layers[1].kind = .dropout(DropoutSettings(rate: 0))
        #expect(try trainedKernel(document) != trainedKernel(withoutDropout))

        let folder = try TemporaryFolder()
        for (format, name) in [(ModelFormat.keras, "m.keras"), (.kerasH5, "m.h5")] {
            try ModelFiles.save(document, to: folder.path(name), format: format)
            #expect(try ModelFiles.load(folder.path(name)).architecture == document.architecture, "\(name)")
        }
        let config = KerasWriting.modelConfigText(document, native: true)
        #expect(config.contains(#""class_name":"Dropout""#) || config.contains(#""class_name": "Dropout""#))
    }

    @Test("a float64 model declares float64 in every layer's dtype policy; a float32 one float32")
    func float64Policy() throws {
        var random = RandomGenerator(seed: 1)
        let network = try Network<Double>(inputWidth: 3, layers: [LayerSpec(4, .tanh), LayerSpec(.batchNormalization(.init())),
                                                                  LayerSpec(2, .linear)], random: &random)
        let float64 = ModelDocument(network: network)
        let float32 = ModelDocument(network: try Network<Float>(inputWidth: 3, layers: [LayerSpec(2, .linear)], random: &random))
        for native in [true, false] {
            let text = KerasWriting.modelConfigText(float64, native: native)
            // The model and its three layers; never float32 (the InputLayer's own dtype is a plain string).
            #expect(text.components(separatedBy: #""name":"float64""#).count - 1 == 4
                        || text.components(separatedBy: #""name": "float64""#).count - 1 == 4, "\(text)")
            #expect(!text.contains("DTypePolicy\",\"config\":{\"name\":\"float32") && !text.contains("\"float32\"}"), "\(text)")
            #expect(KerasWriting.modelConfigText(float32, native: native).contains("float64") == false)
        }
        // Read back: float64 tensors and no mixed policy recorded.
        let folder = try TemporaryFolder()
        try ModelFiles.save(float64, to: folder.path("m.keras"), format: .keras)
        let back = try ModelFiles.load(folder.path("m.keras"))
        #expect(back.weights.allSatisfy { $0.tensors.values.allSatisfy { $0.dtype == .float64 } })
        #expect(back.metadata[KerasConfig.dtypePolicyKey] == nil)
    }

    /// L1 on weights that are exactly 0 (zero-initialized biases, a NonNeg constraint's clamp): mlpconv takes the
    /// derivative of |w| there as +1, as Keras 3 on JAX does. CI's Keras check continues this fresh model in Keras,
    /// from zero biases, and compares every variable (scripts/keras_interop_check.py).
    @Test("L1 at exactly zero follows Keras 3 on JAX; written for CI's Keras check from zero biases")
    func l1AtZero() throws {
        var hidden = DenseSettings(units: 4, activation: .tanh)
        hidden.biasRegularizer = .l1(0.05)
        hidden.biasConstraint = .nonNeg
        hidden.kernelRegularizer = .l1l2(l1: 0.01, l2: 0.01)
        var output = DenseSettings(units: 2)
        output.biasRegularizer = .l1(0.1)
        let model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(.dense(hidden)), LayerSpec(.dense(output))],
                                     loss: .meanSquaredError, optimizer: OptimizerConfig(.sgd, learningRate: 0.05), seed: 9)
        let document = ModelDocument(model: model)
        #expect(document.weights[0]["bias"]?.values(as: Double.self) == [0, 0, 0, 0])
        try expectKerasRoundTrip(document, name: "l1_at_zero_biases")

        // One SGD step on a zero loss gradient (targets = outputs) moves each zero bias by −lr·l1, not 0.
        var trained = model
        let x: [Float] = [0.5, -0.25, 1]
        let y = try trained.network.predict(x)
        try trained.fit(try Dataset(features: x, featureWidth: 3, targets: y, targetWidth: 2),
                        options: FitOptions(epochs: 1, batchSize: 1, shuffle: false))
        let outputBias = trained.network.layers[1].bias
        #expect(outputBias.allSatisfy { abs($0 - Float(-0.05 * 0.1)) < 1e-7 }, "\(outputBias)")
    }
}
