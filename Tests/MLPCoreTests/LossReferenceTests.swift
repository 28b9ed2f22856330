import Foundation
import Testing
@testable import MLPCore

/// fixtures/reference/losses.json, written by fixtures/generate/generate_keras_losses.py with Keras 3.15.1 (JAX):
/// every loss with its settings, on predictions and targets in the loss's own range, Keras's value and its gradient
/// with respect to the predictions (jax.grad of the keras.losses object) in float64 and float32.
struct LossCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Spec: Decodable, Sendable {
        let name: String
        let fromLogits: Bool?
        let labelSmoothing: Double?
        let delta: Double?
    }
    struct Result: Decodable, Sendable {
        let loss: Double
        let gradient: [Double]
    }
    let name: String
    let loss: Spec
    let rows: Int
    let width: Int
    let targetWidth: Int
    let predictions: [Double]
    let targets: [Double]
    let float64: Result
    let float32: Result
    var testDescription: String { name }

    var mlpLoss: Loss {
        get throws {
            let kind = try #require(LossKind(name: loss.name), "\(name): loss \(loss.name)")
            return try Loss(kind, fromLogits: loss.fromLogits ?? false, labelSmoothing: loss.labelSmoothing ?? 0,
                            delta: loss.delta ?? Loss.defaultDelta)
        }
    }
}

let lossCases: [LossCase] = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    struct File: Decodable { let cases: [LossCase] }
    guard let data = try? Data(contentsOf: fixturesDirectory.appendingPathComponent("reference/losses.json")) else { return [] }
    return (try? decoder.decode(File.self, from: data))?.cases ?? []
}()

/// The loss and `∂loss/∂y` of `loss` on a case's predictions and targets, in `T`.
func lossAndGradient<T: MLPScalar>(_ loss: Loss, _ testCase: LossCase, as _: T.Type, at predictions: [Double]? = nil)
    -> (value: T, gradient: [T]) {
    let y = (predictions ?? testCase.predictions).map { T($0) }
    let t = testCase.targets.map { T($0) }
    var gradient = [T](repeating: .nan, count: y.count)
    let value = y.withUnsafeBufferPointer { y in
        t.withUnsafeBufferPointer { t in
            gradient.withUnsafeMutableBufferPointer { g in
                loss.evaluate(predictions: y.baseAddress!, targets: t.baseAddress!, rows: testCase.rows,
                              width: testCase.width, targetWidth: testCase.targetWidth, gradient: g.baseAddress!)
            }
        }
    }
    return (value, gradient)
}

/// The largest `|a − e|` over a tensor, in units of `ulp(scale)` of `T` (the scale defaults to `max|e|`): the "few
/// ulps of the tensor's scale" a float32 result that rounds differently from XLA's may be off by.
func scaledUlps<T: MLPScalar>(_ actual: [T], _ expected: [Double], scale: Double? = nil) -> Double {
    let ulp = Double(T(scale ?? expected.map(abs).max() ?? 0).ulp)
    return zip(actual, expected).map { abs(Double($0) - $1) / ulp }.max() ?? 0
}

struct LossReferenceTests {
    @Test func everyLossAndSettingIsCovered() throws {
        #expect(lossCases.count >= 30)
        #expect(Set(lossCases.map(\.loss.name)) == Set(LossKind.allCases.filter { !$0.isTorchOnly }.map(\.rawValue)))
        let losses = try lossCases.map { try $0.mlpLoss }
        #expect(losses.contains { $0.kind == .binaryCrossentropy && $0.fromLogits && $0.labelSmoothing > 0 })
        #expect(losses.contains { $0.kind == .categoricalCrossentropy && $0.fromLogits && $0.labelSmoothing > 0 })
        #expect(losses.contains { $0.kind == .sparseCategoricalCrossentropy && $0.fromLogits })
        #expect(losses.contains { $0.kind == .huber && $0.delta != 1 })
    }

    /// float64: within a relative 1e-12 of the tensor's scale. float32: within 4 ulps of the tensor's scale (XLA
    /// fuses and orders the sums differently, and its exp/log differ from the C library's by an ulp). The scale of
    /// cosine similarity's value is 1, the bound of each row's term: near 0 it is their cancellation.
    @Test("value and gradient match Keras in float64 and float32", arguments: lossCases)
    func matchesKeras(testCase: LossCase) throws {
        let loss = try testCase.mlpLoss
        let double = lossAndGradient(loss, testCase, as: Double.self)
        expectClose([double.value], [testCase.float64.loss], rtol: 1e-12, floor: 1, "\(testCase.name) float64 loss")
        expectClose(double.gradient, testCase.float64.gradient, rtol: 1e-12, floor: 1, "\(testCase.name) float64 ∇y")

        let single = lossAndGradient(loss, testCase, as: Float.self)
        let valueScale = loss.kind == .cosineSimilarity ? max(abs(testCase.float32.loss), 1) : abs(testCase.float32.loss)
        let valueUlps = scaledUlps([single.value], [testCase.float32.loss], scale: valueScale)
        let gradientUlps = scaledUlps(single.gradient, testCase.float32.gradient)
        #expect(valueUlps <= 4, "\(testCase.name) float32 loss: \(single.value) vs \(testCase.float32.loss)")
        #expect(gradientUlps <= 4, "\(testCase.name) float32 ∇y: \(gradientUlps) ulps")
    }

    /// The gradient against four-point differences of the loss itself, in float64 (the Keras-independent check).
    @Test("gradient matches finite differences of the loss", arguments: lossCases)
    func matchesFiniteDifferences(testCase: LossCase) throws {
        let loss = try testCase.mlpLoss
        let analytic = lossAndGradient(loss, testCase, as: Double.self).gradient
        let epsilon = 1e-4
        let scale = analytic.map(abs).max() ?? 0
        for index in testCase.predictions.indices {
            func shifted(_ steps: Double) -> Double {
                var y = testCase.predictions
                y[index] += steps * epsilon
                return lossAndGradient(loss, testCase, as: Double.self, at: y).value
            }
            let numeric = (-shifted(2) + 8 * shifted(1) - 8 * shifted(-1) + shifted(-2)) / (12 * epsilon)
            #expect(abs(numeric - analytic[index]) <= 1e-7 * max(scale, 1),
                    "\(testCase.name) [\(index)]: analytic \(analytic[index]), numeric \(numeric)")
        }
    }
}
