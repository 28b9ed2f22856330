import MLPCore

/// The two families of optimizer rules a document can carry: Keras 3's and torch.optim's (`OptimizerKind.isTorch`).
public enum OptimizerFamily: String, Sendable, CaseIterable {
    case keras, torch
}

/// An optimizer record carried over to the other family: the same training state under the other family's
/// rule, keys and slots, or why it cannot be (docs/numerics.md, torch's optimizers).
public enum OptimizerTranslation: Sendable, Equatable {
    /// Both rules take the same steps from here on (at a constant learning rate; to rounding).
    case exact(ModelDocument.OptimizerRecord)
    /// The state carries over, but the rules differ in a detail that `difference` states in one line.
    case approximate(ModelDocument.OptimizerRecord, difference: String)
    /// The other family has no rule for this configuration; `reason` names what is missing.
    case unavailable(reason: String)

    /// The translated record, exact or approximate.
    public var record: ModelDocument.OptimizerRecord? {
        switch self {
        case .exact(let record), .approximate(let record, _): record
        case .unavailable: nil
        }
    }
}

extension ModelDocument.OptimizerRecord {
    /// This record under `family`'s rules: itself when it already follows them. Slot tensors keep the document's
    /// layout (a kernel's [in, out]); putting them in torch's [out, in] is the file formats' business.
    ///
    /// SGD: Keras's `momentum` is −lr × torch's `momentum_buffer` (exact, Nesterov included, for dampening 0 and no
    /// weight decay). Adam, AdamW: the moments and the step count are the same; ε differs (approximate). RMSprop:
    /// `velocity` ⇄ `square_avg`, `rho` ⇄ `alpha`, `average_gradient` ⇄ `grad_avg`, Keras's `momentum` is
    /// +lr × torch's `momentum_buffer`; ε differs (approximate). Adagrad: `accumulator` ⇄ `sum`; ε differs
    /// (approximate). Weight decay carries over only between the two AdamWs (Keras's decay is decoupled, torch's
    /// is an L2 term elsewhere); everything else is unavailable.
    public func translated(to family: OptimizerFamily) -> OptimizerTranslation {
        if config.kind.isTorch == (family == .torch) { return .exact(self) }
        do throws(TranslationRefusal) {
            return family == .torch ? try kerasToTorch() : try torchToKeras()
        } catch {
            return .unavailable(reason: error.reason)
        }
    }

    private struct TranslationRefusal: Error {
        let reason: String
    }

    private static let adamDifference =
        "Keras adds epsilon to √v, torch to √(v/(1 − β₂ᵗ)): the same epsilon weighs more in torch's denominator"
    private static let rmspropDifference = "Keras adds epsilon inside the square root of the denominator, torch outside it"
    private static let adagradDifference = "Keras adds epsilon inside the square root of the denominator, torch outside it"

    private func kerasToTorch() throws(TranslationRefusal) -> OptimizerTranslation {
        let source = config
        let name = "Keras's \(source.kind.name)"
        let kerasOnly: [(Bool, String)] = [
            (source.schedule != nil, "a learning-rate schedule"), (source.clipnorm != nil, "clipnorm"),
            (source.globalClipnorm != nil, "global_clipnorm"), (source.clipvalue != nil, "clipvalue"),
            (source.useEMA, "use_ema"), (source.gradientAccumulationSteps != nil, "gradient_accumulation_steps"),
            (source.lossScaleFactor != nil, "loss_scale_factor"), (source.dynamicLossScale != nil, "a dynamic loss scale"),
        ]
        if let (_, setting) = kerasOnly.first(where: \.0) {
            throw TranslationRefusal(reason: "\(name) has \(setting), which torch.optim's optimizers do not have")
        }
        let decay = source.weightDecay ?? 0
        func refuseDecay() throws(TranslationRefusal) {
            if decay != 0 {
                throw TranslationRefusal(reason: "\(name) has a decoupled weight_decay; torch's \(source.kind.name) has only an L2 term")
            }
        }
        switch source.kind {
        case .sgd:
            try refuseDecay()
            var target = OptimizerConfig(.torchSGD, learningRate: source.learningRate)
            (target.momentum, target.nesterov) = (source.momentum, source.nesterov)
            let factor = -(try perLearningRate(source.momentum))
            return .exact(try carried(to: target, [("momentum_buffer", "momentum", factor)]))
        case .adam, .adamw:
            // Keras's Adam with weight decay is AdamW: both decay decoupled, before the update.
            var target = OptimizerConfig(decay != 0 || source.kind == .adamw ? .torchAdamW : .torchAdam,
                                         learningRate: source.learningRate)
            (target.beta1, target.beta2, target.epsilon, target.amsgrad) = (source.beta1, source.beta2, source.epsilon, source.amsgrad)
            target.torchWeightDecay = decay
            return .approximate(try carried(to: target, [("exp_avg", "momentum", 1), ("exp_avg_sq", "velocity", 1),
                                                         ("max_exp_avg_sq", "velocity_hat", 1)]),
                                difference: Self.adamDifference)
        case .rmsprop:
            try refuseDecay()
            var target = OptimizerConfig(.torchRMSprop, learningRate: source.learningRate)
            (target.alpha, target.momentum, target.centered, target.epsilon) = (source.rho, source.momentum, source.centered, source.epsilon)
            let factor = try perLearningRate(source.momentum)
            return .approximate(try carried(to: target, [("square_avg", "velocity", 1), ("momentum_buffer", "momentum", factor),
                                                         ("grad_avg", "average_gradient", 1)]),
                                difference: Self.rmspropDifference)
        case .adagrad:
            try refuseDecay()
            var target = OptimizerConfig(.torchAdagrad, learningRate: source.learningRate)
            (target.initialAccumulatorValue, target.epsilon) = (source.initialAccumulatorValue, source.epsilon)
            return .approximate(try carried(to: target, [("sum", "accumulator", 1)]), difference: Self.adagradDifference)
        case .nadam, .adamax, .lion, .adadelta, .ftrl, .lamb:
            throw TranslationRefusal(reason: "\(name) has no torch.optim counterpart in mlpconv")
        case .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad:
            return .exact(self)
        }
    }

    private func torchToKeras() throws(TranslationRefusal) -> OptimizerTranslation {
        let source = config
        let name = "torch's \(source.kind.name)"
        if source.maximize { throw TranslationRefusal(reason: "\(name) maximizes, which Keras's optimizers cannot") }
        func refuseDecay() throws(TranslationRefusal) {
            if source.torchWeightDecay != 0 {
                throw TranslationRefusal(reason: "\(name) has an L2 weight_decay; Keras's weight_decay is decoupled")
            }
        }
        func requireUnitRange(_ value: Double, _ key: String) throws(TranslationRefusal) {
            if value > 1 { throw TranslationRefusal(reason: "\(name) has \(key) \(value); Keras's must be in [0, 1]") }
        }
        switch source.kind {
        case .torchSGD:
            try refuseDecay()
            if source.momentum != 0, source.dampening != 0 {
                throw TranslationRefusal(reason: "\(name) has dampening \(source.dampening); Keras's SGD has no dampening")
            }
            try requireUnitRange(source.momentum, "momentum")
            var target = OptimizerConfig(.sgd, learningRate: source.learningRate)
            (target.momentum, target.nesterov) = (source.momentum, source.nesterov)
            return .exact(try carried(to: target, [("momentum", "momentum_buffer", -source.learningRate)]))
        case .torchAdam, .torchAdamW:
            if source.kind == .torchAdam { try refuseDecay() }
            var target = OptimizerConfig(source.kind == .torchAdam ? .adam : .adamw, learningRate: source.learningRate)
            (target.beta1, target.beta2, target.epsilon, target.amsgrad) = (source.beta1, source.beta2, source.epsilon, source.amsgrad)
            target.weightDecay = source.kind == .torchAdam ? nil : source.torchWeightDecay
            return .approximate(try carried(to: target, [("momentum", "exp_avg", 1), ("velocity", "exp_avg_sq", 1),
                                                         ("velocity_hat", "max_exp_avg_sq", 1)]),
                                difference: Self.adamDifference)
        case .torchRMSprop:
            try refuseDecay()
            try requireUnitRange(source.alpha, "alpha")
            try requireUnitRange(source.momentum, "momentum")
            var target = OptimizerConfig(.rmsprop, learningRate: source.learningRate)
            (target.rho, target.momentum, target.centered, target.epsilon) = (source.alpha, source.momentum, source.centered, source.epsilon)
            return .approximate(try carried(to: target, [("velocity", "square_avg", 1), ("momentum", "momentum_buffer", source.learningRate),
                                                         ("average_gradient", "grad_avg", 1)]),
                                difference: Self.rmspropDifference)
        case .torchAdagrad:
            try refuseDecay()
            if source.learningRateDecay != 0 {
                throw TranslationRefusal(reason: "\(name) has lr_decay \(source.learningRateDecay); Keras's Adagrad has none")
            }
            var target = OptimizerConfig(.adagrad, learningRate: source.learningRate)
            (target.initialAccumulatorValue, target.epsilon) = (source.initialAccumulatorValue, source.epsilon)
            return .approximate(try carried(to: target, [("accumulator", "sum", 1)]), difference: Self.adagradDifference)
        case .sgd, .adam, .adamw, .rmsprop, .adagrad, .nadam, .adamax, .lion, .adadelta, .ftrl, .lamb:
            return .exact(self)
        }
    }

    /// 1 / lr: Keras keeps SGD's and RMSprop's momentum scaled by the learning rate, torch does not, so a Keras
    /// momentum slot (there is one when `momentum` ≠ 0) cannot be carried over at a learning rate of 0.
    private func perLearningRate(_ momentum: Double) throws(TranslationRefusal) -> Double {
        guard momentum != 0 else { return 1 }
        guard config.learningRate > 0, (1 / config.learningRate).isFinite else {
            throw TranslationRefusal(reason: "Keras's momentum slot is the learning rate times torch's momentum_buffer, "
                                     + "and the learning rate is \(config.learningRate)")
        }
        return 1 / config.learningRate
    }

    /// A record for `target`: its slots (in `target.slotNames` order) from this record's, by (target, source,
    /// factor); the step count carries over.
    private func carried(to target: OptimizerConfig, _ mapping: [(String, String, Double)]) throws(TranslationRefusal) -> Self {
        var slots: [Slot] = []
        for name in target.slotNames {
            let (_, sourceName, factor) = mapping.first { $0.0 == name } ?? (name, name, 1)
            guard let source = self.slots.first(where: { $0.name == sourceName }) else {
                throw TranslationRefusal(reason: "the record has no slot \(sourceName) to carry over as \(target.kind.name)'s \(name)")
            }
            var tensors: [Tensor] = []
            for tensor in source.tensors {
                do throws(TensorError) {
                    tensors.append(factor == 1 ? tensor : try tensor.scaled(by: factor))
                } catch {
                    throw TranslationRefusal(reason: "slot \(sourceName): \(error)")
                }
            }
            slots.append(Slot(name: name, tensors: tensors))
        }
        return Self(config: target, iterations: iterations, slots: slots)
    }
}

extension Tensor {
    /// Every value times `factor` (rounded to the tensor's precision first, as a framework multiplies a variable
    /// by a scalar).
    fileprivate func scaled(by factor: Double) throws(TensorError) -> Tensor {
        switch storage {
        case .float32(let values):
            let f = Float(factor)
            return try Tensor(shape: shape, float32: values.map { $0 * f })
        case .float64(let values):
            return try Tensor(shape: shape, float64: values.map { $0 * factor })
        }
    }
}
