import Foundation
import MLPCodecs
import MLPCore
import Testing

/// fixtures/keras/expected.json, written by fixtures/generate/generate_keras.py with Keras 3.15.1 (JAX).
private struct KerasExpectations: Decodable {
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Train: Decodable, Sendable {
            let batchSize: Int
            let x: [Double]
            let xShape: [Int]
            let y: [Double]
            let yShape: [Int]
        }
        struct Weights: Decodable, Sendable {
            let kernel: [Double]
            let bias: [Double]?
        }
        struct Continuation: Decodable, Sendable {
            let reproducible: Bool
            let iterations: Int
            let weights: [Weights]
        }
        let name: String
        let h5: String
        let keras: String
        let compiled: Bool
        let iterations: Int?
        let train: Train?
        let inputs: [Double]
        let inputsShape: [Int]
        let outputs: [Double]
        let continuation: Continuation?
        var testDescription: String { name }
    }
    let models: [Model]
}

private let kerasFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/keras")

private let kerasModels: [KerasExpectations.Model] = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let data = try? Data(contentsOf: kerasFolder.appendingPathComponent("expected.json")),
          let file = try? decoder.decode(KerasExpectations.self, from: data) else { return [] }
    return file.models
}()

/// max|a − e| / max(max|e|, 1): the tensor-scale error the tolerances are stated in.
private func scaledError(_ actual: [Float], _ expected: [Double]) -> Double {
    guard actual.count == expected.count else { return .infinity }
    let scale = max(expected.map(abs).max() ?? 0, 1)
    return zip(actual, expected).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
}

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
            var trained: Model<Float> = try document.model()
            let width = train.yShape.count == 1 ? 1 : train.yShape[1]
            let data = try Dataset(features: train.x.map { Float($0) }, featureWidth: train.xShape[1],
                                   targets: train.y.map { Float($0) }, targetWidth: width)
            try trained.fit(data, options: FitOptions(epochs: 1, batchSize: train.batchSize, shuffle: false))
            #expect(trained.training.optimizer.state.iterations == continuation.iterations, "\(file): iterations after")
            for (layer, expected) in zip(trained.network.layers, continuation.weights) {
                #expect(scaledError(layer.kernel, expected.kernel) <= 1e-5, "\(file): \(layer.name)/kernel")
                if let bias = expected.bias {
                    #expect(scaledError(layer.bias, bias) <= 1e-5, "\(file): \(layer.name)/bias")
                }
            }
        }
    }
}
