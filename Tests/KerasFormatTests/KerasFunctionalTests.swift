import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

/// fixtures/keras-functional/expected.json, written by fixtures/generate/generate_keras_functional.py with Keras
/// 3.15.1 (JAX; `.keras` and `.h5`) and TensorFlow 2.15's Keras 2.15 (`_tf2.h5`).
private struct KerasFunctionalExpectations: Decodable {
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Continuation: Decodable, Sendable {
            let iterations: Int
            let weights: [KerasFixtureWeights]
        }
        let name: String
        let flavour: String
        let files: [String: String]
        let compiled: Bool
        let denseLayers: [String]
        let activations: [String]
        let iterations: Int?
        let inputs: [Double]
        let outputs: [Double]
        let train: KerasFixtureTraining?
        let continuation: Continuation?
        var testDescription: String { "\(name) (\(flavour))" }
    }
    struct Bad: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let defect: String
        var testDescription: String { file }
    }
    let models: [Model]
    let bad: [Bad]
}

private let folder = kerasFixtureFolder("keras-functional")
private let fixtures = decodeKerasFixture(KerasFunctionalExpectations.self, at: folder.appendingPathComponent("expected.json"))

struct KerasFunctionalTests {
    @Test func fixturesArePresent() throws {
        let fixtures = try #require(fixtures, "fixtures/keras-functional/expected.json is missing or unreadable")
        #expect(Set(fixtures.models.map(\.flavour)) == ["keras2", "keras3"])
        #expect(fixtures.models.count == 6 && fixtures.bad.count == 8)
    }

    /// A functional chain (with Dropout and Activation layers in it) reads as the Sequential model it is
    /// equivalent to: names, activations, Keras's predictions; and training continues as Keras's did.
    @Test("functional chains read and continue as Keras", arguments: fixtures?.models ?? [])
    fileprivate func chain(model: KerasFunctionalExpectations.Model) throws {
        for file in model.files.values.sorted() {
            let document = try ModelFiles.load(folder.appendingPathComponent(file).path)
            // Dropout and Activation layers are kept as layers; the fixture describes the Dense ones, each with the
            // activation an Activation layer right after it applies.
            let layers = document.architecture.layers
            #expect(layers.filter { $0.kind.dense != nil }.map(\.name) == model.denseLayers, "\(file)")
            #expect(foldedDenseActivations(layers).map(\.name) == model.activations, "\(file)")
            #expect(document.metadata["keras_model_name"] == model.name, "\(file)")
            let network: Network<Float> = try document.network()
            #expect(scaledError(try network.predict(model.inputs.map { Float($0) }), model.outputs) <= 1e-6, "\(file)")
            guard model.compiled else {
                #expect(document.training == nil, "\(file)")
                continue
            }
            #expect(document.training?.optimizer.iterations == model.iterations, "\(file)")
            let train = try #require(model.train), continuation = try #require(model.continuation)
            let trained = try continueOneEpoch(document, on: train)
            #expect(trained.training.optimizer.state.iterations == continuation.iterations, "\(file)")
            expectWeights(of: trained.network, equal: continuation.weights, within: 1e-5, file)
        }
    }

    @Test("graphs that are not a chain are refused, naming why", arguments: fixtures?.bad ?? [])
    fileprivate func notChain(bad: KerasFunctionalExpectations.Bad) {
        let message = expectError(ModelFileError.self) {
            _ = try ModelFiles.load(folder.appendingPathComponent(bad.file).path)
        }?.description ?? ""
        let expected = bad.defect.contains("twice") ? "layer \"shared\" is called 2 times" : "2 outputs (head_a, head_b)"
        #expect(message.contains(bad.file) && message.contains(expected) && message.contains("chain"), "\(message)")
    }
}
