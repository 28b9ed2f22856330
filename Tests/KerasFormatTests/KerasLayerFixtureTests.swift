import Foundation
import MLPCore
import Testing
@testable import MLPModelFiles
@testable import KerasFormat
import MLPDocument

/// fixtures/keras-layers/expected.json, written by fixtures/generate/generate_keras_layers.py with Keras 3.15.1
/// (JAX): models with normalization, Flatten, Activation, Dropout, regularized and constrained Dense layers,
/// functional chains of them, float64 and mixed-precision policies, trained 2 epochs and saved by Keras; and
/// fixtures/keras2-layers/expected.json, the same records from TensorFlow 2.15 (generate_tf_keras_layers.py).
private struct KerasLayerExpectations: Decodable {
    struct Variable: Decodable, Sendable {
        let shape: [Int]
        let dtype: String
        let values: [Double]
    }
    struct LayerVariables: Decodable, Sendable {
        let layer: String
        let variables: [String: Variable]
    }
    struct Layer: Decodable, Sendable {
        let className: String
        let name: String
    }
    struct Continuation: Decodable, Sendable {
        let reproducible: Bool
        let iterations: Int
        let history: [String: [Double]]
        let variables: [LayerVariables]
    }
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        /// The fixture folder, set after decoding.
        var folder = ""
        let name: String
        let h5: String
        let keras: String
        let dtypePolicy: String
        let functional: Bool
        let inputShape: [Int]
        let layers: [Layer]
        let optimizerClass: String
        let iterations: Int
        let train: KerasFixtureTraining
        let inputs: [Double]
        let outputs: [Double]
        let variables: [LayerVariables]
        let continuation: Continuation
        var testDescription: String { name }
        var path: (String) -> String { { file in kerasFixtureFolder(folder).appendingPathComponent(file).path } }

        private enum CodingKeys: String, CodingKey {
            case name, h5, keras, dtypePolicy, functional, inputShape, layers, optimizerClass, iterations, train, inputs,
                 outputs, variables, continuation
        }

        var isMixed: Bool { dtypePolicy.hasPrefix("mixed_") }
        /// Keras computes mixed-precision models in float16 (10-bit mantissa) or bfloat16 (7-bit); mlpconv in float32.
        var predictionTolerance: Double {
            switch dtypePolicy {
            case "mixed_float16": 5e-3
            case "mixed_bfloat16": 3e-2
            default: 1e-6
            }
        }
    }
    let models: [Model]
}

private func layerFixtures(_ folder: String) -> [KerasLayerExpectations.Model] {
    let url = kerasFixtureFolder(folder).appendingPathComponent("expected.json")
    return (decodeKerasFixture(KerasLayerExpectations.self, at: url)?.models ?? []).map { model in
        var model = model
        model.folder = folder
        return model
    }
}

private let keras3Models = layerFixtures("keras-layers")
private let keras2Models = layerFixtures("keras2-layers")
private let layerModels = keras3Models + keras2Models

/// Every variable of `document` (or of a trained model's document) against Keras's, by layer and variable name.
private func expectVariables(_ document: ModelDocument, equal expected: [KerasLayerExpectations.LayerVariables],
                             within tolerance: Double?, _ label: String) {
    let holders = zip(document.architecture.layers, document.weights).filter { !$0.1.tensors.isEmpty }
    #expect(holders.map(\.0.name) == expected.map(\.layer), "\(label): layers with variables")
    for ((layer, weights), keras) in zip(holders, expected) {
        #expect(Set(weights.tensors.keys) == Set(keras.variables.keys), "\(label): \(layer.name)")
        for (name, variable) in keras.variables {
            guard let tensor = weights.tensors[name] else { continue }
            #expect(tensor.shape == variable.shape, "\(label): \(layer.name)/\(name) shape")
            let values = floats(tensor)
            if let tolerance {
                let error = scaledError(values.map(Float.init), variable.values)
                #expect(error <= tolerance, "\(label): \(layer.name)/\(name): \(error)")
            } else {
                #expect(values == variable.values, "\(label): \(layer.name)/\(name) differs from Keras's")
            }
        }
    }
}

struct KerasLayerFixtureTests {
    @Test func fixturesArePresent() {
        #expect(keras3Models.count == 16 && keras2Models.count == 6)
        let classes = Set(layerModels.flatMap { $0.layers.map(\.className) })
        #expect(classes == ["InputLayer", "Dense", "Activation", "Dropout", "BatchNormalization", "LayerNormalization", "Flatten"])
        #expect(Set(layerModels.map(\.dtypePolicy)) == ["float32", "float64", "mixed_float16", "mixed_bfloat16"])
    }

    /// Keras's layer classes and names, the input shape, every variable bit for bit in Keras's dtype, the optimizer
    /// and its step; predictions as Keras's (to float32's precision, or the mixed policy's).
    @Test("every layer, variable and policy is read as Keras saved it", arguments: layerModels)
    fileprivate func reads(model: KerasLayerExpectations.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(model.path(file))
            let layers = document.architecture.layers
            // A functional model lists its InputLayer among the layers; mlpconv's input is no layer.
            let kerasLayers = model.layers.filter { $0.className != "InputLayer" }
            #expect(layers.map { KerasWriting.kerasClassName($0.kind) } == kerasLayers.map(\.className), "\(file)")
            #expect(layers.map(\.name) == kerasLayers.map(\.name), "\(file)")
            #expect((document.architecture.inputShape ?? [document.architecture.inputWidth]) == model.inputShape, "\(file)")
            expectVariables(document, equal: model.variables, within: nil, file)
            let dtype: Tensor.DType = model.dtypePolicy == "float64" ? .float64 : .float32
            #expect(document.weights.allSatisfy { $0.tensors.values.allSatisfy { $0.dtype == dtype } }, "\(file)")
            #expect(document.metadata[KerasConfig.dtypePolicyKey] == (model.isMixed ? model.dtypePolicy : nil), "\(file)")
            let network: Network<Float> = try document.network()
            let outputs = try network.predict(model.inputs.map { Float($0) })
            let error = scaledError(outputs, model.outputs)
            #expect(error <= model.predictionTolerance, "\(file): predictions \(error)")
            let training = try #require(document.training, "\(file): \(document.metadata[KerasConfig.trainingNotReadKey] ?? "")")
            if model.optimizerClass == "LossScaleOptimizer" {
                // What Keras compiles a mixed_float16 model with, around the Adam it was given.
                #expect(training.optimizer.config.dynamicLossScale == OptimizerConfig.DynamicLossScale(), "\(file)")
                #expect(training.optimizer.config.kind == .adam, "\(file)")
            } else {
                #expect(training.optimizer.config.kind.kerasClassName == model.optimizerClass, "\(file)")
            }
            #expect(training.optimizer.iterations == model.iterations, "\(file)")
        }
    }

    /// One more epoch in mlpconv reaches Keras's variables (moving statistics included) to ≤ 1e-5, with Keras's loss.
    /// Dropout masks and mixed-precision arithmetic cannot be reproduced outside Keras.
    @Test("training continues as Keras continues",
          arguments: layerModels.filter { $0.continuation.reproducible && !$0.isMixed })
    fileprivate func continues(model: KerasLayerExpectations.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(model.path(file))
            let after: ModelDocument
            let loss: Double?
            if model.dtypePolicy == "float64" {
                var trained = try document.model(as: Double.self)
                try trained.fit(try model.train.dataset(as: Double.self),
                                options: FitOptions(epochs: 1, batchSize: model.train.batchSize, shuffle: false))
                #expect(trained.training.optimizer.state.iterations == model.continuation.iterations, "\(file)")
                (after, loss) = (ModelDocument(model: trained), trained.training.history.last?.metrics["loss"])
            } else {
                let trained = try continueOneEpoch(document, on: model.train)
                #expect(trained.training.optimizer.state.iterations == model.continuation.iterations, "\(file)")
                (after, loss) = (ModelDocument(model: trained), trained.training.history.last?.metrics["loss"])
            }
            expectVariables(after, equal: model.continuation.variables, within: 1e-5, file)
            let kerasLoss = try #require(model.continuation.history["loss"]?.first)
            let mlpconvLoss = try #require(loss)
            #expect(abs(mlpconvLoss - kerasLoss) <= 1e-5 * max(1, abs(kerasLoss)), "\(file): loss \(mlpconvLoss) vs \(kerasLoss)")
        }
    }

    /// Written back by mlpconv in both Keras formats, read again: the same document, bit for bit; CI's Keras check
    /// then has Keras load the files (same classes, dtypes, predictions) and continue from them.
    @Test("written back to .keras and .h5 without loss", arguments: layerModels)
    fileprivate func roundTrip(model: KerasLayerExpectations.Model) throws {
        let document = try ModelFiles.load(model.path(model.keras))
        try expectKerasRoundTrip(document, name: "layers_" + model.name)
        // A Keras 2 .h5 too: its configuration differs (string dtypes, Keras 2's keys), the document must not.
        if model.folder == "keras2-layers" {
            try expectKerasRoundTrip(try ModelFiles.load(model.path(model.h5)), name: "layers_h5_" + model.name)
        }
    }
}
