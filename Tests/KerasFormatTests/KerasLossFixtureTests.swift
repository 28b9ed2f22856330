import Foundation
import MLPCore
import Testing
@testable import MLPModelFiles
import MLPDocument

/// fixtures/keras-losses/expected.json, written by fixtures/generate/generate_keras_losses.py with Keras 3.15.1
/// (JAX): one small model per logits, label-smoothing or new-loss configuration, trained 2 epochs and saved by Keras.
private struct KerasLossExpectations: Decodable {
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Continuation: Decodable, Sendable {
            let iterations: Int
            let history: [String: [Double]]
            let weights: [KerasFixtureWeights]
        }
        let name: String
        let h5: String
        let keras: String
        /// What Keras serialized: a loss name, or `{"class_name": …, "config": {…}}`.
        let compiledLoss: CompiledLoss
        let iterations: Int
        let train: KerasFixtureTraining
        let inputs: [Double]
        let outputs: [Double]
        let continuation: Continuation
        var testDescription: String { name }
    }
    let models: [Model]
}

/// A loss as Keras's `keras.losses.serialize` wrote it, read with Foundation (not mlpconv's reader).
private enum CompiledLoss: Decodable, Sendable {
    struct Object: Decodable, Sendable {
        struct Config: Decodable, Sendable {
            let fromLogits: Bool?
            let labelSmoothing: Double?
            let delta: Double?
        }
        let className: String
        let config: Config
    }
    case name(String)
    case object(Object)

    init(from decoder: Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            self = .name(name)
        } else {
            self = .object(try Object(from: decoder))
        }
    }

    /// The loss this serialization means, by Keras's own names.
    var loss: Loss {
        get throws {
            switch self {
            case .name(let name):
                return try #require(Loss(name: name), "loss \(name)")
            case .object(let object):
                let kinds: [String: LossKind] = [
                    "BinaryCrossentropy": .binaryCrossentropy, "CategoricalCrossentropy": .categoricalCrossentropy,
                    "SparseCategoricalCrossentropy": .sparseCategoricalCrossentropy, "Huber": .huber,
                    "KLDivergence": .klDivergence, "Hinge": .hinge, "CategoricalHinge": .categoricalHinge,
                    "CosineSimilarity": .cosineSimilarity,
                ]
                let kind = try #require(kinds[object.className], "loss class \(object.className)")
                return try Loss(kind, fromLogits: object.config.fromLogits ?? false,
                                labelSmoothing: object.config.labelSmoothing ?? 0, delta: object.config.delta ?? 1)
            }
        }
    }
}

private let lossFolder = kerasFixtureFolder("keras-losses")

private let lossModels: [KerasLossExpectations.Model] =
    decodeKerasFixture(KerasLossExpectations.self, at: lossFolder.appendingPathComponent("expected.json"))?.models ?? []

struct KerasLossFixtureTests {
    @Test func fixturesArePresent() throws {
        #expect(lossModels.count == 17)
        let losses = try lossModels.map { try $0.compiledLoss.loss }
        // Every loss but those fixtures/keras already has plain.
        #expect(Set(losses.map(\.kind)) == Set(LossKind.allCases.filter { !$0.isTorchOnly })
            .subtracting([.halfSquaredError, .meanSquaredError, .meanAbsoluteError]))
        // Keras 3.15.1's Huber.get_config() has no delta: its file says delta 1 although it trained with 0.5.
        #expect(try lossModels.first { $0.name == "huber_delta" }?.compiledLoss.loss == .huber)
    }

    /// The loss and its settings as Keras saved them, from both formats; predictions equal Keras's.
    @Test("the loss is read with its settings, and predictions equal Keras's", arguments: lossModels)
    fileprivate func readsLossAndPredicts(model: KerasLossExpectations.Model) throws {
        let expected = try model.compiledLoss.loss
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(lossFolder.appendingPathComponent(file).path)
            #expect(document.training?.loss == expected, "\(file)")
            #expect(document.training?.optimizer.iterations == model.iterations, "\(file)")
            let outputs = try (document.network() as Network<Float>).predict(model.inputs.map { Float($0) })
            #expect(scaledError(outputs, model.outputs) <= 1e-6, "\(file)")
        }
    }

    /// One more epoch in mlpconv reaches Keras's weights to ≤ 1e-5, with Keras's epoch loss and accuracy — for the
    /// logits models accuracy as Keras computes it on the raw outputs (binary: logit > 0.5).
    @Test("training continues as Keras continues", arguments: lossModels)
    fileprivate func continuesAsKeras(model: KerasLossExpectations.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(lossFolder.appendingPathComponent(file).path)
            let trained = try continueOneEpoch(document, on: model.train)
            #expect(trained.training.optimizer.state.iterations == model.continuation.iterations, "\(file)")
            expectWeights(of: trained.network, equal: model.continuation.weights, within: 1e-5, file)
            let record = try #require(trained.training.history.last, "\(file)")
            let kerasLoss = try #require(model.continuation.history["loss"]?.first)
            let loss = try #require(record.metrics["loss"])
            #expect(abs(loss - kerasLoss) <= 1e-5 * max(1, abs(kerasLoss)), "\(file): loss \(loss) vs Keras's \(kerasLoss)")
            if let kerasAccuracy = model.continuation.history["accuracy"]?.first {
                #expect(record.metrics["accuracy"] == kerasAccuracy, "\(file): accuracy")
            }
        }
    }

    /// mlpconv writes the settings back as Keras writes them (a serialized loss object), and reads them again.
    @Test("Keras file → keras-h5 and keras → equal document, loss settings included", arguments: lossModels)
    fileprivate func roundTrip(model: KerasLossExpectations.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(lossFolder.appendingPathComponent(file).path)
            try expectKerasRoundTrip(document, name: "rt_losses_" + file.replacingOccurrences(of: ".", with: "_"))
        }
    }

    /// Settings Keras's own files cannot carry (Huber's delta) or that no fixture starts from, written by mlpconv:
    /// read back equal; with MLPCONV_INTEROP_DIR set, scripts/keras_interop_check.py has Keras load and continue them.
    @Test("native model with loss settings → keras-h5 and keras → equal document", arguments: [
        (Optional(Loss.huber), Activation.linear), (try? Loss(.huber, delta: 0.5), .linear),
        (try? Loss(.binaryCrossentropy, fromLogits: true, labelSmoothing: 0.3), .linear),
        (try? Loss(.categoricalCrossentropy, labelSmoothing: 0.05), .softmax),
    ])
    func nativeRoundTrip(loss: Loss?, output: Activation) throws {
        let loss = try #require(loss)
        var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .tanh), LayerSpec(2, output)], loss: loss,
                                     optimizer: OptimizerConfig(.adam, learningRate: 0.01), seed: 9)
        let data = try Dataset<Float>(features: [0.1, 0.2, 0.3, -1, 0, 1, 2, 2, 2, 0.5, -0.5, 0],
                                      featureWidth: 3, targets: [1, 0, 0, 1, 1, 0, 0, 1], targetWidth: 2)
        _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
        let name = "native_loss_" + String(loss.description.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        try expectKerasRoundTrip(ModelDocument(model: model), name: name)
    }

    /// fixtures/keras-reader's `untrainable_logits_loss` (generate_keras_reader_cases.py) was kept without its training
    /// state before logits losses were supported; it now loads with it.
    @Test func theOnceUntrainableLogitsModelLoadsWithItsTrainingState() throws {
        for file in ["untrainable_logits_loss.h5", "untrainable_logits_loss.keras"] {
            let path = kerasFixtureFolder("keras-reader").appendingPathComponent(file).path
            let document = try ModelFiles.load(path)
            #expect(try document.training?.loss == Loss(.sparseCategoricalCrossentropy, fromLogits: true), "\(file)")
            #expect(document.metadata["keras_training_state"] == nil, "\(file)")
        }
    }
}
