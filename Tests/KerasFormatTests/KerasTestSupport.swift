import TestSupport
import Foundation
import HDF5Support
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles

/// `fixtures/<name>` in the repository: the files real Keras wrote, and what it computed from them.
func kerasFixtureFolder(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").appendingPathComponent(name)
}

/// The message loading `path` fails with, or "(no error)".
func kerasLoadError(_ path: String) -> String {
    do {
        _ = try ModelFiles.load(path)
        return "(no error)"
    } catch {
        return error.description
    }
}

/// A tensor's values widened to double, as Python's JSON holds them.
func floats(_ tensor: Tensor) -> [Double] {
    switch tensor.storage {
    case .float32(let values): values.map(Double.init)
    case .float64(let values): values
    }
}

/// What the Keras fixture generators (generate_keras.py, generate_tf_keras.py) record about training: the data a
/// model was fitted on and, after one more epoch, the weights.
struct KerasFixtureTraining: Decodable, Sendable {
    let batchSize: Int
    let x: [Double]
    let xShape: [Int]
    let y: [Double]
    let yShape: [Int]

    var dataset: Dataset<Float> {
        get throws { try dataset(as: Float.self) }
    }

    /// The training data in `T`; samples with several axes (a model that starts with a Flatten) as flat rows.
    func dataset<T: MLPScalar>(as _: T.Type) throws -> Dataset<T> {
        try Dataset(features: x.map { T($0) }, featureWidth: xShape.dropFirst().reduce(1, *), targets: y.map { T($0) },
                    targetWidth: yShape.count == 1 ? 1 : yShape[1])
    }
}

struct KerasFixtureWeights: Decodable, Sendable {
    let kernel: [Double]
    let bias: [Double]?
}

/// Decodes a fixture's expected.json (snake_case keys); nil when it is missing or unreadable, which the suites'
/// `fixturesArePresent` tests turn into failures.
func decodeKerasFixture<T: Decodable>(_ type: T.Type, at url: URL) -> T? {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let data = try? Data(contentsOf: url) else { return nil }
    return try? decoder.decode(type, from: data)
}

/// max|a − e| / max(max|e|, 1): the tensor-scale error the issue's tolerances are stated in.
func scaledError(_ actual: [Float], _ expected: [Double]) -> Double {
    guard actual.count == expected.count else { return .infinity }
    let scale = max(expected.map(abs).max() ?? 0, 1)
    return zip(actual, expected).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
}

/// One more epoch, without shuffling, from the training state stored in `document`.
func continueOneEpoch(_ document: ModelDocument, on training: KerasFixtureTraining) throws -> Model<Float> {
    var model: Model<Float> = try document.model()
    try model.fit(try training.dataset, options: FitOptions(epochs: 1, batchSize: training.batchSize, shuffle: false))
    return model
}

/// Every kernel and bias of `network` within `tolerance` (scaled error) of `expected`.
func expectWeights(of network: Network<Float>, equal expected: [KerasFixtureWeights], within tolerance: Double,
                   _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    // The fixtures list the Dense layers; dropout layers have no weights.
    let dense = network.layers.filter { $0.kind.dense != nil }
    #expect(dense.count == expected.count, "\(label): layer count", sourceLocation: sourceLocation)
    for (layer, weights) in zip(dense, expected) {
        let kernelError = scaledError(layer.kernel, weights.kernel)
        #expect(kernelError <= tolerance, "\(label): \(layer.name)/kernel: \(kernelError)", sourceLocation: sourceLocation)
        if let bias = weights.bias {
            let biasError = scaledError(layer.bias, bias)
            #expect(biasError <= tolerance, "\(label): \(layer.name)/bias: \(biasError)", sourceLocation: sourceLocation)
        }
    }
}

/// Each Dense layer's activation, with a linear Dense followed by an Activation layer counted as that activation:
/// how fixtures written before Activation layers were kept as layers describe a model.
func foldedDenseActivations(_ layers: [ModelDocument.Layer]) -> [Activation] {
    var result: [Activation] = []
    for (index, layer) in layers.enumerated() {
        guard let dense = layer.dense else { continue }
        if dense.activation == .linear, index + 1 < layers.count, case .activation(let next) = layers[index + 1].kind {
            result.append(next)
        } else {
            result.append(dense.activation)
        }
    }
    return result
}

/// The expected.json of fixtures/keras-optimizers and fixtures/keras-optimizer-wrappers
/// (generate_keras_optimizers.py, generate_keras_optimizer_wrappers.py): per model Keras's predictions, saved
/// optimizer variables, legacy `.h5` layout and, after one more epoch, its weights (and, for the wrappers, its
/// optimizer variables).
struct KerasOptimizerFixtures: Decodable {
    struct Variable: Decodable, Sendable {
        let path: String
        let values: [Double]
    }
    struct Layout: Decodable, Sendable {
        let optimizerWeightNames: [String]
        let optimizerWeightDtypes: [String]
    }
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Continuation: Decodable, Sendable {
            let iterations: Int
            let weights: [KerasFixtureWeights]
            let optimizerVariables: [Variable]?
        }
        let name: String
        let h5: String
        let keras: String
        let iterations: Int
        let train: KerasFixtureTraining
        let inputs: [Double]
        let outputs: [Double]
        let optimizerVariablesSaved: [Variable]
        let h5Layout: Layout
        let continuation: Continuation
        var testDescription: String { name }
    }
    let models: [Model]
}

/// `document` written by mlpconv as a legacy `.h5` names its optimizer variables as Keras did in `model`'s file:
/// the same names, in the same order, in the same dtypes.
func expectWrittenOptimizerLayout(of document: ModelDocument, equals model: KerasOptimizerFixtures.Model,
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
    let temporary = try TemporaryFolder()
    let path = temporary.path("m.h5")
    try ModelFiles.save(document, to: path, format: .kerasH5)
    let h5 = try HDF5File.openReadOnly(at: path)
    let group = try h5.openGroup("optimizer_weights")
    guard case .strings(let names) = try group.attribute("weight_names") else {
        Issue.record("weight_names is not a string list", sourceLocation: sourceLocation)
        return
    }
    #expect(names == model.h5Layout.optimizerWeightNames, "\(model.name)", sourceLocation: sourceLocation)
    for (name, dtype) in zip(names, model.h5Layout.optimizerWeightDtypes) {
        let info = try group.openDataset(name).info()
        let found = info.type.typeClass == .integer ? "int\(info.type.size * 8)" : "float\(info.type.size * 8)"
        #expect(found == dtype, "\(model.name) \(name)", sourceLocation: sourceLocation)
    }
}

/// Both of `model`'s files in `folder` predict Keras's outputs to 1e-6 (scaled error).
func expectPredictions(of model: KerasOptimizerFixtures.Model, in folder: URL,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
    for file in [model.h5, model.keras] {
        let network: Network<Float> = try ModelFiles.load(folder.appendingPathComponent(file).path).network()
        #expect(scaledError(try network.predict(model.inputs.map { Float($0) }), model.outputs) <= 1e-6, "\(file)",
                sourceLocation: sourceLocation)
    }
}
