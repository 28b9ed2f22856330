import MLPCore
import MLPDocument
import Testing

/// A model trained 5 full-batch steps with `config`, as a document: real slots and a step count to carry over.
private func trainedDocument(_ config: OptimizerConfig) throws -> ModelDocument {
    var model = try Model<Float>(inputWidth: 4, layers: [LayerSpec(8, .tanh), LayerSpec(3, .softmax)],
                                 loss: .categoricalCrossentropy, optimizer: config, seed: 11)
    _ = try model.fit(try data(), options: steps(5))
    return ModelDocument(model: model)
}

/// 24 rows of 4 features, 3 one-hot classes; made up, deterministic.
private func data() throws -> Dataset<Float> {
    var features: [Float] = [], targets: [Float] = []
    for row in 0..<24 {
        for column in 0..<4 { features.append(Float((row * 7 + column * 3) % 11) / 5 - 1) }
        targets += (0..<3).map { $0 == row % 3 ? 1 : 0 }
    }
    return try Dataset(features: features, featureWidth: 4, targets: targets, targetWidth: 3)
}

private func steps(_ count: Int) -> FitOptions { FitOptions(epochs: count, batchSize: 24, shuffle: false) }

/// Trains the document as it is and with its optimizer translated to `family` for 10 more steps, and returns the
/// translation and the largest difference between the two models' weights.
private func drift(_ config: OptimizerConfig, to family: OptimizerFamily) throws -> (OptimizerTranslation, Double) {
    let document = try trainedDocument(config)
    let translation = try #require(document.training?.optimizer).translated(to: family)
    guard let record = translation.record else { return (translation, 0) }
    #expect(record.config.kind.isTorch == (family == .torch))
    #expect(record.iterations == 5)
    var translated = document
    translated.training?.optimizer = record
    try translated.validate()
    var original: Model<Float> = try document.model()
    var other: Model<Float> = try translated.model()
    _ = try original.fit(try data(), options: steps(10))
    _ = try other.fit(try data(), options: steps(10))
    var largest = 0.0
    for (a, b) in zip(ModelDocument(model: original).parameterTensors, ModelDocument(model: other).parameterTensors) {
        for (x, y) in zip(a.float32Values, b.float32Values) { largest = max(largest, Double(abs(x - y))) }
    }
    return (translation, largest)
}

private func config(_ kind: OptimizerKind, _ learningRate: Double? = nil, _ change: (inout OptimizerConfig) -> Void = { _ in }) -> OptimizerConfig {
    var config = OptimizerConfig(kind, learningRate: learningRate)
    change(&config)
    return config
}

struct OptimizerTranslationTests {
    /// SGD's momentum is −lr × torch's buffer: 10 more steps from the translated state agree to rounding.
    @Test("SGD translates exactly both ways", arguments: [
        (config(.sgd, 0.05), OptimizerFamily.torch),
        (config(.sgd, 0.05) { $0.momentum = 0.9 }, .torch),
        (config(.sgd, 0.05) { ($0.momentum, $0.nesterov) = (0.9, true) }, .torch),
        (config(.torchSGD, 0.05) { $0.momentum = 0.9 }, .keras),
        (config(.torchSGD, 0.05) { ($0.momentum, $0.nesterov) = (0.5, true) }, .keras),
    ])
    func sgdIsExact(source: OptimizerConfig, family: OptimizerFamily) throws {
        let (translation, difference) = try drift(source, to: family)
        guard case .exact(let record) = translation else {
            Issue.record("\(source.kind) → \(family): \(translation)")
            return
        }
        #expect(record.slots.map(\.name) == (source.momentum != 0 ? [family == .torch ? "momentum_buffer" : "momentum"] : []))
        #expect(difference <= 1e-6, "\(source.kind) → \(family): \(difference)")
    }

    /// The same state under the other rule, at the source's defaults (its epsilon carries over) and a realistic
    /// learning rate: the largest weight difference after 10 more steps, as measured (docs/numerics.md); the bound
    /// is twice the measurement. The differences come from where ε sits alone: small for Adam and Adagrad, large
    /// for RMSprop, whose weights with small gradients (v ≪ ε) take steps of lr·g/√ε in Keras but up to lr/√(1 − ρ)
    /// in torch.
    @Test("Adam, AdamW, RMSprop and Adagrad translate approximately, with the measured drift", arguments: [
        (config(.adam, 0.001), OptimizerFamily.torch, 2.78e-5),
        (config(.adam, 0.001) { $0.amsgrad = true }, .torch, 2.78e-5),
        (config(.adamw, 0.001), .torch, 2.78e-5),
        (config(.rmsprop, 0.001), .torch, 1.13e-2),
        (config(.rmsprop, 0.001) { ($0.momentum, $0.centered) = (0.9, true) }, .torch, 3.11e-2),
        (config(.adagrad, 0.01), .torch, 1.5e-8),
        (config(.torchAdam, 0.001), .keras, 2.86e-6),
        (config(.torchAdamW, 0.001), .keras, 2.86e-6),
        (config(.torchRMSprop, 0.01), .keras, 7.99e-4),
        (config(.torchRMSprop, 0.01) { $0.momentum = 0.9 }, .keras, 1.81e-3),
        (config(.torchAdagrad, 0.01), .keras, 1.09e-6),
    ])
    func othersAreApproximate(source: OptimizerConfig, family: OptimizerFamily, measured: Double) throws {
        let (translation, difference) = try drift(source, to: family)
        guard case .approximate(let record, let statement) = translation else {
            Issue.record("\(source.kind) → \(family): \(translation)")
            return
        }
        #expect(statement.contains("epsilon"))
        #expect(record.slots.count == source.slotNames.count)
        #expect(difference <= 2 * measured, "\(source.kind) → \(family): \(difference)")
    }

    @Test func whatTheOtherFamilyLacksIsNamed() throws {
        func reason(_ source: OptimizerConfig, _ family: OptimizerFamily) throws -> String {
            let translation = try #require(try trainedDocument(source).training?.optimizer).translated(to: family)
            guard case .unavailable(let reason) = translation else { return "translated: \(translation)" }
            return reason
        }
        #expect(try reason(config(.nadam), .torch).contains("nadam has no torch.optim counterpart"))
        #expect(try reason(config(.sgd) { $0.clipnorm = 1 }, .torch).contains("clipnorm"))
        #expect(try reason(config(.adam) { $0.useEMA = true }, .torch).contains("use_ema"))
        #expect(try reason(config(.adam) { $0.schedule = .exponentialDecay(initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5) },
                           .torch).contains("schedule"))
        #expect(try reason(config(.sgd) { $0.weightDecay = 0.01 }, .torch).contains("decoupled weight_decay"))
        #expect(try reason(config(.torchSGD) { ($0.momentum, $0.dampening) = (0.9, 0.1) }, .keras).contains("dampening"))
        #expect(try reason(config(.torchSGD) { $0.torchWeightDecay = 0.01 }, .keras).contains("L2 weight_decay"))
        #expect(try reason(config(.torchAdam) { $0.maximize = true }, .keras).contains("maximizes"))
        #expect(try reason(config(.torchAdagrad) { $0.learningRateDecay = 0.1 }, .keras).contains("lr_decay"))
        #expect(try reason(config(.torchRMSprop) { $0.alpha = 1.5 }, .keras).contains("alpha"))
        #expect(try reason(config(.sgd, 0) { $0.momentum = 0.9 }, .torch).contains("learning rate is 0"))
        // Keras's Adam with decoupled decay is torch's AdamW, and the AdamWs' decays are the same thing.
        let adam = try trainedDocument(config(.adam) { $0.weightDecay = 0.01 }).training?.optimizer.translated(to: .torch)
        #expect(adam?.record?.config.kind == .torchAdamW && adam?.record?.config.torchWeightDecay == 0.01)
        let adamw = try trainedDocument(config(.torchAdamW)).training?.optimizer.translated(to: .keras)
        #expect(adamw?.record?.config.kind == .adamw && adamw?.record?.config.weightDecay == 0.01)
        // A record already in the family is itself.
        let own = try #require(try trainedDocument(config(.torchAdam)).training?.optimizer)
        #expect(own.translated(to: .torch) == .exact(own))
    }
}
