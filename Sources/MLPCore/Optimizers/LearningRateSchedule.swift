/// The learning-rate schedules an optimizer can follow instead of a constant rate: the rate as a function of the
/// optimizer's step (its `iterations` before the update), with Keras 3's six built-in schedules' parameters,
/// defaults and arithmetic (docs/keras-formats.md, learning-rate schedules). How the rate is computed is in
/// LearningRateSchedule+Evaluation.swift.
public enum ScheduleKind: String, NamedChoice {
    case exponentialDecay = "exponential_decay"
    case piecewiseConstantDecay = "piecewise_constant_decay"
    case polynomialDecay = "polynomial_decay"
    case inverseTimeDecay = "inverse_time_decay"
    case cosineDecay = "cosine_decay"
    case cosineDecayRestarts = "cosine_decay_restarts"
}

/// A schedule parameter's value as model files and the command line carry it.
public enum ScheduleParameter: Sendable, Equatable {
    case number(Double)
    case flag(Bool)
    /// A number or null (`warmup_target`).
    case optionalNumber(Double?)
    /// A list of numbers (`boundaries`, `values`).
    case numbers([Double])
}

public struct LearningRateSchedule: Sendable, Equatable {
    public var kind: ScheduleKind
    /// The rate at step 0 (every kind but piecewise_constant_decay, whose first value plays that part).
    public var initialLearningRate = 0.0
    /// Steps per decay period: `decay_steps`, or `first_decay_steps` for cosine_decay_restarts. Any number > 0.
    public var decaySteps = 1.0
    /// exponential_decay, inverse_time_decay.
    public var decayRate = 0.0
    public var staircase = false
    /// piecewise_constant_decay: `values[i]` applies while step ≤ `boundaries[i]` (and after the previous one).
    public var boundaries: [Double] = []
    public var values: [Double] = []
    /// polynomial_decay.
    public var endLearningRate = 0.0001
    public var power = 1.0
    public var cycle = false
    /// cosine_decay, cosine_decay_restarts: the floor, as a fraction of the rate decayed from.
    public var alpha = 0.0
    /// cosine_decay: a linear warmup from `initialLearningRate` to this rate over `warmupSteps`, then the decay.
    public var warmupTarget: Double?
    public var warmupSteps = 0.0
    /// cosine_decay_restarts: each period is `tMul` times the previous one, its peak `mMul` times the previous.
    public var tMul = 2.0
    public var mMul = 1.0

    public init(_ kind: ScheduleKind) {
        self.kind = kind
    }

    public static func exponentialDecay(initialLearningRate: Double, decaySteps: Double, decayRate: Double,
                                        staircase: Bool = false) -> LearningRateSchedule {
        var schedule = LearningRateSchedule(.exponentialDecay)
        (schedule.initialLearningRate, schedule.decaySteps, schedule.decayRate) = (initialLearningRate, decaySteps, decayRate)
        schedule.staircase = staircase
        return schedule
    }

    public static func piecewiseConstantDecay(boundaries: [Double], values: [Double]) -> LearningRateSchedule {
        var schedule = LearningRateSchedule(.piecewiseConstantDecay)
        (schedule.boundaries, schedule.values) = (boundaries, values)
        return schedule
    }

    public static func polynomialDecay(initialLearningRate: Double, decaySteps: Double, endLearningRate: Double = 0.0001,
                                       power: Double = 1, cycle: Bool = false) -> LearningRateSchedule {
        var schedule = LearningRateSchedule(.polynomialDecay)
        (schedule.initialLearningRate, schedule.decaySteps) = (initialLearningRate, decaySteps)
        (schedule.endLearningRate, schedule.power, schedule.cycle) = (endLearningRate, power, cycle)
        return schedule
    }

    public static func inverseTimeDecay(initialLearningRate: Double, decaySteps: Double, decayRate: Double,
                                        staircase: Bool = false) -> LearningRateSchedule {
        var schedule = exponentialDecay(initialLearningRate: initialLearningRate, decaySteps: decaySteps,
                                        decayRate: decayRate, staircase: staircase)
        schedule.kind = .inverseTimeDecay
        return schedule
    }

    public static func cosineDecay(initialLearningRate: Double, decaySteps: Double, alpha: Double = 0,
                                   warmupTarget: Double? = nil, warmupSteps: Double = 0) -> LearningRateSchedule {
        var schedule = LearningRateSchedule(.cosineDecay)
        (schedule.initialLearningRate, schedule.decaySteps, schedule.alpha) = (initialLearningRate, decaySteps, alpha)
        (schedule.warmupTarget, schedule.warmupSteps) = (warmupTarget, warmupSteps)
        return schedule
    }

    public static func cosineDecayRestarts(initialLearningRate: Double, firstDecaySteps: Double, tMul: Double = 2,
                                           mMul: Double = 1, alpha: Double = 0) -> LearningRateSchedule {
        var schedule = LearningRateSchedule(.cosineDecayRestarts)
        (schedule.initialLearningRate, schedule.decaySteps, schedule.alpha) = (initialLearningRate, firstDecaySteps, alpha)
        (schedule.tMul, schedule.mMul) = (tMul, mMul)
        return schedule
    }

    /// The rate the schedule starts from: `values[0]` for piecewise_constant_decay, else `initialLearningRate`.
    public var initialRate: Double {
        kind == .piecewiseConstantDecay ? values.first ?? 0 : initialLearningRate
    }

    /// The parameters of `kind`, under the keys model files store them by (which are Keras's config keys), in
    /// Keras's order.
    public var parameters: [(key: String, value: ScheduleParameter)] {
        switch kind {
        case .exponentialDecay, .inverseTimeDecay:
            [("initial_learning_rate", .number(initialLearningRate)), ("decay_steps", .number(decaySteps)),
             ("decay_rate", .number(decayRate)), ("staircase", .flag(staircase))]
        case .piecewiseConstantDecay:
            [("boundaries", .numbers(boundaries)), ("values", .numbers(values))]
        case .polynomialDecay:
            [("initial_learning_rate", .number(initialLearningRate)), ("decay_steps", .number(decaySteps)),
             ("end_learning_rate", .number(endLearningRate)), ("power", .number(power)), ("cycle", .flag(cycle))]
        case .cosineDecay:
            [("initial_learning_rate", .number(initialLearningRate)), ("decay_steps", .number(decaySteps)),
             ("alpha", .number(alpha)), ("warmup_target", .optionalNumber(warmupTarget)),
             ("warmup_steps", .number(warmupSteps))]
        case .cosineDecayRestarts:
            [("initial_learning_rate", .number(initialLearningRate)), ("first_decay_steps", .number(decaySteps)),
             ("t_mul", .number(tMul)), ("m_mul", .number(mMul)), ("alpha", .number(alpha))]
        }
    }

    /// The parameters a file or command must give (Keras's constructors have no default for them).
    public var requiredKeys: [String] {
        switch kind {
        case .exponentialDecay, .inverseTimeDecay: ["initial_learning_rate", "decay_steps", "decay_rate"]
        case .piecewiseConstantDecay: ["boundaries", "values"]
        case .polynomialDecay, .cosineDecay: ["initial_learning_rate", "decay_steps"]
        case .cosineDecayRestarts: ["initial_learning_rate", "first_decay_steps"]
        }
    }

    /// Builds a schedule from the keys `parameters` lists: the required ones must be there, the others default as
    /// in Keras. Unknown keys, wrong value types and out-of-range values are errors naming the key.
    public init(_ kind: ScheduleKind, parameters given: [String: ScheduleParameter]) throws(OptimizerError) {
        self.init(kind)
        let allowed = parameters.map(\.key)
        for key in given.keys.sorted() where !allowed.contains(key) {
            throw .unknownHyperparameter(optimizer: kind.name, key: key, allowed: allowed)
        }
        for key in requiredKeys where given[key] == nil {
            throw invalid("needs \(key) (it takes \(allowed.joined(separator: ", ")))")
        }
        for (key, value) in given {
            switch key {
            case "staircase", "cycle":
                guard case .flag(let flag) = value else { throw invalid("\(key) must be true or false") }
                if key == "cycle" { cycle = flag } else { staircase = flag }
            case "boundaries", "values":
                guard case .numbers(let list) = value else { throw invalid("\(key) must be a list of numbers") }
                if key == "values" { values = list } else { boundaries = list }
            case "warmup_target":
                switch value {
                case .number(let x), .optionalNumber(let x?): warmupTarget = x
                case .optionalNumber(nil): warmupTarget = nil
                default: throw invalid("warmup_target must be a number or null")
                }
            default:
                let number: Double
                switch value {
                case .number(let x), .optionalNumber(let x?): number = x
                default: throw invalid("\(key) must be a number")
                }
                switch key {
                case "initial_learning_rate": initialLearningRate = number
                case "decay_steps", "first_decay_steps": decaySteps = number
                case "decay_rate": decayRate = number
                case "end_learning_rate": endLearningRate = number
                case "power": power = number
                case "alpha": alpha = number
                case "warmup_steps": warmupSteps = number
                case "t_mul": tMul = number
                default: mMul = number
                }
            }
        }
        try validate()
    }

    /// Refuses what Keras refuses (decay steps ≤ 0, boundaries and values of mismatched lengths) and what would
    /// make the rate meaningless from some step on (negative rates, a polynomial power < 0 or a restart period
    /// factor < 1, which end in an infinite or NaN rate).
    public func validate() throws(OptimizerError) {
        func require(_ ok: Bool, _ reason: @autoclosure () -> String) throws(OptimizerError) {
            if !ok { throw invalid(reason()) }
        }
        func rate(_ key: String, _ x: Double) throws(OptimizerError) {
            try require(x.isFinite && x >= 0, "\(key) must be a finite number ≥ 0, got \(x)")
        }
        let stepsKey = kind == .cosineDecayRestarts ? "first_decay_steps" : "decay_steps"
        switch kind {
        case .piecewiseConstantDecay:
            try require(!boundaries.isEmpty, "needs at least one boundary")
            try require(values.count == boundaries.count + 1, "needs one value more than boundaries, got "
                        + "\(boundaries.count) boundaries and \(values.count) values")
            for value in values { try rate("values", value) }
            // Keras compares the int32 step with each boundary cast to int32.
            for boundary in boundaries {
                try require(boundary.isFinite && boundary >= Double(Int32.min) && boundary < Double(Int32.max) + 1,
                            "boundaries must be finite numbers within the int32 step counter's range, got \(boundary)")
            }
        default:
            try rate("initial_learning_rate", initialLearningRate)
            try require(decaySteps.isFinite && decaySteps > 0, "\(stepsKey) must be a finite number > 0, got \(decaySteps)")
        }
        switch kind {
        case .exponentialDecay, .inverseTimeDecay:
            try rate("decay_rate", decayRate)
        case .polynomialDecay:
            try rate("end_learning_rate", endLearningRate)
            try require(power.isFinite && power >= 0, "power must be a finite number ≥ 0, got \(power) (a negative "
                        + "power makes the rate infinite once the decay completes)")
        case .cosineDecay:
            try require(alpha.isFinite, "alpha must be a finite number, got \(alpha)")
            if let warmupTarget { try rate("warmup_target", warmupTarget) }
            try require(warmupSteps.isFinite && warmupSteps >= 0, "warmup_steps must be a finite number ≥ 0, got \(warmupSteps)")
        case .cosineDecayRestarts:
            try require(alpha.isFinite, "alpha must be a finite number, got \(alpha)")
            try require(tMul.isFinite && tMul >= 1, "t_mul must be a finite number ≥ 1, got \(tMul) (with t_mul < 1 the "
                        + "periods shrink and the rate becomes NaN after finitely many steps)")
            try rate("m_mul", mMul)
        case .piecewiseConstantDecay:
            break
        }
    }

    private func invalid(_ reason: String) -> OptimizerError {
        .invalidHyperparameter(key: "learning_rate", reason: "\(kind.name) \(reason)")
    }

    /// `kind(key=value, …)`, as `inspect` and messages show it.
    public var summary: String {
        func text(_ x: Double) -> String {
            x.rounded() == x && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
        }
        let items = parameters.map { key, value -> String in
            switch value {
            case .number(let x): "\(key)=\(text(x))"
            case .flag(let flag): "\(key)=\(flag)"
            case .optionalNumber(let x): "\(key)=\(x.map(text) ?? "none")"
            case .numbers(let list): "\(key)=\(list.map(text).joined(separator: "/"))"
            }
        }
        return "\(kind.name)(\(items.joined(separator: ", ")))"
    }
}
