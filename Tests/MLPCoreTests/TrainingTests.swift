import TestSupport
import Foundation
import Testing
@testable import MLPCore

/// Optimizer configurations that exercise every slot layout.
let determinismOptimizers: [OptimizerConfig] = {
    var sgd = OptimizerConfig(.sgd, learningRate: 0.05)
    sgd.momentum = 0.9
    sgd.nesterov = true
    var adam = OptimizerConfig(.adam, learningRate: 0.01)
    adam.amsgrad = true
    adam.clipnorm = 1
    var rmsprop = OptimizerConfig(.rmsprop, learningRate: 0.01)
    rmsprop.centered = true
    rmsprop.momentum = 0.5
    var adamw = OptimizerConfig(.adamw, learningRate: 0.01)
    adamw.globalClipnorm = 0.5
    var adagrad = OptimizerConfig(.adagrad, learningRate: 0.05)
    adagrad.clipvalue = 0.1
    return [sgd, adam, rmsprop, adamw, adagrad, OptimizerConfig(.sgd)]
}()

/// A small classification problem: label = which of three centres a point is nearest to.
func blobs(count: Int, seed: UInt64) -> Dataset<Float> {
    var random = RandomGenerator(seed: seed)
    let centres: [[Double]] = [[1, 0, 0, 0.5], [0, 1, 0, -0.5], [0, 0, 1, 0]]
    var features: [Float] = [], targets: [Float] = []
    for _ in 0..<count {
        let label = random.nextInt(below: 3)
        features += centres[label].map { Float($0 + 0.3 * random.nextStandardNormal()) }
        targets += (0..<3).map { $0 == label ? 1 : 0 }
    }
    return try! Dataset(features: features, featureWidth: 4, targets: targets, targetWidth: 3)
}

func smallModel(_ optimizer: OptimizerConfig, seed: UInt64 = 11) throws -> Model<Float> {
    try Model(inputWidth: 4, layers: [LayerSpec(8, .relu), LayerSpec(6, .tanh), LayerSpec(3, .softmax)],
              loss: .categoricalCrossentropy, optimizer: optimizer, seed: seed)
}

/// Rebuilds a model from copies of its saved parts only — what a file round trip does.
func restore(_ saved: Model<Float>) throws -> Model<Float> {
    let layers = try saved.network.layers.map { layer in
        try Layer<Float>.dense(
            name: layer.name, inputWidth: layer.inputWidth, units: layer.units, activation: layer.activation,
            useBias: layer.useBias, kernel: Array(layer.kernel), bias: Array(layer.bias))
    }
    let network = try Network(inputWidth: saved.network.inputWidth, layers: layers)
    let state = OptimizerState<Float>(
        iterations: saved.training.optimizer.state.iterations,
        slots: saved.training.optimizer.state.slots.map { .init(name: $0.name, values: $0.values.map { Array($0) }) })
    let optimizer = try Optimizer(config: saved.training.optimizer.config, state: state, network: network)
    let random = try #require(RandomState(words: saved.training.random.wordArray))
    return try Model(network: network, training: TrainingState(
        loss: saved.training.loss, optimizer: optimizer, epochsCompleted: saved.training.epochsCompleted,
        random: random, history: saved.training.history))
}

struct TrainingTests {
    @Test("same seed, same bits", arguments: determinismOptimizers.indices)
    func sameSeedGivesBitIdenticalWeights(index: Int) throws {
        let data = blobs(count: 100, seed: 1)
        let options = FitOptions(epochs: 3, batchSize: 16, validationSplit: 0.2)
        var a = try smallModel(determinismOptimizers[index])
        var b = try smallModel(determinismOptimizers[index])
        try a.fit(data, options: options)
        try b.fit(data, options: options)
        #expect(bits(a.network) == bits(b.network))
        #expect(bits(a.training.optimizer.state) == bits(b.training.optimizer.state))
        #expect(a.training.history == b.training.history)
        // A different seed is a different run.
        var c = try smallModel(determinismOptimizers[index], seed: 12)
        try c.fit(data, options: options)
        #expect(bits(a.network) != bits(c.network))
    }

    @Test("two epochs ≡ one, save, restore, one more", arguments: determinismOptimizers.indices)
    func resumingIsBitIdentical(index: Int) throws {
        let data = blobs(count: 90, seed: 2)
        for shuffle in [true, false] {
            let options = FitOptions(epochs: 1, batchSize: 16, shuffle: shuffle, validationSplit: 0.1)
            var straight = try smallModel(determinismOptimizers[index])
            var twoEpochs = options
            twoEpochs.epochs = 2
            try straight.fit(data, options: twoEpochs)

            var first = try smallModel(determinismOptimizers[index])
            try first.fit(data, options: options)
            var resumed = try restore(first)
            try resumed.fit(data, options: options)

            #expect(bits(straight.network) == bits(resumed.network), "shuffle \(shuffle)")
            #expect(bits(straight.training.optimizer.state) == bits(resumed.training.optimizer.state))
            #expect(straight.training.optimizer.state.iterations == resumed.training.optimizer.state.iterations)
            #expect(straight.training.random == resumed.training.random)
            #expect(straight.training.history == resumed.training.history)
            #expect(resumed.training.epochsCompleted == 2)
            #expect(resumed.training.history.map(\.epoch) == [1, 2])
        }
    }

    @Test func learnsASeparableProblem() throws {
        let data = blobs(count: 300, seed: 3)
        var model = try smallModel(OptimizerConfig(.adam, learningRate: 0.01))
        let before = try model.evaluate(data)
        var events = 0
        let records = try model.fit(data, options: FitOptions(epochs: 20, batchSize: 32, validationSplit: 0.2)) { event in
            if case .epochEnd = event { events += 1 }
        }
        let after = try model.evaluate(data)
        #expect(records.count == 20 && events == 20)
        let lossBefore = try #require(before["loss"]), lossAfter = try #require(after["loss"])
        #expect(lossAfter < lossBefore / 3)
        #expect(try #require(after["accuracy"]) > 0.9)
        #expect(try #require(records.last?.metrics["val_accuracy"]) > 0.85)
        #expect(records.last?.orderedKeys == ["loss", "accuracy", "val_loss", "val_accuracy"])
        // 240 training rows in batches of 32: 8 steps per epoch.
        #expect(model.training.optimizer.state.iterations == 160)
    }

    @Test func digitsFromTheBundledDatasetTrainAboveNinetyPercent() throws {
        let text = try String(contentsOf: fixturesDirectory.appendingPathComponent("data/digits.csv"), encoding: .utf8)
        var features: [Float] = [], targets: [Float] = []
        for line in text.split(separator: "\n").dropFirst() {
            let cells = line.split(separator: ",").compactMap { Float($0) }
            try #require(cells.count == 65)
            features += cells[0..<64]
            targets.append(cells[64])
        }
        let data = try Dataset(features: features, featureWidth: 64, targets: targets, targetWidth: 1)
        #expect(data.count == 1797)
        var model = try Model<Float>(
            inputWidth: 64, layers: [LayerSpec(32, .relu), LayerSpec(10, .softmax)],
            loss: .sparseCategoricalCrossentropy, optimizer: OptimizerConfig(.adam, learningRate: 0.01), seed: 1)
        let records = try model.fit(data, options: FitOptions(epochs: 10, batchSize: 32, validationSplit: 0.2))
        #expect(try #require(records.last?.metrics["val_accuracy"]) > 0.9)
    }

    @Test func evaluateAndPredictAgree() throws {
        let data = blobs(count: 37, seed: 4)
        let model = try smallModel(OptimizerConfig(.sgd))
        let predictions = try model.predict(data.features, batchSize: 5)
        #expect(predictions.count == 37 * 3)
        // Softmax rows sum to one.
        for row in 0..<37 {
            let sum = predictions[row * 3..<row * 3 + 3].reduce(0, +)
            #expect(abs(sum - 1) < 1e-5)
        }
        // Loss from predictions by hand equals evaluate's, whatever the batch size.
        var expected = 0.0
        for row in 0..<37 {
            for j in 0..<3 where data.targets[row * 3 + j] == 1 { expected -= Double(log(predictions[row * 3 + j])) }
        }
        expected /= 37
        for batchSize in [1, 5, 37, 100] {
            let metrics = try model.evaluate(data, batchSize: batchSize)
            #expect(abs(try #require(metrics["loss"]) - expected) < 1e-5)
        }
    }

    /// A batch-1 prediction takes the one-row kernel (split by columns across threads for large layers, with a
    /// partial last block); a batch of rows takes BLAS's GEMM. Both must agree with a float64 sum, for every row.
    @Test func oneRowPredictionsAgreeWithBatchedOnesAndFloat64() throws {
        var random = RandomGenerator(seed: 11)
        let network = try Network<Float>(inputWidth: 1030, layers: [LayerSpec(2100, .relu), LayerSpec(3, .linear)],
                                         random: &random)
        let rows = 4
        // Large enough to be split across two threads, with a partial last column block (2100 = 16·128 + 52).
        #expect(1030 * 2100 >= 1 << 21)
        let features = (0..<(rows * 1030)).map { _ in Float(random.nextUnitDouble() * 2 - 1) }
        let savedThreads = BLAS.threads
        BLAS.threads = 2
        defer { BLAS.threads = savedThreads }
        let batched = try network.predict(features, batchSize: rows)
        let single = try network.predict(features, batchSize: 1)
        BLAS.threads = 1
        let singleOneThread = try network.predict(features, batchSize: 1)
        #expect(single == singleOneThread, "the split changes nothing")
        for row in 0..<rows {
            var hidden = [Double](repeating: 0, count: 2100)
            for j in 0..<2100 {
                var sum = Double(network.layers[0].weights[1][j])
                for p in 0..<1030 { sum += Double(features[row * 1030 + p]) * Double(network.layers[0].weights[0][p * 2100 + j]) }
                hidden[j] = max(sum, 0)
            }
            for o in 0..<3 {
                var sum = Double(network.layers[1].weights[1][o])
                for j in 0..<2100 { sum += hidden[j] * Double(network.layers[1].weights[0][j * 3 + o]) }
                #expect(abs(Double(single[row * 3 + o]) - sum) <= 1e-4 * max(1, abs(sum)), "row \(row) output \(o)")
                #expect(abs(Double(batched[row * 3 + o]) - sum) <= 1e-4 * max(1, abs(sum)), "row \(row) output \(o)")
            }
        }
    }

    @Test func badInputsAreRefusedWithReasons() throws {
        var model = try smallModel(OptimizerConfig(.adam))
        let data = blobs(count: 10, seed: 5)
        #expect(throws: TrainingError.invalidOption("batch size must be positive, got 0")) {
            try model.fit(data, options: FitOptions(batchSize: 0))
        }
        #expect(throws: TrainingError.invalidOption("validation split must be in [0, 1), got 1.0")) {
            try model.fit(data, options: FitOptions(validationSplit: 1))
        }
        let narrow = try Dataset<Float>(features: [1, 2, 3], featureWidth: 3, targets: [1, 0, 0], targetWidth: 3)
        #expect(throws: TrainingError.dataMismatch("data has 3 feature columns, the model takes 4 inputs")) {
            try model.fit(narrow, options: FitOptions())
        }
        var sparse = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .softmax)],
                                      loss: .sparseCategoricalCrossentropy, optimizer: OptimizerConfig(.sgd), seed: 1)
        let badLabels = try Dataset<Float>(features: [0, 0, 1, 1], featureWidth: 2, targets: [1, 3], targetWidth: 1)
        #expect(throws: TrainingError.invalidLabel(row: 1, value: 3, classes: 3)) {
            try sparse.fit(badLabels, options: FitOptions())
        }
        let fractional = try Dataset<Float>(features: [0, 0], featureWidth: 2, targets: [0.5], targetWidth: 1)
        #expect(throws: TrainingError.invalidLabel(row: 0, value: 0.5, classes: 3)) {
            try sparse.evaluate(fractional)
        }
        #expect(throws: TrainingError.invalidOption("no rows left to train on (10 rows, validation split 0.95)")) {
            try model.fit(data, options: FitOptions(validationSplit: 0.95))
        }
    }

    @Test func nonFiniteWeightsAreRefusedUnlessAllowed() throws {
        let model = try smallModel(OptimizerConfig(.sgd))
        var layers = model.network.layers
        layers[1].weights[0][3] = .nan
        layers[1].weights[0][4] = .infinity
        var broken = try Model(
            network: Network(inputWidth: 4, layers: layers), training: model.training)
        let data = blobs(count: 8, seed: 6)
        #expect(throws: TrainingError.nonFiniteWeights(tensor: "dense_1/kernel", count: 2)) {
            try broken.fit(data, options: FitOptions())
        }
        try broken.fit(data, options: FitOptions(allowNonFiniteWeights: true))
        #expect(broken.training.epochsCompleted == 1)
    }
}
