import Foundation
import MLPCore
import Testing
@testable import MLPModelFiles
import MLPDocument

/// fixtures/keras/expected.json, written by fixtures/generate/generate_keras.py with Keras 3.15.1 (JAX).
private struct KerasExpectations: Decodable {
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Continuation: Decodable, Sendable {
            let reproducible: Bool
            let iterations: Int
            let weights: [KerasFixtureWeights]
        }
        let name: String
        let h5: String
        let keras: String
        let compiled: Bool
        let iterations: Int?
        let train: KerasFixtureTraining?
        let inputs: [Double]
        let inputsShape: [Int]
        let outputs: [Double]
        let continuation: Continuation?
        var testDescription: String { name }
    }
    let models: [Model]
}

private let kerasFolder = kerasFixtureFolder("keras")

private let kerasModels: [KerasExpectations.Model] =
    decodeKerasFixture(KerasExpectations.self, at: kerasFolder.appendingPathComponent("expected.json"))?.models ?? []

struct KerasContinuationTests {
    @Test func fixturesArePresent() {
        #expect(kerasModels.count == 10)
    }

    /// Keras's own predictions, from both of Keras's formats.
    @Test("predictions equal Keras's", arguments: kerasModels)
    fileprivate func predictionsMatchKeras(model: KerasExpectations.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(kerasFolder.appendingPathComponent(file).path)
            let network: Network<Float> = try document.network()
            let outputs = try network.predict(model.inputs.map { Float($0) })
            #expect(scaledError(outputs, model.outputs) <= 1e-6, "\(file)")
        }
    }

    /// The central promise: from a Keras checkpoint (.h5 included, whose moments Keras 3 itself drops),
    /// one more epoch in mlpconv reaches Keras's own in-memory continuation to ≤ 1e-5.
    @Test("training continues exactly as Keras would", arguments: kerasModels.filter { $0.compiled && $0.continuation?.reproducible == true })
    fileprivate func continuationMatchesKeras(model: KerasExpectations.Model) throws {
        let continuation = try #require(model.continuation)
        let train = try #require(model.train)
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(kerasFolder.appendingPathComponent(file).path)
            #expect(document.training?.optimizer.iterations == model.iterations, "\(file): iterations")
            let trained = try continueOneEpoch(document, on: train)
            #expect(trained.training.optimizer.state.iterations == continuation.iterations, "\(file): iterations after")
            expectWeights(of: trained.network, equal: continuation.weights, within: 1e-5, file)
        }
    }
}
