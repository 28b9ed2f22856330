import Testing
@testable import MLPCore

/// Every loss with its settings through a network: backpropagation against four-point differences in float64, with
/// the output activation each loss is used with and targets in its range.
private struct LossSetup: Sendable, CustomTestStringConvertible {
    enum Targets: Sendable { case normal, awayFromZero, positive, counts, distributions, signs, binary, oneHot, labels }
    let loss: Loss
    let output: Activation
    let targets: Targets
    var testDescription: String { "\(loss) after \(output.name)" }

    init(_ loss: Loss, _ output: Activation, _ targets: Targets) {
        (self.loss, self.output, self.targets) = (loss, output, targets)
    }
}

private func setup(_ kind: LossKind, fromLogits: Bool = false, labelSmoothing: Double = 0, delta: Double = 1,
                   beta: Double = 1, _ output: Activation, _ targets: LossSetup.Targets) -> LossSetup {
    // The settings below are valid by construction; a mistake would show as a failing test, not a crash.
    LossSetup((try? Loss(kind, fromLogits: fromLogits, labelSmoothing: labelSmoothing, delta: delta, beta: beta))
              ?? Loss(kind), output, targets)
}

private let setups: [LossSetup] = [
    setup(.meanAbsolutePercentageError, .linear, .awayFromZero),
    setup(.meanSquaredLogarithmicError, .softplus, .positive),
    setup(.huber, delta: 0.3, .linear, .normal),
    setup(.huber, delta: 2.5, .linear, .normal),
    setup(.logCosh, .linear, .normal),
    setup(.poisson, .softplus, .counts),
    setup(.poisson, .exponential, .counts),
    setup(.klDivergence, .softmax, .distributions),
    setup(.hinge, .linear, .signs),
    setup(.hinge, .tanh, .binary),
    setup(.squaredHinge, .linear, .signs),
    setup(.squaredHinge, .linear, .binary),
    setup(.categoricalHinge, .linear, .oneHot),
    setup(.cosineSimilarity, .linear, .normal),
    setup(.binaryCrossentropy, labelSmoothing: 0.1, .sigmoid, .binary),
    setup(.binaryCrossentropy, fromLogits: true, .linear, .binary),
    setup(.binaryCrossentropy, fromLogits: true, labelSmoothing: 0.2, .linear, .binary),
    setup(.categoricalCrossentropy, labelSmoothing: 0.1, .softmax, .oneHot),
    setup(.categoricalCrossentropy, fromLogits: true, .linear, .oneHot),
    setup(.categoricalCrossentropy, fromLogits: true, labelSmoothing: 0.15, .linear, .oneHot),
    setup(.categoricalCrossentropy, fromLogits: true, .linear, .distributions),
    setup(.sparseCategoricalCrossentropy, fromLogits: true, .linear, .labels),
    setup(.crossEntropy, .linear, .labels),
    setup(.crossEntropy, .linear, .distributions),
    setup(.nllLoss, .logSoftmax, .labels),
    setup(.smoothL1, beta: 0.3, .linear, .normal),
    setup(.smoothL1, beta: 2.5, .linear, .normal),
]

private func targets(_ kind: LossSetup.Targets, rows: Int, width: Int, random: inout RandomGenerator) -> [Double] {
    var values: [Double] = []
    for _ in 0..<rows {
        switch kind {
        case .normal: values += (0..<width).map { _ in random.nextStandardNormal() }
        case .awayFromZero: values += (0..<width).map { _ in (0.2 + random.nextUnitDouble()) * (random.nextInt(below: 2) == 0 ? -1 : 1) }
        case .positive: values += (0..<width).map { _ in 0.05 + 2 * random.nextUnitDouble() }
        case .counts: values += (0..<width).map { _ in Double(random.nextInt(below: 5)) }
        case .distributions:
            let raw = (0..<width).map { _ in 0.05 + random.nextUnitDouble() }
            let sum = raw.reduce(0, +)
            values += raw.map { $0 / sum }
        case .signs: values += (0..<width).map { _ in random.nextInt(below: 2) == 0 ? -1 : 1 }
        case .binary: values += (0..<width).map { _ in Double(random.nextInt(below: 2)) }
        case .oneHot:
            let label = random.nextInt(below: width)
            values += (0..<width).map { $0 == label ? 1 : 0 }
        case .labels: values.append(Double(random.nextInt(below: width)))
        }
    }
    return values
}

/// How far the outputs are from a point where the loss has no derivative (∞ for smooth losses).
private func distanceToLossKinks(_ loss: Loss, outputs y: [Double], targets t: [Double], width: Int) -> Double {
    var distance = Double.infinity
    switch loss.kind {
    case .meanAbsolutePercentageError:
        for (a, b) in zip(y, t) { distance = min(distance, abs(a - b)) }
    case .huber:
        for (a, b) in zip(y, t) { distance = min(distance, abs(abs(a - b) - loss.delta)) }
    case .smoothL1:
        for (a, b) in zip(y, t) { distance = min(distance, abs(abs(a - b) - loss.beta)) }
    case .hinge, .squaredHinge:
        let binary = t.allSatisfy { $0 == 0 || $0 == 1 }
        for (a, b) in zip(y, t) { distance = min(distance, abs(1 - (binary ? 2 * b - 1 : b) * a)) }
    case .categoricalHinge:
        for r in 0..<y.count / width {
            let row = r * width..<(r + 1) * width
            let scores = row.map { (1 - t[$0]) * y[$0] }.sorted()
            let value = (scores.last ?? 0) - row.map { t[$0] * y[$0] }.reduce(0, +) + 1
            distance = min(distance, (scores.last ?? 0) - scores[scores.count - 2], abs(value))
        }
    default:
        break
    }
    return distance
}

struct LossGradientCheckTests {
    @Test("backprop of each loss matches four-point differences in float64", arguments: setups)
    fileprivate func backpropMatchesFiniteDifferences(setup: LossSetup) throws {
        var random = RandomGenerator(seed: 77)
        let rows = 4, width = 3
        for attempt in 1...50 {
            let network = try Network<Double>(
                inputWidth: 3, layers: [LayerSpec(5, .tanh), LayerSpec(width, setup.output)], random: &random)
            let features = (0..<rows * 3).map { _ in 2 * random.nextUnitDouble() - 1 }
            let values = targets(setup.targets, rows: rows, width: width, random: &random)
            let data = try Dataset(features: features, featureWidth: 3, targets: values,
                                   targetWidth: setup.targets == .labels ? 1 : setup.loss.targetWidth(outputWidth: width))
            let outputs = try network.predict(features)
            // Redraw until the outputs keep clear of the loss's kinks, where the derivative is undefined.
            guard distanceToLossKinks(setup.loss, outputs: outputs, targets: values, width: width) > 1e-2 else {
                #expect(attempt < 50, "could not find a point away from the loss's kinks")
                continue
            }
            let report = try network.gradientCheck(
                loss: setup.loss, data: data, epsilon: 1e-3, scheme: .fourPoint, tiny: 1e-6, random: &random)
            for tensor in report.tensors {
                #expect(tensor.maxRelativeError <= 1e-6,
                        "\(setup.testDescription) \(tensor.name): rel \(tensor.maxRelativeError): \(tensor.analytic) vs \(tensor.numeric)")
            }
            return
        }
    }
}
