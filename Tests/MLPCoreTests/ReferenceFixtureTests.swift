import TestSupport
import Foundation
import Testing
@testable import MLPCore

/// Comparisons against fixtures/reference/*.json, written once by fixtures/generate/generate_reference.py
/// with Keras 3 (JAX backend): forward outputs, losses and gradients of Keras's own layers and losses, and
/// weights after three `train_on_batch` steps of Keras's own optimizers.

/// Element-wise `|actual − expected| ≤ rtol·(|expected| + max|expected|·floor)`: relative per element, with a floor
/// at `floor` of the tensor's largest magnitude so entries that are nearly zero are judged on the tensor's scale.
/// `floor: 1` makes it the norm-wise relative error `max|a − e| / max|e|` used for float32: two correct float32
/// computations that sum in different orders (BLAS here, XLA in Keras) differ by a few ulps of the tensor's scale,
/// which is a large relative error on an entry that is the small difference of large terms.
func expectClose<T: MLPScalar>(
    _ actual: [T], _ expected: [Double], rtol: Double, floor: Double = 1e-3, _ what: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "\(what()): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let scale = expected.map(abs).max() ?? 0
    var worst = 0.0, worstIndex = 0
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let error = abs(Double(a) - e) / (abs(e) + scale * floor + .leastNormalMagnitude)
        if error > worst { (worst, worstIndex) = (error, index) }
    }
    #expect(worst <= rtol, "\(what()): relative error \(worst) at \(worstIndex): \(actual[worstIndex]) vs \(expected[worstIndex])",
            sourceLocation: sourceLocation)
}

/// The fixture files' shapes (snake_case keys, as the Python generator writes them).
struct LayerFixture: Decodable, Sendable {
    let units: Int
    let activation: String
    let useBias: Bool
}

struct WeightsFixture: Decodable, Sendable {
    let kernel: [Double]
    let bias: [Double]?
}

struct ForwardBackwardCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Result: Decodable, Sendable {
        let outputs: [Double]
        let loss: Double
        let gradients: [WeightsFixture]
    }
    let name: String
    let inputWidth: Int
    let layers: [LayerFixture]
    let loss: String
    let x: [Double]
    let targets: [Double]
    let targetWidth: Int
    let weights: [WeightsFixture]
    let float64: Result
    let float32: Result
    var testDescription: String { name }
}

struct OptimizerCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Batch: Decodable, Sendable {
        let x: [Double]
        let targets: [Double]
    }
    struct Step: Decodable, Sendable {
        let weights: [WeightsFixture]
        let loss: Double
    }
    let name: String
    let inputWidth: Int
    let layers: [LayerFixture]
    let loss: String
    let optimizer: [String: FixtureValue]
    let initialWeights: [WeightsFixture]
    let batches: [Batch]
    let targetWidth: Int
    let steps: [Step]
    let finalIterations: Int
    let finalSlots: [String: [[Double]]]
    var testDescription: String { name }
}

/// A JSON scalar of a hyperparameter map.
enum FixtureValue: Decodable, Sendable {
    case null, bool(Bool), number(Double), string(String)

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let flag = try? container.decode(Bool.self) { self = .bool(flag) }
        else if let number = try? container.decode(Double.self) { self = .number(number) }
        else { self = .string(try container.decode(String.self)) }
    }

    var string: String? {
        if case .string(let text) = self { text } else { nil }
    }

    /// The value as an optimizer hyperparameter; `nil` for a string, which no hyperparameter takes.
    var hyperparameter: Hyperparameter? {
        switch self {
        case .null: .optionalNumber(nil)
        case .bool(let flag): .flag(flag)
        case .number(let number): .number(number)
        case .string: nil
        }
    }
}

/// A fixture's `optimizer` object — `name` plus Keras's config keys, as optimizers.json and
/// optimizer_updates.json write it — as the configuration it describes.
func optimizerConfig(_ fixture: [String: FixtureValue]) throws -> OptimizerConfig {
    let name = try #require(fixture["name"]?.string, "optimizer without a name")
    let kind = try #require(OptimizerKind(name: name), "unknown optimizer \(name)")
    var hyperparameters: [String: Hyperparameter] = [:]
    for (key, value) in fixture where key != "name" {
        let hyperparameter: Hyperparameter = try #require(value.hyperparameter, "\(name): hyperparameter \(key) is a string")
        hyperparameters[key] = hyperparameter
    }
    return try OptimizerConfig(kind, hyperparameters: hyperparameters)
}

struct FixtureFile<Case: Decodable & Sendable>: Decodable, Sendable {
    let cases: [Case]
}

func decodeFixture<Case: Decodable & Sendable>(_ path: String, as: Case.Type) -> [Case] {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let data = try? Data(contentsOf: fixturesDirectory.appendingPathComponent(path)),
          let file = try? decoder.decode(FixtureFile<Case>.self, from: data) else { return [] }
    return file.cases
}

let forwardBackwardCases = decodeFixture("reference/forward_backward.json", as: ForwardBackwardCase.self)
let optimizerCases = decodeFixture("reference/optimizers.json", as: OptimizerCase.self)

/// Builds a network from a fixture's layers and weights.
func network<T: MLPScalar>(inputWidth: Int, layers: [LayerFixture], weights: [WeightsFixture]) throws -> Network<T> {
    var width = inputWidth
    var dense: [Layer<T>] = []
    for (index, (layer, weights)) in zip(layers, weights).enumerated() {
        let activation = try #require(Activation(name: layer.activation))
        dense.append(try Layer.dense(
            name: "layer\(index)", inputWidth: width, units: layer.units, activation: activation, useBias: layer.useBias,
            kernel: weights.kernel.map { T($0) }, bias: weights.bias.map { $0.map { T($0) } }))
        width = layer.units
    }
    return try Network(inputWidth: inputWidth, layers: dense)
}

/// The fixture's tensors in `Network.parameters` order.
func tensors(_ weights: [WeightsFixture], for network: Network<some MLPScalar>) -> [[Double]] {
    network.parameters.map { parameter in
        parameter.variable == 0 ? weights[parameter.layer].kernel : weights[parameter.layer].bias ?? []
    }
}

struct ReferenceFixtureTests {
    @Test func fixturesArePresent() {
        #expect(forwardBackwardCases.count >= 30)
        #expect(optimizerCases.count >= 15)
        // Every activation, loss and optimizer of the core appears in the reference.
        #expect(Set(forwardBackwardCases.flatMap { $0.layers.map(\.activation) }) == Set(Activation.allCases.map(\.rawValue)))
        // The losses through a whole network; every loss with every setting is in losses.json (LossReferenceTests).
        #expect(Set(forwardBackwardCases.map(\.loss)) == Set([LossKind.halfSquaredError,
            .meanSquaredError, .meanAbsoluteError, .huber, .binaryCrossentropy, .categoricalCrossentropy,
            .sparseCategoricalCrossentropy].map(\.rawValue)))
        // The optimizers issue 11 added are in optimizer_updates_more.json (OptimizerKindsTests) instead.
        let optimizers = optimizerCases.compactMap { $0.optimizer["name"]?.string }
        #expect(Set(optimizers) == ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    }

    @Test("outputs, loss and gradients match Keras in float64 and float32", arguments: forwardBackwardCases)
    func forwardAndBackwardMatchKeras(testCase: ForwardBackwardCase) throws {
        let loss = try #require(Loss(name: testCase.loss))
        try check(Double.self, testCase, loss: loss, reference: testCase.float64, rtol: 1e-12)
        try check(Float.self, testCase, loss: loss, reference: testCase.float32, rtol: 1e-6, floor: 1)
    }

    private func check<T: MLPScalar>(
        _: T.Type, _ testCase: ForwardBackwardCase, loss: Loss, reference: ForwardBackwardCase.Result, rtol: Double, floor: Double = 1e-3
    ) throws {
        let network: Network<T> = try network(inputWidth: testCase.inputWidth, layers: testCase.layers, weights: testCase.weights)
        let data = try Dataset(
            features: testCase.x.map { T($0) }, featureWidth: network.inputWidth,
            targets: testCase.targets.map { T($0) }, targetWidth: testCase.targetWidth)
        let ws = Workspace(network: network, capacity: data.count, targetWidth: data.targetWidth)
        ws.gather(data, order: nil, start: 0, rows: data.count)
        let value = network.lossAndGradients(ws, rows: data.count, loss: loss)
        let outputs = Array(ws.y[network.layers.count - 1].prefix(data.count * network.outputWidth))
        let label = "\(testCase.name) \(T.dtypeName)"
        expectClose(outputs, reference.outputs, rtol: rtol, floor: floor, "\(label) outputs")
        expectClose([value], [reference.loss], rtol: rtol, floor: floor, "\(label) loss")
        let expected = tensors(reference.gradients, for: network)
        for (p, parameter) in network.parameters.enumerated() {
            expectClose(Array(ws.gradients[p]), expected[p], rtol: rtol, floor: floor, "\(label) ∇\(network.name(of: parameter))")
        }
    }

    @Test("three steps match Keras's optimizers", arguments: optimizerCases)
    func optimizerStepsMatchKeras(testCase: OptimizerCase) throws {
        let name = testCase.name
        let loss = try #require(Loss(name: testCase.loss))
        let config = try optimizerConfig(testCase.optimizer)
        var network: Network<Float> = try network(
            inputWidth: testCase.inputWidth, layers: testCase.layers, weights: testCase.initialWeights)
        var optimizer = try Optimizer(config: config, network: network)
        let ws = Workspace(network: network, capacity: 8, targetWidth: testCase.targetWidth)

        for (step, (batch, expected)) in zip(testCase.batches, testCase.steps).enumerated() {
            let data = try Dataset(
                features: batch.x.map { Float($0) }, featureWidth: network.inputWidth,
                targets: batch.targets.map { Float($0) }, targetWidth: testCase.targetWidth)
            ws.gather(data, order: nil, start: 0, rows: data.count)
            let value = network.lossAndGradients(ws, rows: data.count, loss: loss)
            expectClose([value], [expected.loss], rtol: 1e-6, floor: 1, "\(name) step \(step + 1) loss")
            optimizer.apply(gradients: ws.gradients, of: ws.parameters, to: &network)
            let weights = tensors(expected.weights, for: network)
            for (p, parameter) in network.parameters.enumerated() {
                expectClose(network[parameter], weights[p], rtol: 1e-6, floor: 1, "\(name) step \(step + 1) \(network.name(of: parameter))")
            }
        }
        #expect(optimizer.state.iterations == testCase.finalIterations)
        #expect(Set(testCase.finalSlots.keys) == Set(config.slotNames), "\(name): slot names")
        for slot in optimizer.state.slots {
            let expected = try #require(testCase.finalSlots[slot.name], "\(name): slot \(slot.name)")
            for (p, values) in slot.values.enumerated() {
                expectClose(values, expected[p], rtol: 1e-6, floor: 1, "\(name) slot \(slot.name)[\(p)]")
            }
        }
    }
}
