/// Keras's base-optimizer settings that wrap whatever update rule the optimizer has — `use_ema`,
/// `gradient_accumulation_steps`, `loss_scale_factor` — and its `LossScaleOptimizer` wrapper: their
/// hyperparameter keys (Keras's), slots, scalars and ranges. The step itself is in Optimizer.swift
/// (docs/numerics.md, optimizer wrappers).
extension OptimizerConfig {
    /// Keras's `LossScaleOptimizer`: the loss is multiplied by a scale that halves (and the step is skipped)
    /// whenever a gradient is not finite, and doubles after `dynamicGrowthSteps` finite steps in a row.
    public struct DynamicLossScale: Sendable, Equatable {
        /// Keras's `initial_scale` (default 2¹⁵); the current scale is the state's `dynamic_scale`.
        public var initialScale: Double
        /// Keras's `dynamic_growth_steps` (default 2000).
        public var dynamicGrowthSteps: Int

        public init(initialScale: Double = 32768, dynamicGrowthSteps: Int = 2000) {
            self.initialScale = initialScale
            self.dynamicGrowthSteps = dynamicGrowthSteps
        }
    }

    /// The keys of these settings, which every optimizer accepts. `use_ema` and the loss-scale wrapper's keys
    /// (`initial_scale`, `dynamic_growth_steps`, present exactly when the wrapper is) are mlpconv's record of them
    /// in its own formats; Keras files spell the wrapper as a `LossScaleOptimizer` object.
    public static let wrapperKeys: Set<String> = [
        "use_ema", "ema_momentum", "ema_overwrite_frequency", "gradient_accumulation_steps", "loss_scale_factor",
        "initial_scale", "dynamic_growth_steps",
    ]

    /// The wrappers' hyperparameters, listed only when set, so that a plain optimizer's list stays as it was.
    var wrapperHyperparameters: [(key: String, value: Hyperparameter)] {
        var list: [(key: String, value: Hyperparameter)] = []
        if useEMA {
            list += [("use_ema", .flag(true)), ("ema_momentum", .number(emaMomentum)),
                     ("ema_overwrite_frequency", .optionalNumber(emaOverwriteFrequency.map(Double.init)))]
        }
        if let gradientAccumulationSteps {
            list.append(("gradient_accumulation_steps", .optionalNumber(Double(gradientAccumulationSteps))))
        }
        if let lossScaleFactor { list.append(("loss_scale_factor", .optionalNumber(lossScaleFactor))) }
        if let dynamicLossScale {
            list += [("initial_scale", .optionalNumber(dynamicLossScale.initialScale)),
                     ("dynamic_growth_steps", .number(Double(dynamicLossScale.dynamicGrowthSteps)))]
        }
        return list
    }

    /// The wrappers' slots, before the rule's, in Keras's order: `average` (one block) when `useEMA`, then
    /// `gradient_accumulator` when accumulating gradients.
    public var wrapperSlotNames: [String] {
        (useEMA ? ["average"] : []) + (gradientAccumulationSteps != nil ? ["gradient_accumulator"] : [])
    }

    /// `initial_scale` (a number, or null for no wrapper) and `dynamic_growth_steps` (only with a wrapper).
    public mutating func setDynamicLossScale(from hyperparameters: [String: Hyperparameter]) throws(OptimizerError) {
        var scale: Double?
        switch hyperparameters["initial_scale"]?.normalized {
        case nil, .optionalNumber(nil)?: scale = nil
        case .number(let x)?: scale = x
        case .flag?, .optionalNumber?: throw .invalidHyperparameter(key: "initial_scale", reason: "expected a number or null")
        }
        guard let scale else {
            if hyperparameters["dynamic_growth_steps"] != nil {
                throw .invalidHyperparameter(key: "dynamic_growth_steps", reason: "applies only with initial_scale (a dynamic loss scale)")
            }
            dynamicLossScale = nil
            return
        }
        var wrapper = DynamicLossScale(initialScale: scale)
        if let steps = hyperparameters["dynamic_growth_steps"] {
            wrapper.dynamicGrowthSteps = try Self.integer(steps, key: "dynamic_growth_steps", atLeast: 1) ?? 2000
        }
        dynamicLossScale = wrapper
    }

    /// Sets one of `wrapperKeys` but the loss-scale wrapper's (`setDynamicLossScale`).
    mutating func setWrapperHyperparameter(_ key: String, _ value: Hyperparameter) throws(OptimizerError) {
        switch key {
        case "use_ema":
            guard case .flag(let flag) = value else { throw .invalidHyperparameter(key: key, reason: "expected true or false") }
            useEMA = flag
        case "ema_momentum":
            guard case .number(let x) = value.normalized else { throw .invalidHyperparameter(key: key, reason: "expected a number") }
            emaMomentum = x
        case "ema_overwrite_frequency":
            emaOverwriteFrequency = try Self.integer(value, key: key, atLeast: 1)
        case "gradient_accumulation_steps":
            gradientAccumulationSteps = try Self.integer(value, key: key, atLeast: 2)
        case "loss_scale_factor":
            switch value.normalized {
            case .number(let x): lossScaleFactor = x
            case .optionalNumber(nil): lossScaleFactor = nil
            default: throw .invalidHyperparameter(key: key, reason: "expected a number or null")
            }
        default: break
        }
    }

    /// A whole number ≥ `minimum` (at most 2³¹ − 1, Keras's int32 counters), or nil for null.
    private static func integer(_ value: Hyperparameter, key: String, atLeast minimum: Int) throws(OptimizerError) -> Int? {
        let number: Double
        switch value.normalized {
        case .number(let x): number = x
        case .optionalNumber(nil): return nil
        default: throw .invalidHyperparameter(key: key, reason: "expected an integer or null")
        }
        guard number.isFinite, number == number.rounded(), number >= Double(minimum), number <= Double(Int32.max) else {
            throw .invalidHyperparameter(key: key, reason: "must be an integer ≥ \(minimum) or null, got \(number)")
        }
        return Int(number)
    }

    /// Keras's checks on these settings, plus what would make a step meaningless (a zero or infinite scale).
    func validateWrappers() throws(OptimizerError) {
        func require(_ ok: Bool, _ key: String, _ reason: String) throws(OptimizerError) {
            if !ok { throw .invalidHyperparameter(key: key, reason: reason) }
        }
        try require(emaMomentum.isFinite && emaMomentum >= 0 && emaMomentum <= 1, "ema_momentum",
                    "must be in [0, 1], got \(emaMomentum)")
        if let emaOverwriteFrequency {
            try require(emaOverwriteFrequency >= 1, "ema_overwrite_frequency", "must be an integer ≥ 1 or null, got \(emaOverwriteFrequency)")
            try require(useEMA, "ema_overwrite_frequency", "applies only with use_ema")
        }
        if let gradientAccumulationSteps {
            try require(gradientAccumulationSteps >= 2 && gradientAccumulationSteps <= Int(Int32.max), "gradient_accumulation_steps",
                        "must be an integer ≥ 2 or null, got \(gradientAccumulationSteps)")
        }
        if let lossScaleFactor {
            try require(lossScaleFactor.isFinite && lossScaleFactor > 0, "loss_scale_factor",
                        "must be a finite number > 0 or null, got \(lossScaleFactor)")
        }
        if let dynamicLossScale {
            let scale = dynamicLossScale.initialScale
            try require(scale.isFinite && scale > 0 && Float(scale).isFinite && Float(scale) > 0, "initial_scale",
                        "must be a finite number > 0 (in float32), got \(scale)")
            try require(dynamicLossScale.dynamicGrowthSteps >= 1 && dynamicLossScale.dynamicGrowthSteps <= Int(Int32.max),
                        "dynamic_growth_steps", "must be an integer ≥ 1, got \(dynamicLossScale.dynamicGrowthSteps)")
            // Keras's LossScaleOptimizer clears its inner optimizer's loss_scale_factor.
            try require(lossScaleFactor == nil, "loss_scale_factor", "cannot be set together with a dynamic loss scale (initial_scale)")
        }
    }
}
