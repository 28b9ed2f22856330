import Foundation
import Testing
@testable import MLPCore

/// fixtures/reference/torch_losses.json, written by fixtures/generate/generate_torch_losses.py with torch 2.15.0:
/// every torch loss mlpconv accepts by name, with torch's default reduction='mean', its value and its gradient with
/// respect to the predictions from torch.autograd, in float64 and (on the inputs rounded to float32) float32.
struct TorchLossCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Settings: Decodable, Sendable {
        let delta: Double?
        let beta: Double?
    }
    struct Result: Decodable, Sendable {
        let loss: Double
        let gradient: [Double]
    }
    let name: String
    /// torch's class name, and its `torch.nn.functional` name.
    let loss: String
    let functional: String
    let settings: Settings
    let rows: Int
    let width: Int
    let targetWidth: Int
    let predictions: [Double]
    let targets: [Double]
    let predictionsFloat32: [Double]
    let targetsFloat32: [Double]
    let float64: Result
    let float32: Result
    var testDescription: String { name }

    /// The loss `--loss NAME` with the case's torch settings describes (as the CLI builds it).
    var mlpLoss: Loss {
        get throws {
            let named = try #require(Loss(name: loss), "\(name): loss \(loss)")
            let kind = Loss.torchNames.first { $0.name == loss }?.kind ?? named.kind
            return try Loss(kind, fromLogits: named.fromLogits, delta: settings.delta ?? named.delta,
                            beta: settings.beta ?? named.beta)
        }
    }
}

let torchLossCases: [TorchLossCase] = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    struct File: Decodable { let cases: [TorchLossCase] }
    guard let data = try? Data(contentsOf: fixturesDirectory.appendingPathComponent("reference/torch_losses.json")) else {
        return []
    }
    return (try? decoder.decode(File.self, from: data))?.cases ?? []
}()

/// The loss and `∂loss/∂y` on predictions `y` and targets `t`, in `T`.
private func lossAndGradient<T: MLPScalar>(_ loss: Loss, _ testCase: TorchLossCase, _ y: [Double], _ t: [Double],
                                           as _: T.Type) -> (value: T, gradient: [T]) {
    let predictions = y.map { T($0) }, targets = t.map { T($0) }
    var gradient = [T](repeating: .nan, count: predictions.count)
    let value = predictions.withUnsafeBufferPointer { y in
        targets.withUnsafeBufferPointer { t in
            gradient.withUnsafeMutableBufferPointer { g in
                loss.evaluate(predictions: y.baseAddress!, targets: t.baseAddress!, rows: testCase.rows,
                              width: testCase.width, targetWidth: testCase.targetWidth, gradient: g.baseAddress!)
            }
        }
    }
    return (value, gradient)
}

struct TorchLossTests {
    @Test func everyTorchLossIsCovered() throws {
        #expect(Set(torchLossCases.map(\.loss)) == ["CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss",
                                                     "HuberLoss", "SmoothL1Loss", "NLLLoss"])
        let losses = try torchLossCases.map { try $0.mlpLoss }
        #expect(losses.contains { $0.kind == .smoothL1 && $0.beta != 1 })
        #expect(losses.contains { $0.kind == .huber && $0.delta != 1 })
        #expect(torchLossCases.contains { $0.loss == "CrossEntropyLoss" && $0.targetWidth == 1 })
        #expect(torchLossCases.contains { $0.loss == "CrossEntropyLoss" && $0.targetWidth == $0.width })
    }

    /// torch's names are Keras losses with settings wherever the definitions agree (the fixture comparison below
    /// checks that they do), and the torch-only kinds otherwise; the functional name is the class's loss.
    @Test func torchNamesMapOntoTheCoreLosses() throws {
        let expected: [(String, String, Loss)] = [
            ("CrossEntropyLoss", "cross_entropy", Loss(.crossEntropy)),
            ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", try Loss(.binaryCrossentropy, fromLogits: true)),
            ("MSELoss", "mse_loss", .meanSquaredError),
            ("L1Loss", "l1_loss", .meanAbsoluteError),
            ("HuberLoss", "huber_loss", .huber),
            ("SmoothL1Loss", "smooth_l1_loss", .huber),
            ("NLLLoss", "nll_loss", Loss(.nllLoss)),
        ]
        for (className, functional, loss) in expected {
            #expect(Loss(name: className) == loss, "\(className)")
            #expect(Loss(name: functional) == loss, "\(functional)")
            #expect(Loss.acceptedNames.contains(className) && Loss.acceptedNames.contains(functional))
        }
        // SmoothL1 with β = 1 is Huber with δ = 1, one loss with one stored form; other βs are their own kind.
        #expect(try Loss(.smoothL1, beta: 1) == .huber)
        let half = try Loss(.smoothL1, beta: 0.5)
        #expect(half.kind == .smoothL1 && half.name == "smooth_l1_loss" && half.description == "smooth_l1_loss (beta 0.5)")
        #expect(throws: LossError.self) { try Loss(.smoothL1, beta: 0) }
        #expect(throws: LossError.self) { try Loss(.smoothL1, beta: .infinity) }
        #expect(throws: LossError.self) { try Loss(.huber, beta: 0.5) }
        #expect(throws: LossError.self) { try Loss(.crossEntropy, fromLogits: true) }
        // Keras reads none of the torch-only kinds, nor torch's class names.
        #expect(LossKind.allCases.filter(\.isTorchOnly).allSatisfy { !LossKind.kerasNames.contains($0.rawValue) })
        #expect(LossKind(name: "BCEWithLogitsLoss") == nil)
    }

    /// cross_entropy takes a class-index column or a probability per output, as torch tells them apart by shape;
    /// Keras's sparse loss still takes only indices and its categorical loss only one column per output.
    @Test func targetWidthsFollowTorchAndKeepKerasMeanings() {
        let crossEntropy = Loss(.crossEntropy)
        #expect(crossEntropy.acceptsTargetWidth(1, outputWidth: 4) && crossEntropy.acceptsTargetWidth(4, outputWidth: 4))
        #expect(!crossEntropy.acceptsTargetWidth(3, outputWidth: 4))
        #expect(crossEntropy.takesClassIndices(targetWidth: 1, outputWidth: 4))
        #expect(!crossEntropy.takesClassIndices(targetWidth: 4, outputWidth: 4))
        // One output: the one column is the probability as given (both readings give the loss 0 anyway).
        #expect(!crossEntropy.takesClassIndices(targetWidth: 1, outputWidth: 1))
        #expect(Loss(.nllLoss).acceptsTargetWidth(1, outputWidth: 4) && !Loss(.nllLoss).acceptsTargetWidth(4, outputWidth: 4))
        #expect(!Loss.sparseCategoricalCrossentropy.acceptsTargetWidth(4, outputWidth: 4))
        #expect(!Loss.categoricalCrossentropy.acceptsTargetWidth(1, outputWidth: 4))
        #expect(crossEntropy.keepsLabelIndices && !Loss.categoricalCrossentropy.keepsLabelIndices)
    }

    /// float64: within a relative 1e-12 of each element (plus 1e-12 of the tensor's largest, for elements that
    /// are rounding noise next to it). float32: within a relative 1e-6 of each element, where elements below 1% of
    /// the tensor's largest are held to 1e-8 of that largest: softmax·Σt − t cancels there (measured: 1.7e-6 of
    /// an element of 8.7e-4 in cross_entropy_probabilities_extreme). torch sums in its own order and its exp/log
    /// differ from the C library's by an ulp, hence not bit for bit.
    @Test("value and gradient match torch in float64 and float32", arguments: torchLossCases)
    func matchesTorch(testCase: TorchLossCase) throws {
        let loss = try testCase.mlpLoss
        let double = lossAndGradient(loss, testCase, testCase.predictions, testCase.targets, as: Double.self)
        expectClose([double.value], [testCase.float64.loss], rtol: 1e-12, floor: 1e-12, "\(testCase.name) float64 loss")
        expectClose(double.gradient, testCase.float64.gradient, rtol: 1e-12, floor: 1e-12, "\(testCase.name) float64 ∇y")

        let single = lossAndGradient(loss, testCase, testCase.predictionsFloat32, testCase.targetsFloat32, as: Float.self)
        expectClose([single.value], [testCase.float32.loss], rtol: 1e-6, floor: 1e-6, "\(testCase.name) float32 loss")
        expectClose(single.gradient, testCase.float32.gradient, rtol: 1e-6, floor: 1e-2, "\(testCase.name) float32 ∇y")
    }

    /// The gradient against four-point differences of the loss itself, in float64, to 1e-7 of the gradient's
    /// scale. The fixtures' kinks are checked too: L1's symmetric difference at a zero residual is 0, torch's
    /// sign(0); at |e| = δ or β Huber's and SmoothL1's derivative is continuous but their curvature c (1/N, or
    /// 1/(N·β), over N elements) drops to 0, which costs the stencil c·ε/6 (measured), so there the bound is c·ε/4.
    @Test("gradient matches finite differences of the loss", arguments: torchLossCases)
    func matchesFiniteDifferences(testCase: TorchLossCase) throws {
        let loss = try testCase.mlpLoss
        let analytic = lossAndGradient(loss, testCase, testCase.predictions, testCase.targets, as: Double.self).gradient
        let epsilon = 1e-4
        let scale = analytic.map(abs).max() ?? 0
        let edge = loss.kind == .smoothL1 ? loss.beta : loss.delta
        let curvature = 1 / Double(testCase.rows * testCase.width) / (loss.kind == .smoothL1 ? loss.beta : 1)
        func atSwitch(_ index: Int) -> Bool {
            (loss.kind == .huber || loss.kind == .smoothL1)
                && abs(abs(testCase.predictions[index] - testCase.targets[index]) - edge) < 2 * epsilon
        }
        #expect(loss.kind != .huber && loss.kind != .smoothL1 || testCase.predictions.indices.contains(where: atSwitch),
                "\(testCase.name) should have a residual at the switch")
        for index in testCase.predictions.indices {
            func shifted(_ steps: Double) -> Double {
                var y = testCase.predictions
                y[index] += steps * epsilon
                return lossAndGradient(loss, testCase, y, testCase.targets, as: Double.self).value
            }
            let numeric = (-shifted(2) + 8 * shifted(1) - 8 * shifted(-1) + shifted(-2)) / (12 * epsilon)
            let bound = atSwitch(index) ? curvature * epsilon / 4 : 1e-7 * max(scale, 1)
            #expect(abs(numeric - analytic[index]) <= bound,
                    "\(testCase.name) [\(index)]: analytic \(analytic[index]), numeric \(numeric)")
        }
    }

    /// Training sees class indices and their one-hot probabilities as the same targets: one step of cross_entropy
    /// gives bit-identical weights either way in float64 up to the summation of zeros.
    @Test func indicesAndOneHotProbabilitiesTrainAlike() throws {
        var random = RandomGenerator(seed: 12)
        let network = try Network<Double>(inputWidth: 3, layers: [LayerSpec(4, .tanh), LayerSpec(3, .linear)],
                                          random: &random)
        let features = (0..<15).map { _ in 2 * random.nextUnitDouble() - 1 }
        let labels = (0..<5).map { _ in Double(random.nextInt(below: 3)) }
        let oneHot = labels.flatMap { label in (0..<3).map { Double($0) == label ? 1.0 : 0.0 } }
        let byIndex = try Dataset(features: features, featureWidth: 3, targets: labels, targetWidth: 1)
        let byProbability = try Dataset(features: features, featureWidth: 3, targets: oneHot, targetWidth: 3)
        func gradients(_ data: Dataset<Double>) -> (Double, [[Double]]) {
            let ws = Workspace(network: network, capacity: 5, targetWidth: data.targetWidth)
            ws.gather(data, order: nil, start: 0, rows: 5)
            let value = network.lossAndGradients(ws, rows: 5, loss: Loss(.crossEntropy))
            return (value, ws.gradients.map(Array.init))
        }
        let (indexLoss, indexGradients) = gradients(byIndex)
        let (probabilityLoss, probabilityGradients) = gradients(byProbability)
        #expect(abs(indexLoss - probabilityLoss) <= 1e-15 * indexLoss)
        for (a, b) in zip(indexGradients, probabilityGradients) { expectClose(a, b, rtol: 1e-14, "∇") }
    }
}
