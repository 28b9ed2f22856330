/// The configuration of torch.optim's SGD, Adam, AdamW, RMSprop and Adagrad (the `torch_*` kinds): torch 2.15's
/// defaults and range checks, its param_group keys (except `lr` → `learning_rate`, `betas` → `beta_1`/`beta_2`,
/// `eps` → `epsilon`, the keys every other kind uses) and its optimizer `state` keys as slot names.
/// OptimizerConfig.swift dispatches here for them; the update is in OptimizerUpdate+Torch.swift.
extension OptimizerConfig {
    /// torch's defaults (`inspect.signature` of each class in torch 2.15).
    mutating func setTorchDefaults(learningRate: Double?) {
        switch kind {
        case .torchRMSprop, .torchAdagrad: self.learningRate = learningRate ?? 0.01
        default: self.learningRate = learningRate ?? 0.001
        }
        epsilon = kind == .torchAdagrad ? 1e-10 : 1e-8
        initialAccumulatorValue = 0
        torchWeightDecay = kind == .torchAdamW ? 0.01 : 0
        weightDecay = nil
    }

    /// The slots under torch's `state` keys, in the order torch creates them.
    var torchSlotNames: [String] {
        switch kind {
        case .torchSGD: momentum != 0 ? ["momentum_buffer"] : []
        case .torchAdam, .torchAdamW: amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"]
        case .torchRMSprop: ["square_avg"] + (momentum > 0 ? ["momentum_buffer"] : []) + (centered ? ["grad_avg"] : [])
        case .torchAdagrad: ["sum"]
        default: []
        }
    }

    /// In the order of torch's param_group keys.
    var torchHyperparameters: [(key: String, value: Hyperparameter)] {
        var list: [(key: String, value: Hyperparameter)] = [("learning_rate", .number(learningRate))]
        switch kind {
        case .torchSGD:
            list += [("momentum", .number(momentum)), ("dampening", .number(dampening)),
                     ("weight_decay", .number(torchWeightDecay)), ("nesterov", .flag(nesterov))]
        case .torchAdam, .torchAdamW:
            list += [("beta_1", .number(beta1)), ("beta_2", .number(beta2)), ("epsilon", .number(epsilon)),
                     ("weight_decay", .number(torchWeightDecay)), ("amsgrad", .flag(amsgrad))]
        case .torchRMSprop:
            list += [("alpha", .number(alpha)), ("epsilon", .number(epsilon)), ("weight_decay", .number(torchWeightDecay)),
                     ("momentum", .number(momentum)), ("centered", .flag(centered))]
        case .torchAdagrad:
            list += [("lr_decay", .number(learningRateDecay)), ("weight_decay", .number(torchWeightDecay)),
                     ("initial_accumulator_value", .number(initialAccumulatorValue)), ("epsilon", .number(epsilon))]
        default: break
        }
        return list + [("maximize", .flag(maximize))]
    }

    /// Keras's keys that torch's kinds refuse by name rather than as unknown, because a file or flag that sets
    /// them mixes the two conventions.
    public static let kerasOnlyKeys: Set<String> = ["clipnorm", "global_clipnorm", "clipvalue", "rho"]

    /// Sets one of torch's keys (`allowed` also holds the wrapper keys, which OptimizerConfig.swift sets and
    /// `validateTorch` refuses).
    mutating func setTorchHyperparameter(_ key: String, _ value: Hyperparameter, allowed: Set<String>) throws(OptimizerError) {
        let torchKeys = Set(torchHyperparameters.map(\.key))
        guard torchKeys.contains(key) else {
            if Self.kerasOnlyKeys.contains(key) {
                throw .invalidHyperparameter(key: key, reason: "is a Keras optimizer setting; \(kind.name) follows torch.optim, which has no \(key)")
            }
            throw .unknownHyperparameter(optimizer: kind.name, key: key, allowed: torchKeys.sorted())
        }
        switch key {
        case "nesterov", "amsgrad", "centered", "maximize":
            guard case .flag(let flag) = value else { throw .invalidHyperparameter(key: key, reason: "expected true or false") }
            switch key {
            case "nesterov": nesterov = flag
            case "amsgrad": amsgrad = flag
            case "centered": centered = flag
            default: maximize = flag
            }
        default:
            guard case .number(let x) = value.normalized else { throw .invalidHyperparameter(key: key, reason: "expected a number") }
            switch key {
            case "learning_rate": learningRate = x
            case "momentum": momentum = x
            case "dampening": dampening = x
            case "weight_decay": torchWeightDecay = x
            case "beta_1": beta1 = x
            case "beta_2": beta2 = x
            case "epsilon": epsilon = x
            case "alpha": alpha = x
            case "lr_decay": learningRateDecay = x
            default: initialAccumulatorValue = x
            }
        }
    }

    /// torch's ValueError checks (each value must also be finite), and the refusal of Keras's base settings.
    func validateTorch() throws(OptimizerError) {
        func require(_ ok: Bool, _ key: String, _ reason: String) throws(OptimizerError) {
            if !ok { throw .invalidHyperparameter(key: key, reason: reason) }
        }
        func refuse(_ isSet: Bool, _ key: String) throws(OptimizerError) {
            try require(!isSet, key, "is a Keras optimizer setting; \(kind.name) follows torch.optim, which has no \(key)")
        }
        try refuse(schedule != nil, "learning_rate (a schedule)")
        try refuse(weightDecay != nil, "weight_decay (Keras's decoupled decay; torch's weight_decay is set by its key)")
        try refuse(clipnorm != nil, "clipnorm")
        try refuse(globalClipnorm != nil, "global_clipnorm")
        try refuse(clipvalue != nil, "clipvalue")
        try refuse(useEMA, "use_ema")
        try refuse(emaOverwriteFrequency != nil, "ema_overwrite_frequency")
        try refuse(gradientAccumulationSteps != nil, "gradient_accumulation_steps")
        try refuse(lossScaleFactor != nil, "loss_scale_factor")
        try refuse(dynamicLossScale != nil, "initial_scale (a dynamic loss scale)")
        func nonNegative(_ value: Double, _ key: String) throws(OptimizerError) {
            try require(value.isFinite && value >= 0, key, "must be a finite number ≥ 0, got \(value)")
        }
        try nonNegative(torchWeightDecay, "weight_decay")
        switch kind {
        case .torchSGD:
            try nonNegative(momentum, "momentum")
            try require(dampening.isFinite, "dampening", "must be a finite number, got \(dampening)")
            try require(!nesterov || (momentum > 0 && dampening == 0), "nesterov", "requires a momentum and zero dampening")
        case .torchAdam, .torchAdamW:
            try nonNegative(epsilon, "epsilon")
            try require(beta1.isFinite && beta1 >= 0 && beta1 < 1, "beta_1", "must be in [0, 1), got \(beta1)")
            try require(beta2.isFinite && beta2 >= 0 && beta2 < 1, "beta_2", "must be in [0, 1), got \(beta2)")
        case .torchRMSprop:
            try nonNegative(epsilon, "epsilon")
            try nonNegative(momentum, "momentum")
            try nonNegative(alpha, "alpha")
        case .torchAdagrad:
            try nonNegative(learningRateDecay, "lr_decay")
            try nonNegative(initialAccumulatorValue, "initial_accumulator_value")
            try nonNegative(epsilon, "epsilon")
        default: break
        }
    }
}
