import RealModule

/// The optimizers a model can carry, with Keras 3's update rules (keras-formats.md §3).
public enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd, adam, adamw, rmsprop, adagrad

    /// Accepts Keras's class names (`SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`) as well as the lower-case names.
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }

    public var name: String { rawValue }

    /// Keras's class name, used in Keras files.
    public var kerasClassName: String {
        switch self {
        case .sgd: "SGD"
        case .adam: "Adam"
        case .adamw: "AdamW"
        case .rmsprop: "RMSprop"
        case .adagrad: "Adagrad"
        }
    }

    public static var acceptedNames: [String] { allCases.map(\.rawValue) }
}

/// An optimizer's hyperparameters. Defaults are Keras's; `hyperparameters` lists exactly the ones that apply.
public struct OptimizerConfig: Sendable, Equatable {
    public var kind: OptimizerKind
    public var learningRate: Double
    /// SGD and RMSprop.
    public var momentum: Double = 0
    /// SGD.
    public var nesterov = false
    /// Adam and AdamW.
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var amsgrad = false
    /// RMSprop.
    public var rho = 0.9
    public var centered = false
    /// Adagrad.
    public var initialAccumulatorValue = 0.1
    /// Adam, AdamW, RMSprop, Adagrad.
    public var epsilon = 1e-7
    /// Decoupled weight decay `w ← w − w·wd·lr` before each update; any optimizer, AdamW by default 0.004.
    public var weightDecay: Double?
    public var clipnorm: Double?
    public var globalClipnorm: Double?
    public var clipvalue: Double?

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
    }

    /// The per-parameter state tensors this configuration keeps, in Keras's order (keras-formats.md §1 table).
    public var slotNames: [String] {
        switch kind {
        case .sgd: momentum != 0 ? ["momentum"] : []
        case .adam, .adamw: amsgrad ? ["momentum", "velocity", "velocity_hat"] : ["momentum", "velocity"]
        case .rmsprop:
            ["velocity"] + (momentum > 0 ? ["momentum"] : []) + (centered ? ["average_gradient"] : [])
        case .adagrad: ["accumulator"]
        }
    }

    /// The hyperparameters that apply to `kind`, under Keras's config keys, in Keras's order.
    public var hyperparameters: [(key: String, value: Hyperparameter)] {
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
        }
        list += [("weight_decay", .optionalNumber(weightDecay)), ("clipnorm", .optionalNumber(clipnorm)),
                 ("global_clipnorm", .optionalNumber(globalClipnorm)), ("clipvalue", .optionalNumber(clipvalue))]
        return list
    }

    /// Builds a configuration from Keras-style keys. Unknown keys, keys that do not apply to `kind`, wrong value
    /// types and out-of-range values are errors, each naming the key.
    public init(_ kind: OptimizerKind, hyperparameters: [String: Hyperparameter]) throws(OptimizerError) {
        self.init(kind)
        let allowed = Set(self.hyperparameters.map(\.key))
        for (key, value) in hyperparameters {
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
                default: initialAccumulatorValue = x
                }
            }
        }
        try validate()
    }

    /// Rejects values Keras would reject, or that make the update meaningless.
    public func validate() throws(OptimizerError) {
        func require(_ ok: Bool, _ key: String, _ reason: String) throws(OptimizerError) {
            if !ok { throw .invalidHyperparameter(key: key, reason: reason) }
        }
        try require(learningRate.isFinite && learningRate >= 0, "learning_rate", "must be a finite number ≥ 0, got \(learningRate)")
        try require(momentum.isFinite && momentum >= 0 && momentum <= 1, "momentum", "must be in [0, 1], got \(momentum)")
        try require(beta1.isFinite && beta1 >= 0 && beta1 < 1, "beta_1", "must be in [0, 1), got \(beta1)")
        try require(beta2.isFinite && beta2 >= 0 && beta2 < 1, "beta_2", "must be in [0, 1), got \(beta2)")
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

/// The optimizer's saved state: the step count and, per slot name, one tensor per trainable parameter
/// (in `Network.parameters` order, each shaped like its parameter).
public struct OptimizerState<T: MLPScalar>: Sendable, Equatable {
    /// Completed update steps (Keras's `iterations`).
    public var iterations: Int
    /// In `OptimizerConfig.slotNames` order.
    public var slots: [Slot]

    public struct Slot: Sendable, Equatable {
        public let name: String
        public var values: [[T]]

        public init(name: String, values: [[T]]) {
            self.name = name
            self.values = values
        }
    }

    public init(iterations: Int, slots: [Slot]) {
        self.iterations = iterations
        self.slots = slots
    }

    /// Fresh state: zero step, slots at their initial value (Adagrad's accumulator starts at
    /// `initial_accumulator_value`, everything else at zero).
    public init(config: OptimizerConfig, network: Network<T>) {
        let parameters = network.parameters
        iterations = 0
        slots = config.slotNames.map { name in
            let initial: T = name == "accumulator" ? T(config.initialAccumulatorValue) : 0
            return Slot(name: name, values: parameters.map { [T](repeating: initial, count: network[$0].count) })
        }
    }

    public subscript(slot name: String) -> [[T]]? {
        slots.first { $0.name == name }?.values
    }
}

/// Optimizer configuration and state, and the update step.
public struct Optimizer<T: MLPScalar>: Sendable, Equatable {
    public let config: OptimizerConfig
    public private(set) var state: OptimizerState<T>

    public init(config: OptimizerConfig, network: Network<T>) throws(OptimizerError) {
        try config.validate()
        self.config = config
        self.state = OptimizerState(config: config, network: network)
    }

    /// Restores saved state, checking it strictly against the configuration and network: missing, unexpected
    /// and wrongly sized slots are each reported by name.
    public init(config: OptimizerConfig, state: OptimizerState<T>, network: Network<T>) throws(OptimizerError) {
        try config.validate()
        guard state.iterations >= 0 else { throw .invalidState("iterations must be ≥ 0, got \(state.iterations)") }
        let expected = config.slotNames
        let present = state.slots.map(\.name)
        if let missing = expected.first(where: { !present.contains($0) }) {
            throw .invalidState("missing slot \"\(missing)\" (\(config.kind.name) keeps \(expected))")
        }
        if let unexpected = present.first(where: { !expected.contains($0) }) {
            throw .invalidState("unexpected slot \"\(unexpected)\" (\(config.kind.name) keeps \(expected))")
        }
        guard present.count == expected.count else { throw .invalidState("slot names repeat: \(present)") }
        let parameters = network.parameters
        for slot in state.slots {
            guard slot.values.count == parameters.count else {
                throw .invalidState("slot \"\(slot.name)\" has \(slot.values.count) tensors, the network has \(parameters.count) parameters")
            }
            for (values, parameter) in zip(slot.values, parameters) where values.count != network[parameter].count {
                throw .invalidState(
                    "slot \"\(slot.name)\" for \(network.name(of: parameter)): expected shape \(network.shape(of: parameter)), got \(values.count) values")
            }
        }
        self.config = config
        // Keep Keras's slot order whatever order the file had.
        self.state = OptimizerState(
            iterations: state.iterations,
            slots: expected.compactMap { name in state.slots.first { $0.name == name } })
    }

    /// One update of every parameter (`parameters` is `network.parameters`, passed in so that the training loop
    /// does not rebuild it each step) from its gradient, in Keras's order: clip → weight decay → update →
    /// `iterations += 1`. The gradient buffers are scratch: clipped in place, and RMSprop reuses them for its increments.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    mutating func apply(
        gradients: [UnsafeMutableBufferPointer<T>], of parameters: [ParameterID], to network: inout Network<T>
    ) {
        clip(gradients)
        let lr = T(config.learningRate)
        if let weightDecay = config.weightDecay {
            let wd = T(weightDecay)
            for parameter in parameters {
                network.withMutableValues(of: parameter) { w in
                    for i in w.indices { w[i] = w[i] - w[i] * wd * lr }
                }
            }
        }
        // Keras raises β to the float step `iterations + 1` in the variable's precision.
        let step = T(state.iterations + 1)
        let config = config
        for (index, parameter) in parameters.enumerated() {
            withSlots(parameter: index) { s0, s1, s2 in
                network.withMutableValues(of: parameter) { w in
                    Self.update(w, gradient: gradients[index], slots: (s0, s1, s2), config: config, step: step, learningRate: lr)
                }
            }
        }
        state.iterations += 1
    }

    /// Keras applies at most one kind of clipping: `clipnorm`, else `global_clipnorm`, else `clipvalue`.
    private func clip(_ gradients: [UnsafeMutableBufferPointer<T>]) {
        if let clipnorm = config.clipnorm, clipnorm > 0 {
            let limit = T(clipnorm)
            for g in gradients {
                let norm = sumOfSquares(g).squareRoot()
                // Keras writes g·c / max(‖g‖, c); XLA rewrites a division by a broadcast scalar into a product with
                // its reciprocal, so Keras on JAX computes (g·c)·(1 / max(‖g‖, c)), as here. An all-zero gradient
                // stays zero.
                guard norm > 0 else { continue }
                let reciprocal = 1 / max(norm, limit)
                for i in g.indices { g[i] = g[i] * limit * reciprocal }
            }
        } else if let globalClipnorm = config.globalClipnorm, globalClipnorm > 0 {
            let limit = T(globalClipnorm)
            var total: T = 0
            for g in gradients { total += sumOfSquares(g) }
            let norm = total.squareRoot()
            // Keras's 1 / global_clipnorm is a Python double, rounded once: T(1 / c), not 1 / T(c). For c = 0.13 the
            // two differ, and T(c) · T(1 / c) = 1 − 2⁻²⁴ shrinks even a gradient within the limit by an ulp.
            let scale = limit * min(1 / norm, T(1 / globalClipnorm))
            for g in gradients { for i in g.indices { g[i] *= scale } }
        } else if let clipvalue = config.clipvalue, clipvalue > 0 {
            let limit = T(clipvalue)
            for g in gradients { for i in g.indices { g[i] = min(max(g[i], -limit), limit) } }
        }
    }

    /// The per-parameter rule. `1 − β` and `1 − ρ` are formed in double precision and then rounded, because
    /// Keras computes them on Python floats; everything else runs in `T` like Keras's float32 variables.
    @inline(__always)
    private static func update(
        _ w: UnsafeMutableBufferPointer<T>, gradient g: UnsafeMutableBufferPointer<T>,
        slots: (UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?),
        config c: OptimizerConfig, step: T, learningRate lr: T
    ) {
        switch c.kind {
        case .sgd:
            guard let m = slots.0 else {
                for i in w.indices { w[i] -= g[i] * lr }
                return
            }
            let mu = T(c.momentum)
            if c.nesterov {
                for i in w.indices {
                    m[i] = m[i] * mu - g[i] * lr
                    w[i] += m[i] * mu - g[i] * lr
                }
            } else {
                for i in w.indices {
                    m[i] = m[i] * mu - g[i] * lr
                    w[i] += m[i]
                }
            }
        case .adam, .adamw:
            guard let m = slots.0?.baseAddress, let v = slots.1?.baseAddress else {
                preconditionFailure("Adam state has no momentum/velocity")
            }
            let beta1Power = T.pow(T(c.beta1), step)
            let beta2Power = T.pow(T(c.beta2), step)
            let alpha = lr * (1 - beta2Power).squareRoot() / (1 - beta1Power)
            let oneMinusBeta1 = T(1 - c.beta1), oneMinusBeta2 = T(1 - c.beta2), eps = T(c.epsilon)
            let count = w.count
            guard let w = w.baseAddress, let g = g.baseAddress else { return }
            // Two straight loops rather than an optional inside one, so the compiler vectorizes them.
            if let vHat = slots.2?.baseAddress {
                for i in 0..<count {
                    m[i] += (g[i] - m[i]) * oneMinusBeta1
                    v[i] += (g[i] * g[i] - v[i]) * oneMinusBeta2
                    vHat[i] = max(vHat[i], v[i])
                    w[i] -= m[i] * alpha / (vHat[i].squareRoot() + eps)
                }
            } else {
                for i in 0..<count {
                    m[i] += (g[i] - m[i]) * oneMinusBeta1
                    v[i] += (g[i] * g[i] - v[i]) * oneMinusBeta2
                    w[i] -= m[i] * alpha / (v[i].squareRoot() + eps)
                }
            }
        case .rmsprop:
            guard let velocity = slots.0?.baseAddress else { preconditionFailure("RMSprop state has no velocity") }
            let momentum = c.momentum > 0 ? slots.1?.baseAddress : nil
            let average = c.centered ? (c.momentum > 0 ? slots.2 : slots.1)?.baseAddress : nil
            let rho = T(c.rho), oneMinusRho = T(1 - c.rho), eps = T(c.epsilon), mu = T(c.momentum)
            let count = w.count
            guard let w = w.baseAddress, let g = g.baseAddress else { return }
            for i in 0..<count {
                velocity[i] = rho * velocity[i] + oneMinusRho * (g[i] * g[i])
            }
            // increment = lr·g / √den, computed into the gradient buffer (no longer needed afterwards).
            if let average {
                for i in 0..<count {
                    average[i] = rho * average[i] + oneMinusRho * g[i]
                    g[i] = lr * g[i] / (velocity[i] - average[i] * average[i] + eps).squareRoot()
                }
            } else {
                for i in 0..<count { g[i] = lr * g[i] / (velocity[i] + eps).squareRoot() }
            }
            if let momentum {
                for i in 0..<count {
                    momentum[i] = mu * momentum[i] + g[i]
                    w[i] -= momentum[i]
                }
            } else {
                for i in 0..<count { w[i] -= g[i] }
            }
        case .adagrad:
            guard let accumulator = slots.0 else { preconditionFailure("Adagrad state has no accumulator") }
            let eps = T(c.epsilon)
            for i in w.indices {
                accumulator[i] += g[i] * g[i]
                w[i] -= lr * g[i] / (accumulator[i] + eps).squareRoot()
            }
        }
    }

    /// Lends the (up to three) slot tensors of one parameter as mutable buffers. Each array is moved out of the
    /// state for the duration (an O(1) swap, no copy), so the three can be mutated side by side.
    private mutating func withSlots(
        parameter: Int,
        _ body: (UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?) -> Void
    ) {
        var a: [T] = [], b: [T] = [], c: [T] = []
        let count = state.slots.count
        if count > 0 { swap(&a, &state.slots[0].values[parameter]) }
        if count > 1 { swap(&b, &state.slots[1].values[parameter]) }
        if count > 2 { swap(&c, &state.slots[2].values[parameter]) }
        a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeMutableBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    body(count > 0 ? pa : nil, count > 1 ? pb : nil, count > 2 ? pc : nil)
                }
            }
        }
        if count > 0 { swap(&a, &state.slots[0].values[parameter]) }
        if count > 1 { swap(&b, &state.slots[1].values[parameter]) }
        if count > 2 { swap(&c, &state.slots[2].values[parameter]) }
    }
}

@inline(__always)
private func sumOfSquares<T: MLPScalar>(_ values: UnsafeMutableBufferPointer<T>) -> T {
    var total: T = 0
    for x in values { total += x * x }
    return total
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
