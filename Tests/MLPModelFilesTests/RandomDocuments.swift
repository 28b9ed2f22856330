import MLPCore
import MLPDocument

/// Seeded random model documents for round-trip properties: random widths, depths, activations, bias use,
/// initializers, regularizers, constraints, the width-keeping layer kinds, dtypes, optimizers with every slot layout and filled state, history and metadata.
struct RandomDocuments {
    var random: RandomGenerator

    init(seed: UInt64) {
        random = RandomGenerator(seed: seed)
    }

    mutating func document() throws -> ModelDocument {
        let inputWidth = 1 + random.nextInt(below: 9)
        let depth = 1 + random.nextInt(below: 4)
        let dtype: Tensor.DType = random.nextInt(below: 4) == 0 ? .float64 : .float32
        var layers: [ModelDocument.Layer] = []
        var weights: [ModelDocument.LayerWeights] = []
        var width = inputWidth
        for index in 0..<depth {
            let units = 1 + random.nextInt(below: 12)
            let useBias = random.nextInt(below: 5) != 0
            layers.append(ModelDocument.Layer(
                name: pick(["dense_\(index)", "layer \(index)", "ünï-\(index)", "l.\(index)"]), units: units,
                activation: pick(Activation.allCases), useBias: useBias,
                kernelInitializer: pick(Initializer.allCases), biasInitializer: pick(Initializer.allCases)))
            if random.nextInt(below: 3) == 0, case .dense(var dense) = layers[layers.count - 1].kind {
                dense.kernelRegularizer = pick([nil, .l2(0.01), .l1l2(l1: 1e-3, l2: 0.5)])
                dense.activityRegularizer = pick([nil, .l1(0.25)])
                dense.kernelConstraint = pick([nil, .maxNorm(maxValue: 2, axis: 0), .unitNorm(axis: 1),
                                               .minMaxNorm(minValue: 0.1, maxValue: 3, rate: 0.5, axis: -1)])
                dense.biasConstraint = useBias ? pick([nil, .nonNeg]) : nil
                layers[layers.count - 1].kind = .dense(dense)
            }
            weights.append(ModelDocument.LayerWeights(
                kernel: try tensor([width, units], dtype), bias: useBias ? try tensor([units], dtype) : nil))
            width = units
            // Now and then a width-keeping layer after the Dense one, with its tensors.
            if random.nextInt(below: 3) == 0 {
                let kind: LayerKind = pick([
                    .activation(pick(Activation.allCases)), .dropout(DropoutSettings(rate: pick([0, 0.3, 0.5]), seed: pick([nil, 7]))),
                    .batchNormalization(BatchNormalizationSettings(momentum: pick([0.99, 0.9]), epsilon: pick([1e-3, 1e-5]),
                                                                   center: random.nextInt(below: 2) == 0, scale: random.nextInt(below: 2) == 0,
                                                                   unbiasedMovingVariance: random.nextInt(below: 2) == 0)),
                    .layerNormalization(LayerNormalizationSettings(epsilon: 1e-3, center: random.nextInt(below: 2) == 0,
                                                                   scale: random.nextInt(below: 2) == 0)),
                    .flatten,
                ])
                layers.append(ModelDocument.Layer(name: "\(kind.typeName) \(index)", kind: kind))
                var tensors = ModelDocument.LayerWeights()
                for variable in kind.variables(inputWidth: width) { tensors[variable.name] = try tensor(variable.shape, dtype) }
                weights.append(tensors)
            }
        }
        var document = ModelDocument(
            architecture: .init(inputWidth: inputWidth, layers: layers), weights: weights,
            metadata: ["seed": String(random.next()), "created_by": "mlpconv tests", "note": pick(["", "ümlaut \"q\" \\ \n", "日本語"])])
        if random.nextInt(below: 5) != 0 {
            let config = optimizer()
            let shapes = document.parameterShapes
            var slots: [ModelDocument.OptimizerRecord.Slot] = []
            for name in config.slotNames {
                slots.append(.init(name: name, tensors: try shapes.map { try tensor($0, dtype) }))
            }
            let history = (0..<random.nextInt(below: 4)).map { epoch in
                EpochRecord(epoch: epoch + 1, metrics: ["loss": metric(), "accuracy": random.nextUnitDouble()])
            }
            document.training = .init(
                loss: loss(),
                optimizer: .init(config: config, iterations: random.nextInt(below: 100_000), slots: slots,
                                 scalars: config.scalarNames.map { .init(name: $0, value: pick([1, 0.1, random.nextUnitDouble()])) }),
                epochsCompleted: history.count,
                randomState: random.nextInt(below: 4) == 0 ? nil : RandomGenerator(seed: random.next()).state,
                history: history)
        }
        return document
    }

    /// Any loss; half of them with random settings where the loss has some.
    private mutating func loss() -> Loss {
        let kind = pick(LossKind.allCases)
        guard random.nextInt(below: 2) == 0 else { return Loss(kind) }
        let fromLogits = kind.acceptsLogits && random.nextInt(below: 2) == 0
        let smoothing = kind.acceptsLabelSmoothing ? pick([0, 0.1, 1e-3, 1.0 / 3, 1]) : 0
        let delta = kind == .huber ? pick([1, 0.5, 2.75, 1e-4]) : 1
        let beta = kind == .smoothL1 ? pick([1, 0.5, 3e-3]) : 1
        return (try? Loss(kind, fromLogits: fromLogits, labelSmoothing: smoothing, delta: delta, beta: beta)) ?? Loss(kind)
    }

    private mutating func optimizer() -> OptimizerConfig {
        var config = OptimizerConfig(pick(OptimizerKind.allCases), learningRate: pick([0.001, 0.1, 1e-5, 0.02]))
        switch config.kind {
        case .sgd:
            config.momentum = pick([0, 0.9, 0.5])
            config.nesterov = config.momentum > 0 && random.nextInt(below: 2) == 0
        case .adam, .adamw:
            config.amsgrad = random.nextInt(below: 2) == 0
            config.beta1 = pick([0.9, 0.8])
        case .rmsprop:
            config.momentum = pick([0, 0.5])
            config.centered = random.nextInt(below: 2) == 0
        case .adagrad:
            config.initialAccumulatorValue = pick([0.1, 0.01])
        case .nadam, .adamax, .lamb:
            config.beta1 = pick([0.9, 0.8])
            config.epsilon = pick([1e-7, 1e-3])
        case .lion:
            config.beta2 = pick([0.99, 0.9])
        case .adadelta:
            config.rho = pick([0.95, 0.5])
        case .ftrl:
            config.learningRatePower = pick([-0.5, -0.7, 0])
            config.l1RegularizationStrength = pick([0, 0.01])
            config.l2ShrinkageRegularizationStrength = pick([0, 0.1])
            config.beta = pick([0, 0.5])
        case .torchSGD:
            config.momentum = pick([0, 0.9])
            config.dampening = config.momentum > 0 ? pick([0, 0.1]) : 0
            config.nesterov = config.momentum > 0 && config.dampening == 0 && random.nextInt(below: 2) == 0
        case .torchAdam, .torchAdamW:
            config.amsgrad = random.nextInt(below: 2) == 0
            config.beta2 = pick([0.999, 0.99])
        case .torchRMSprop:
            config.alpha = pick([0.99, 0.9])
            config.momentum = pick([0, 0.5])
            config.centered = random.nextInt(below: 2) == 0
        case .torchAdagrad:
            config.learningRateDecay = pick([0, 0.01])
            config.initialAccumulatorValue = pick([0, 0.1])
        }
        if config.kind.isTorch {
            // torch's kinds have none of Keras's base settings.
            config.torchWeightDecay = pick([0, 0.01, 1e-4])
            config.maximize = random.nextInt(below: 4) == 0
            return config
        }
        config.weightDecay = pick([nil, 0.004, 0.1])
        switch random.nextInt(below: 4) {
        case 0: config.clipnorm = 1
        case 1: config.globalClipnorm = 0.5
        case 2: config.clipvalue = 0.25
        default: break
        }
        return config
    }

    /// Values that break careless codecs: signed zeros, subnormals, extremes, NaN with payloads, infinities.
    private mutating func tensor(_ shape: [Int], _ dtype: Tensor.DType) throws -> Tensor {
        let count = shape.reduce(1, *)
        let special = random.nextInt(below: 3) == 0
        switch dtype {
        case .float32:
            let values: [Float] = (0..<count).map { _ in
                if special, random.nextInt(below: 6) == 0 {
                    return pick([-0.0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, .nan, .infinity,
                                 Float(bitPattern: 0x7FC0_1234), 0.1, 1e-30])
                }
                return Float(random.nextStandardNormal())
            }
            return try Tensor(shape: shape, float32: values)
        case .float64:
            let values: [Double] = (0..<count).map { _ in
                if special, random.nextInt(below: 6) == 0 {
                    return pick([-0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .nan, -.infinity, 0.1, 1e300])
                }
                return random.nextStandardNormal()
            }
            return try Tensor(shape: shape, float64: values)
        }
    }

    private mutating func metric() -> Double {
        random.nextInt(below: 8) == 0 ? pick([.nan, .infinity]) : random.nextUnitDouble() * 3
    }

    private mutating func pick<T>(_ choices: [T]) -> T {
        choices[random.nextInt(below: choices.count)]
    }
}
