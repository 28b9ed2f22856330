/// The configuration of Nadam, Adamax, Lion, Adadelta, Ftrl and Lamb: their slots, hyperparameters (Keras's keys
/// and defaults) and the optimizer-level scalars some of them keep. OptimizerConfig.swift dispatches here for them.
extension OptimizerConfig {
    /// The slots of the optimizers this file describes, in Keras's order of slot names.
    var moreSlotNames: [String] {
        switch kind {
        case .nadam, .lamb: ["momentum", "velocity"]
        case .adamax: ["momentum", "norm"]
        case .lion: ["momentum"]
        case .adadelta: ["accumulated_grad", "accumulated_delta_var"]
        case .ftrl: ["accumulator", "linear"]
        case .sgd, .adam, .adamw, .rmsprop, .adagrad, .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad: []
        }
    }

    /// Their hyperparameters after `learning_rate`, in Keras's `get_config` order.
    var moreHyperparameters: [(key: String, value: Hyperparameter)] {
        switch kind {
        case .nadam, .adamax, .lamb:
            [("beta_1", .number(beta1)), ("beta_2", .number(beta2)), ("epsilon", .number(epsilon))]
        case .lion:
            [("beta_1", .number(beta1)), ("beta_2", .number(beta2))]
        case .adadelta:
            [("rho", .number(rho)), ("epsilon", .number(epsilon))]
        case .ftrl:
            [("learning_rate_power", .number(learningRatePower)),
             ("initial_accumulator_value", .number(initialAccumulatorValue)),
             ("l1_regularization_strength", .number(l1RegularizationStrength)),
             ("l2_regularization_strength", .number(l2RegularizationStrength)),
             ("l2_shrinkage_regularization_strength", .number(l2ShrinkageRegularizationStrength)),
             ("beta", .number(beta))]
        case .sgd, .adam, .adamw, .rmsprop, .adagrad, .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad: []
        }
    }

    /// Sets a numeric hyperparameter that only these optimizers have (the key has been checked to apply).
    mutating func setMoreHyperparameter(_ key: String, _ value: Double) {
        switch key {
        case "learning_rate_power": learningRatePower = value
        case "l1_regularization_strength": l1RegularizationStrength = value
        case "l2_regularization_strength": l2RegularizationStrength = value
        case "l2_shrinkage_regularization_strength": l2ShrinkageRegularizationStrength = value
        case "beta": beta = value
        default: break
        }
    }

    /// Ftrl's ranges, as Keras checks them.
    func validateMore() throws(OptimizerError) {
        func require(_ ok: Bool, _ key: String, _ reason: String) throws(OptimizerError) {
            if !ok { throw .invalidHyperparameter(key: key, reason: reason) }
        }
        try require(learningRatePower.isFinite && learningRatePower <= 0, "learning_rate_power",
                    "must be a finite number ≤ 0, got \(learningRatePower)")
        for (key, value) in [("l1_regularization_strength", l1RegularizationStrength),
                             ("l2_regularization_strength", l2RegularizationStrength),
                             ("l2_shrinkage_regularization_strength", l2ShrinkageRegularizationStrength),
                             ("beta", beta)] {
            try require(value.isFinite && value >= 0, key, "must be a finite number ≥ 0, got \(value)")
        }
        // Ftrl divides by the learning rate (and β by twice it).
        if kind == .ftrl {
            try require(learningRate > 0, "learning_rate", "must be > 0 for Ftrl, got \(learningRate)")
        }
    }

    /// The optimizer-level scalars this configuration keeps besides `iterations`, in Keras's variable order: the
    /// dynamic loss scale's `step_counter` and `dynamic_scale` (the wrapper's variables come before its inner
    /// optimizer's), then Nadam's running product `u_product` of its momentum schedule.
    public var scalarNames: [String] {
        (dynamicLossScale != nil ? ["step_counter", "dynamic_scale"] : []) + (kind == .nadam ? ["u_product"] : [])
    }

    /// Each scalar's value before the first step (the scale is a float32 variable in Keras).
    public var initialScalars: [(name: String, value: Double)] {
        scalarNames.map { name in
            switch name {
            case "step_counter": (name, 0)
            case "dynamic_scale": (name, Double(Float(dynamicLossScale?.initialScale ?? 1)))
            default: (name, 1.0)
            }
        }
    }

    /// Scalars kept in the parameters' precision (the others are counters or float32 whatever the model).
    public static let parameterPrecisionScalarNames: Set<String> = ["u_product"]
}
