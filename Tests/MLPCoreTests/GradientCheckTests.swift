import Testing
@testable import MLPCore

/// Output activation and loss pairs that are used together in practice.
let outputPairs: [(Activation, Loss)] = [
    (.softmax, .categoricalCrossentropy), (.softmax, .sparseCategoricalCrossentropy),
    (.sigmoid, .binaryCrossentropy), (.linear, .meanSquaredError), (.linear, .meanAbsoluteError),
    (.linear, .huber), (.linear, .halfSquaredError), (.tanh, .meanSquaredError),
]

/// Every activation as the output with the two losses that accept any output, and every activation as a hidden
/// layer under each output pair.
let gradientCases: [(hidden: Activation, output: Activation, loss: Loss)] =
    Activation.allCases.flatMap { hidden in outputPairs.map { (hidden, $0.0, $0.1) } }
    + Activation.allCases.flatMap { output in [(Activation.tanh, output, Loss.meanSquaredError), (.tanh, output, .halfSquaredError)] }

struct GradientCheckTests {
    @Test("backprop matches central differences in Float64", arguments: gradientCases.indices)
    func backpropMatchesFiniteDifferences(caseIndex: Int) throws {
        let (hidden, output, loss) = gradientCases[caseIndex]
        var random = RandomGenerator(seed: 1000 + UInt64(caseIndex))
        // Redraw until no pre-activation sits within 1e-3 of a kink, where the derivative is undefined.
        var attempt = 0
        while true {
            attempt += 1
            let network = try Network<Double>(
                inputWidth: 3, layers: [LayerSpec(5, hidden), LayerSpec(4, hidden), LayerSpec(3, output)], random: &random)
            let data = randomDataset(inputWidth: 3, outputWidth: 3, rows: 4, loss: loss, random: &random)
            if distanceToKinks(network, data, loss: loss) < 1e-2 {
                #expect(attempt < 50, "could not find a point away from kinks")
                if attempt < 50 { continue } else { return }
            }
            // Entries that are exactly zero (a dead unit, balanced MAE signs) come out of the differences as
            // ~1e-13 of rounding; the 1e-6 floor turns those into a relative 1e-7 instead of a false alarm,
            // while any real error at or above 1e-12 in absolute terms still shows.
            let report = try network.gradientCheck(
                loss: loss, data: data, epsilon: 1e-3, scheme: .fourPoint, tiny: 1e-6, random: &random)
            #expect(report.tensors.count == 6)
            for tensor in report.tensors {
                #expect(tensor.checkedElements == tensor.shape.reduce(1, *))
                #expect(tensor.maxRelativeError <= 1e-6,
                        "\(hidden)/\(output)/\(loss) \(tensor.name): rel \(tensor.maxRelativeError) at \(tensor.worstIndex): \(tensor.analytic) vs \(tensor.numeric)")
            }
            return
        }
    }

    /// The linear activation hands back ∇y as ∇z instead of copying it; a standalone linear Activation layer in
    /// the middle must still pass ∇y down as its ∇x, so its network has exactly the gradients of the same network
    /// without it.
    @Test func standaloneLinearActivationPassesTheGradientDown() throws {
        var random = RandomGenerator(seed: 77)
        let plain = try Network<Double>(
            inputWidth: 3, layers: [LayerSpec(5, .tanh), LayerSpec(4, .linear), LayerSpec(3, .linear)], random: &random)
        let layers = plain.layers
        let withIdentity = try Network<Double>(inputWidth: 3, layers: [
            layers[0], layers[1], try Layer(name: "identity", kind: .activation(.linear), inputWidth: 4, weights: []), layers[2],
        ])
        let data = randomDataset(inputWidth: 3, outputWidth: 3, rows: 4, loss: .meanSquaredError, random: &random)
        func gradients(_ network: Network<Double>) -> [[Double]] {
            let ws = Workspace(network: network, capacity: 4, targetWidth: 3)
            ws.gather(data, order: nil, start: 0, rows: 4)
            _ = network.lossAndGradients(ws, rows: 4, loss: .meanSquaredError)
            return ws.gradients.map(Array.init)
        }
        #expect(gradients(withIdentity) == gradients(plain))
        let report = try withIdentity.gradientCheck(
            loss: .meanSquaredError, data: data, epsilon: 1e-3, scheme: .fourPoint, tiny: 1e-6, random: &random)
        for tensor in report.tensors { #expect(tensor.maxRelativeError <= 1e-6, "\(tensor.name)") }
    }

    @Test func plainCentralDifferencesAgreeToTheNotesPrecision() throws {
        // docs/numerics.md, the gradient check: ε ≈ 1e-6 central differences agree to a relative error near 1e-8
        // on smooth activations.
        var random = RandomGenerator(seed: 7)
        let network = try Network<Double>(inputWidth: 2, layers: [LayerSpec(3, .tanh), LayerSpec(2, .linear)], random: &random)
        let data = randomDataset(inputWidth: 2, outputWidth: 2, rows: 3, loss: .halfSquaredError, random: &random)
        let report = try network.gradientCheck(loss: .halfSquaredError, data: data, epsilon: 1e-6, tiny: 1e-4, random: &random)
        #expect(report.maxRelativeError < 1e-7)
        #expect(report.tensors.map(\.name) == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"])
        #expect(report.tensors.map(\.shape) == [[2, 3], [3], [3, 2], [2]])
    }

    @Test func samplingChecksTheRequestedNumberOfElements() throws {
        var random = RandomGenerator(seed: 8)
        let network = try Network<Float>(inputWidth: 6, layers: [LayerSpec(5, .sigmoid), LayerSpec(2, .softmax)], random: &random)
        let data = randomDataset(inputWidth: 6, outputWidth: 2, rows: 4, loss: .categoricalCrossentropy, random: &random)
        let floatData = try Dataset(features: data.features.map(Float.init), featureWidth: 6,
                                    targets: data.targets.map(Float.init), targetWidth: 2)
        let report = try network.gradientCheck(
            loss: .categoricalCrossentropy, data: floatData, epsilon: 1e-3, scheme: .fourPoint, tiny: 1e-6,
            maxElementsPerTensor: 4, random: &random)
        #expect(report.tensors.map(\.checkedElements) == [4, 4, 4, 2])
        #expect(report.maxRelativeError < 1e-6)
    }

    @Test func disagreementAtAKinkIsReported() throws {
        // relu′(0) is taken as 0 by backprop, while central differences straddling 0 see slope ½: the report must
        // show that disagreement rather than average it away.
        let hidden = try Layer<Double>.dense(name: "hidden", inputWidth: 1, units: 1, activation: .relu, kernel: [1], bias: [0])
        let output = try Layer<Double>.dense(name: "out", inputWidth: 1, units: 1, activation: .linear, kernel: [1], bias: [0])
        let network = try Network(inputWidth: 1, layers: [hidden, output])
        let data = try Dataset<Double>(features: [0], featureWidth: 1, targets: [-1], targetWidth: 1)
        var random = RandomGenerator(seed: 1)
        let report = try network.gradientCheck(loss: .halfSquaredError, data: data, random: &random)
        let bias = try #require(report.tensors.first { $0.name == "hidden/bias" })
        #expect(bias.analytic == 0)
        #expect(abs(bias.numeric - 0.5) < 1e-6)
        #expect(bias.maxRelativeError > 0.99)
    }
}
