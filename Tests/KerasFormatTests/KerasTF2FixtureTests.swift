import Foundation
import MLPCore
import Testing
@testable import MLPModelFiles
import KerasFormat
import MLPDocument

/// fixtures/keras2/expected.json, written by fixtures/generate/generate_tf_keras.py with TensorFlow 2.15.1 (Keras 2.15.0):
/// legacy `.h5` files from `model.save(path, save_format="h5")`, with the Keras 2.11+ optimizers (`tf.keras.optimizers`)
/// and the TF 2.0–2.10 ones (`tf.keras.optimizers.legacy`).
private struct KerasTF2Expectations: Decodable {
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Layer: Decodable, Sendable {
            let className: String
            let name: String
        }
        struct Optimizer: Decodable, Sendable {
            let className: String
        }
        /// TensorFlow's continuation from the same saved state with the Keras 2.11+ class of the same name, recorded
        /// for legacy optimizers whose update rule differs from it (and from Keras 3's, which mlpconv implements).
        struct NewRule: Decodable, Sendable {
            let optimizer: String
            let maxScaledDifference: Double
            let weights: [KerasFixtureWeights]
        }
        struct Continuation: Decodable, Sendable {
            let reproducible: Bool
            let iterations: Int
            let weights: [KerasFixtureWeights]
            let newRule: NewRule?
        }
        let name: String
        let h5: String
        let layout: String?
        let layers: [Layer]
        let compiled: Bool
        let optimizer: Optimizer?
        let iterations: Int?
        let train: KerasFixtureTraining?
        let inputs: [Double]
        let outputs: [Double]
        let continuation: Continuation?
        var testDescription: String { name }
    }
    struct Versions: Decodable {
        let keras: String
        let tensorflow: String
    }
    let versions: Versions
    let models: [Model]
}

private let keras2Folder = kerasFixtureFolder("keras2")

private let keras2Fixtures = decodeKerasFixture(KerasTF2Expectations.self,
                                                at: keras2Folder.appendingPathComponent("expected.json"))

private let keras2Models: [KerasTF2Expectations.Model] = keras2Fixtures?.models ?? []

struct KerasTF2FixtureTests {
    @Test func fixturesArePresent() throws {
        let fixtures = try #require(keras2Fixtures, "fixtures/keras2/expected.json is missing or unreadable")
        #expect(fixtures.models.count == 10)
        #expect(fixtures.versions.keras.hasPrefix("2."))
        #expect(Set(fixtures.models.compactMap(\.layout)) == ["tf2.11+", "tf2.0-2.10 legacy optimizer"])
    }

    /// Each file loads, predicts what TensorFlow predicted, keeps Keras's layer names, and says it is Keras 2.
    @Test("reads TensorFlow 2.15's .h5 files", arguments: keras2Models)
    fileprivate func readsTheFile(model: KerasTF2Expectations.Model) throws {
        let document = try ModelFiles.load(keras2Folder.appendingPathComponent(model.h5).path)
        #expect(document.metadata["source_format"] == "keras-h5")
        #expect(document.metadata["keras_version"] == keras2Fixtures?.versions.keras)
        #expect(document.metadata["backend"] == "tensorflow")
        #expect(document.metadata["keras_model_name"] == model.name)
        // Every layer after the input is kept, Activation and Dropout included.
        #expect(document.architecture.layers.map(\.name) == model.layers.filter { $0.className != "InputLayer" }.map(\.name))

        let network: Network<Float> = try document.network()
        let outputs = try network.predict(model.inputs.map { Float($0) })
        #expect(scaledError(outputs, model.outputs) <= 1e-6)

        if model.compiled {
            let training = try #require(document.training)
            #expect(training.optimizer.iterations == model.iterations)
            #expect(training.optimizer.config.kind.kerasClassName == model.optimizer?.className)
        } else {
            #expect(document.training == nil)
        }
    }

    /// One more epoch in mlpconv from TensorFlow's checkpoint reaches TensorFlow's own in-memory continuation.
    ///
    /// mlpconv implements Keras 3's update rules, which Keras 2.11+'s optimizers share. Two TF 2.0–2.10 (legacy)
    /// optimizers differ in where ε goes: legacy RMSprop with momentum 0 divides by √den + ε, legacy Adagrad by
    /// √acc + ε, where Keras 3 and mlpconv divide by √(den + ε) and √(acc + ε). For those the fixture also holds
    /// TensorFlow's continuation from the same saved state with the Keras 2.11+ class (`new_rule`): mlpconv must
    /// reach that to 1e-5 — the file was read right — and the legacy result within 1e-5 plus the gap TensorFlow
    /// itself shows between its two rules (`max_scaled_difference`: 1.7e-5 for the RMSprop model, 7e-9 for Adagrad).
    @Test("training continues as TensorFlow's did",
          arguments: keras2Models.filter { $0.compiled && $0.continuation?.reproducible == true })
    fileprivate func continuationMatchesTensorFlow(model: KerasTF2Expectations.Model) throws {
        let continuation = try #require(model.continuation)
        let train = try #require(model.train)
        let document = try ModelFiles.load(keras2Folder.appendingPathComponent(model.h5).path)
        #expect(document.training?.optimizer.iterations == model.iterations, "iterations")
        let trained = try continueOneEpoch(document, on: train)
        #expect(trained.training.optimizer.state.iterations == continuation.iterations, "iterations after")

        var references = [("TensorFlow", continuation.weights, 1e-5)]
        if let rule = continuation.newRule {
            #expect(model.layout == "tf2.0-2.10 legacy optimizer")
            references = [("TensorFlow (legacy rule)", continuation.weights, 1e-5 + rule.maxScaledDifference),
                          ("TensorFlow with \(rule.optimizer)", rule.weights, 1e-5)]
        }
        for (reference, weights, tolerance) in references {
            expectWeights(of: trained.network, equal: weights, within: tolerance, reference)
        }
    }

    /// The two legacy rules mlpconv does not follow are recorded where they matter, and only there: in the
    /// fixtures (TensorFlow's own gap) and in the metadata of the documents read from them, which `inspect` shows.
    @Test func legacyRuleDifferencesAreRecorded() throws {
        for model in keras2Models {
            let document = try ModelFiles.load(keras2Folder.appendingPathComponent(model.h5).path)
            let note = document.metadata["keras_optimizer_rule"]
            #expect((note != nil) == (model.continuation?.newRule != nil), "\(model.name): \(note ?? "no note")")
            if let note { #expect(note.contains(model.name.contains("adagrad") ? "Adagrad" : "RMSprop"), "\(note)") }
        }
        let withRule = keras2Models.filter { $0.continuation?.newRule != nil }
        #expect(withRule.map(\.name).sorted() == ["legacy_adagrad_sigmoid_mse", "legacy_rmsprop_centered_activation_layer"])
        let rmsprop = try #require(withRule.first { $0.name == "legacy_rmsprop_centered_activation_layer" })
        // Large enough that the legacy RMSprop rule is really exercised, small enough to be ε's placement only.
        let gap = try #require(rmsprop.continuation?.newRule?.maxScaledDifference)
        #expect(gap > 1e-6 && gap < 1e-4)
    }
}
