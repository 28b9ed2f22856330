/// The optimizers a model can carry: Keras 3's update rules (docs/keras-formats.md, optimizer update rules) and,
/// as `torch_*`, torch.optim's (OptimizerConfig+Torch.swift, docs/numerics.md, torch's optimizers).
public enum OptimizerKind: String, NamedChoice {
    case sgd, adam, adamw, rmsprop, adagrad, nadam, adamax, lion, adadelta, ftrl, lamb
    case torchSGD = "torch_sgd", torchAdam = "torch_adam", torchAdamW = "torch_adamw"
    case torchRMSprop = "torch_rmsprop", torchAdagrad = "torch_adagrad"

    /// Case-insensitive, so the usual capitalizations (`Adam`, `RMSprop`) are accepted too, and torch's class
    /// paths (`torch.optim.AdamW`) name the torch kinds; `name` is lower-case.
    public init?(name: String) {
        let lowered = name.lowercased()
        if let alias = Self.aliases.first(where: { $0.name.lowercased() == lowered }) {
            self = alias.choice
        } else {
            self.init(rawValue: lowered)
        }
    }

    /// torch's class paths, which `init(name:)` matches without regard to case.
    public static var aliases: [(name: String, choice: OptimizerKind)] {
        [("torch.optim.SGD", .torchSGD), ("torch.optim.Adam", .torchAdam), ("torch.optim.AdamW", .torchAdamW),
         ("torch.optim.RMSprop", .torchRMSprop), ("torch.optim.Adagrad", .torchAdagrad)]
    }

    /// torch.optim's rules, which follow torch's conventions rather than Keras's.
    public var isTorch: Bool {
        switch self {
        case .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad: true
        case .sgd, .adam, .adamw, .rmsprop, .adagrad, .nadam, .adamax, .lion, .adadelta, .ftrl, .lamb: false
        }
    }
}

/// An optimizer's hyperparameters. Defaults are Keras's; `hyperparameters` lists exactly the ones that apply.
public struct OptimizerConfig: Sendable, Equatable {
    public var kind: OptimizerKind
    public var learningRate: Double
    /// A learning-rate schedule the update follows instead of `learningRate` (LearningRateSchedule.swift). Setting
    /// one sets `learningRate` to its initial rate, which is what files store next to it.
    public var schedule: LearningRateSchedule? {
        didSet { if let schedule { learningRate = schedule.initialRate } }
    }
    /// SGD and RMSprop.
    public var momentum: Double = 0
    /// SGD.
    public var nesterov = false
    /// Adam, AdamW, Nadam, Adamax, Lamb and Lion (Lion's β₂ defaults to 0.99).
    public var beta1 = 0.9
    public var beta2 = 0.999
    /// Adam and AdamW.
    public var amsgrad = false
    /// RMSprop and Adadelta (which defaults to 0.95).
    public var rho = 0.9
    public var centered = false
    /// Adagrad and Ftrl (torch's Adagrad: 0).
    public var initialAccumulatorValue = 0.1
    /// Every optimizer but SGD, Lion and Ftrl.
    public var epsilon = 1e-7
    /// Ftrl (OptimizerConfig+Kinds.swift).
    public var learningRatePower = -0.5
    public var l1RegularizationStrength = 0.0
    public var l2RegularizationStrength = 0.0
    public var l2ShrinkageRegularizationStrength = 0.0
    public var beta = 0.0
    /// torch's own hyperparameters (OptimizerConfig+Torch.swift): SGD's `dampening`, RMSprop's `alpha` (Keras's
    /// ρ), Adagrad's `lr_decay`, every torch kind's `maximize` and its `weight_decay` — an L2 term added to the
    /// gradient, except for torch's AdamW where it is decoupled — which is not Keras's `weightDecay`.
    public var dampening = 0.0
    public var alpha = 0.99
    public var learningRateDecay = 0.0
    public var maximize = false
    public var torchWeightDecay = 0.0
    /// Decoupled weight decay `w ← w − w·wd·lr` before each update; any optimizer, AdamW by default 0.004.
    public var weightDecay: Double?
    public var clipnorm: Double?
    public var globalClipnorm: Double?
    public var clipvalue: Double?
    /// Keras's base-optimizer settings that wrap any rule (OptimizerConfig+Wrappers.swift, docs/numerics.md):
    /// an exponential moving average of the weights (`average` slots), optionally copied into the weights every
    /// `emaOverwriteFrequency` steps and at the end of every `fit`.
    public var useEMA = false
    public var emaMomentum = 0.99
    public var emaOverwriteFrequency: Int?
    /// Gradients summed over this many steps (`gradient_accumulator` slots) before one update with their mean;
    /// nil (Keras's None) updates every step.
    public var gradientAccumulationSteps: Int?
    /// A fixed loss scale: Keras multiplies the loss by it and divides the gradients by it again.
    public var lossScaleFactor: Double?
    /// Keras's `LossScaleOptimizer` around this optimizer: a dynamic loss scale with its own state.
    public var dynamicLossScale: DynamicLossScale?

    /// Keras's defaults for `kind`.
    public init(_ kind: OptimizerKind, learningRate: Double? = nil) {
        self.kind = kind
        switch kind {
        case .sgd: self.learningRate = learningRate ?? 0.01
        case .adamw:
            self.learningRate = learningRate ?? 0.001
            weightDecay = 0.004
        default: self.learningRate = learningRate ?? 0.001
        }
        if kind == .lion { beta2 = 0.99 }
        if kind == .adadelta { rho = 0.95 }
        if kind.isTorch { setTorchDefaults(learningRate: learningRate) }
    }

    /// The per-parameter state tensors this configuration keeps, in a fixed order (Keras's, so that Keras's
    /// optimizer variables map onto it directly: docs/keras-formats.md, optimizer variable order).
    public var slotNames: [String] {
        wrapperSlotNames + ruleSlotNames
    }

    /// The slots of the update rule itself, after the wrappers' `average` and `gradient_accumulator`.
    public var ruleSlotNames: [String] {
        switch kind {
        case .sgd: momentum != 0 ? ["momentum"] : []
        case .adam, .adamw: amsgrad ? ["momentum", "velocity", "velocity_hat"] : ["momentum", "velocity"]
        case .rmsprop:
            ["velocity"] + (momentum > 0 ? ["momentum"] : []) + (centered ? ["average_gradient"] : [])
        case .adagrad: ["accumulator"]
        case .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad: torchSlotNames
        default: moreSlotNames
        }
    }

    /// The hyperparameters that apply to `kind`, under the keys model files store them by (the native formats'
    /// keys, which are also Keras's config keys), in a fixed order.
    public var hyperparameters: [(key: String, value: Hyperparameter)] {
        // torch's kinds have none of Keras's base settings (clipping, decoupled decay, the wrappers).
        if kind.isTorch { return torchHyperparameters }
        var list: [(key: String, value: Hyperparameter)] = [("learning_rate", .number(learningRate))]
        switch kind {
        case .sgd:
            list += [("momentum", .number(momentum)), ("nesterov", .flag(nesterov))]
        case .adam, .adamw:
            list += [("beta_1", .number(beta1)), ("beta_2", .number(beta2)), ("epsilon", .number(epsilon)),
                     ("amsgrad", .flag(amsgrad))]
        case .rmsprop:
            list += [("rho", .number(rho)), ("momentum", .number(momentum)), ("epsilon", .number(epsilon)),
                     ("centered", .flag(centered))]
        case .adagrad:
            list += [("initial_accumulator_value", .number(initialAccumulatorValue)), ("epsilon", .number(epsilon))]
        default: list += moreHyperparameters
        }
        list += [("weight_decay", .optionalNumber(weightDecay)), ("clipnorm", .optionalNumber(clipnorm)),
                 ("global_clipnorm", .optionalNumber(globalClipnorm)), ("clipvalue", .optionalNumber(clipvalue))]
        return list + wrapperHyperparameters
    }

    /// Builds a configuration from the keys `hyperparameters` lists, following `schedule` if one is given.
    /// Unknown keys, keys that do not apply to `kind`, wrong value types and out-of-range values (the schedule's
    /// included) are errors, each naming the key.
    public init(_ kind: OptimizerKind, hyperparameters: [String: Hyperparameter],
                schedule: LearningRateSchedule? = nil) throws(OptimizerError) {
        self.init(kind)
        let allowed = Set(self.hyperparameters.map(\.key)).union(OptimizerConfig.wrapperKeys)
        try setDynamicLossScale(from: hyperparameters)
        for (key, value) in hyperparameters.sorted(by: { $0.key < $1.key }) {
            if OptimizerConfig.wrapperKeys.contains(key) {
                try setWrapperHyperparameter(key, value)
                continue
            }
            if kind.isTorch {
                try setTorchHyperparameter(key, value, allowed: allowed)
                continue
            }
            guard allowed.contains(key) else { throw .unknownHyperparameter(optimizer: kind.name, key: key, allowed: allowed.sorted()) }
            switch (key, value) {
            case ("nesterov", .flag(let flag)): nesterov = flag
            case ("amsgrad", .flag(let flag)): amsgrad = flag
            case ("centered", .flag(let flag)): centered = flag
            case ("nesterov", _), ("amsgrad", _), ("centered", _):
                throw .invalidHyperparameter(key: key, reason: "expected true or false")
            case ("weight_decay", _), ("clipnorm", _), ("global_clipnorm", _), ("clipvalue", _):
                let number: Double?
                switch value {
                case .number(let x): number = x
                case .optionalNumber(let x): number = x
                case .flag: throw .invalidHyperparameter(key: key, reason: "expected a number or null")
                }
                switch key {
                case "weight_decay": weightDecay = number
                case "clipnorm": clipnorm = number
                case "global_clipnorm": globalClipnorm = number
                default: clipvalue = number
                }
            default:
                guard case .number(let x) = value.normalized else {
                    throw .invalidHyperparameter(key: key, reason: "expected a number")
                }
                switch key {
                case "learning_rate": learningRate = x
                case "momentum": momentum = x
                case "beta_1": beta1 = x
                case "beta_2": beta2 = x
                case "epsilon": epsilon = x
                case "rho": rho = x
                case "initial_accumulator_value": initialAccumulatorValue = x
                default: setMoreHyperparameter(key, x)
                }
            }
        }
        if let schedule {
            // Property observers do not run in an initializer: the rate follows the schedule as `schedule` sets it.
            self.schedule = schedule
            learningRate = schedule.initialRate
        }
        try validate()
    }

    /// Rejects values Keras would reject, or that make the update meaningless.
    public func validate() throws(OptimizerError) {
        func require(_ ok: Bool, _ key: String, _ reason: String) throws(OptimizerError) {
            if !ok { throw .invalidHyperparameter(key: key, reason: reason) }
        }
        try Self.validate(learningRate: learningRate)
        // The float32 rule comes last, so that a value's own range, where it has one, gives the message.
        if kind.isTorch {
            try validateTorch()
            return try validateFloat32Range()
        }
        try schedule?.validate()
        try require(momentum.isFinite && momentum >= 0 && momentum <= 1, "momentum", "must be in [0, 1], got \(momentum)")
        if kind == .lion {
            // Keras refuses β₁ = 0 (Lion would become SignSGD); β₁ = 1 and β₂ = 1 are meaningful for Lion.
            try require(beta1.isFinite && beta1 > 0 && beta1 <= 1, "beta_1", "must be in (0, 1], got \(beta1)")
            try require(beta2.isFinite && beta2 >= 0 && beta2 <= 1, "beta_2", "must be in [0, 1], got \(beta2)")
        } else {
            try require(beta1.isFinite && beta1 >= 0 && beta1 < 1, "beta_1", "must be in [0, 1), got \(beta1)")
            try require(beta2.isFinite && beta2 >= 0 && beta2 < 1, "beta_2", "must be in [0, 1), got \(beta2)")
        }
        try require(rho.isFinite && rho >= 0 && rho <= 1, "rho", "must be in [0, 1], got \(rho)")
        try require(epsilon.isFinite && epsilon >= 0, "epsilon", "must be a finite number ≥ 0, got \(epsilon)")
        try require(initialAccumulatorValue.isFinite && initialAccumulatorValue >= 0, "initial_accumulator_value",
                    "must be a finite number ≥ 0, got \(initialAccumulatorValue)")
        for (key, value) in [("weight_decay", weightDecay), ("clipnorm", clipnorm),
                             ("global_clipnorm", globalClipnorm), ("clipvalue", clipvalue)] {
            if let value { try require(value.isFinite && value >= 0, key, "must be a finite number ≥ 0 or null, got \(value)") }
        }
        // Keras refuses this combination too: the two norms would fight.
        try require(clipnorm == nil || globalClipnorm == nil, "global_clipnorm", "cannot be set together with clipnorm")
        try validateMore()
        try validateWrappers()
        try validateFloat32Range()
    }
}

extension OptimizerConfig {
    /// The rule for a learning rate from anywhere (a file, a command's flag): a finite number ≥ 0 that float32
    /// can hold.
    public static func validate(learningRate: Double) throws(OptimizerError) {
        guard learningRate.isFinite && learningRate >= 0 else {
            throw .invalidHyperparameter(key: "learning_rate", reason: "must be a finite number ≥ 0, got \(learningRate)")
        }
        guard Float(learningRate).isFinite else {
            throw .invalidHyperparameter(key: "learning_rate", reason: beyondFloat32(learningRate))
        }
    }

    static func beyondFloat32(_ value: Double) -> String {
        "\(value) is beyond float32's range (±\(Float.greatestFiniteMagnitude)), in which model files store it"
    }

    /// Every real hyperparameter and schedule parameter must narrow to a finite float32: Keras keeps the learning
    /// rate (and a schedule's result) as a float32 variable and the models train in float32, so a value beyond
    /// ±3.4028235e38 could be stored by no writer and would turn into ±inf at the first step. One rule, here, so
    /// that every reader and every command flag goes through it.
    func validateFloat32Range() throws(OptimizerError) {
        func check(_ key: String, _ value: Double) throws(OptimizerError) {
            guard !value.isFinite || Float(value).isFinite else {
                throw .invalidHyperparameter(key: key, reason: Self.beyondFloat32(value))
            }
        }
        for (key, value) in hyperparameters {
            switch value {
            case .number(let x), .optionalNumber(let x?): try check(key, x)
            case .flag, .optionalNumber(nil): break
            }
        }
        guard let schedule else { return }
        // `parameters` lists every number a schedule has, so a new one is covered without a change here.
        for (key, value) in schedule.parameters {
            switch value {
            case .number(let x), .optionalNumber(let x?): try check("learning_rate (\(schedule.kind.name) \(key))", x)
            case .numbers(let list): for x in list { try check("learning_rate (\(schedule.kind.name) \(key))", x) }
            case .flag, .optionalNumber(nil): break
            }
        }
    }
}

/// A hyperparameter's value as model files carry it.
public enum Hyperparameter: Sendable, Equatable {
    case number(Double)
    case flag(Bool)
    case optionalNumber(Double?)

    var normalized: Hyperparameter {
        if case .optionalNumber(let x?) = self { return .number(x) }
        return self
    }
}

public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    case unknownOptimizer(String)
    case unknownHyperparameter(optimizer: String, key: String, allowed: [String])
    case invalidHyperparameter(key: String, reason: String)
    case invalidState(String)

    public var description: String {
        switch self {
        case .unknownOptimizer(let name):
            "unknown optimizer \"\(name)\"; supported: \(OptimizerKind.acceptedNames.joined(separator: ", "))"
        case .unknownHyperparameter(let optimizer, let key, let allowed):
            "\(optimizer) has no hyperparameter \"\(key)\"; it takes \(allowed.joined(separator: ", "))"
        case .invalidHyperparameter(let key, let reason):
            "optimizer hyperparameter \(key): \(reason)"
        case .invalidState(let reason):
            "optimizer state: \(reason)"
        }
    }
}
