/// What a layer computes, without its weights: the settings a model file stores for it.
///
/// A network is a chain: each layer reads the previous layer's output row (the model's input for the first).
/// Only Dense changes the width; the others keep it.
public enum LayerKind: Sendable, Equatable {
    /// `y = f(x @ W + b)` (docs/numerics.md, batch forward/backward).
    case dense(DenseSettings)
    /// `y = f(x)` on its own, for activations that follow a normalization.
    case activation(Activation)
    /// Inverted dropout while training, identity otherwise.
    case dropout(DropoutSettings)
    /// Normalizes each feature over the batch while training (and updates moving statistics), with the moving
    /// statistics at inference.
    case batchNormalization(BatchNormalizationSettings)
    /// Normalizes each row over its features.
    case layerNormalization(LayerNormalizationSettings)
    /// Identity on flat rows; it records that the input had more than one axis (the document keeps the shape).
    case flatten

    /// The type name native files store and the stem of default layer names (`dense`, `dense_1`, …).
    public var typeName: String {
        switch self {
        case .dense: "dense"
        case .activation: "activation"
        case .dropout: "dropout"
        case .batchNormalization: "batch_normalization"
        case .layerNormalization: "layer_normalization"
        case .flatten: "flatten"
        }
    }

    public static let typeNames = ["dense", "activation", "dropout", "batch_normalization", "layer_normalization", "flatten"]

    public func outputWidth(inputWidth: Int) -> Int {
        if case .dense(let dense) = self { return dense.units }
        return inputWidth
    }

    /// The layer's weight tensors in the order files store them (Keras's variable order): trainable ones get
    /// optimizer slots, the others (moving statistics) are updated by the layer itself.
    public func variables(inputWidth: Int) -> [VariableSpec] {
        switch self {
        case .dense(let dense):
            [VariableSpec(name: "kernel", shape: [inputWidth, dense.units], trainable: true)]
                + (dense.useBias ? [VariableSpec(name: "bias", shape: [dense.units], trainable: true)] : [])
        case .batchNormalization(let bn):
            (bn.scale ? [VariableSpec(name: "gamma", shape: [inputWidth], trainable: true)] : [])
                + (bn.center ? [VariableSpec(name: "beta", shape: [inputWidth], trainable: true)] : [])
                + [VariableSpec(name: "moving_mean", shape: [inputWidth], trainable: false),
                   VariableSpec(name: "moving_variance", shape: [inputWidth], trainable: false)]
        case .layerNormalization(let ln):
            (ln.scale ? [VariableSpec(name: "gamma", shape: [inputWidth], trainable: true)] : [])
                + (ln.center ? [VariableSpec(name: "beta", shape: [inputWidth], trainable: true)] : [])
        case .activation, .dropout, .flatten:
            []
        }
    }

    /// Rejects settings the layer cannot compute with; `layer` names it in the error.
    public func validate(layer: String) throws(NetworkError) {
        func require(_ ok: Bool, _ setting: String, _ reason: String) throws(NetworkError) {
            if !ok { throw .invalidSetting(layer: layer, setting: setting, reason: reason) }
        }
        switch self {
        case .dense(let dense):
            try require(dense.units > 0, "units", "must be a positive integer, got \(dense.units)")
            for (key, regularizer) in [("kernel_regularizer", dense.kernelRegularizer), ("bias_regularizer", dense.biasRegularizer),
                                       ("activity_regularizer", dense.activityRegularizer)] {
                if let reason = regularizer?.problem { try require(false, key, reason) }
            }
            if let reason = dense.kernelConstraint?.problem(rank: 2) { try require(false, "kernel_constraint", reason) }
            if let reason = dense.biasConstraint?.problem(rank: 1) { try require(false, "bias_constraint", reason) }
        case .dropout(let dropout):
            try require(dropout.rate.isFinite && dropout.rate >= 0 && dropout.rate < 1, "rate",
                        "must be in [0, 1), got \(dropout.rate)")
        case .batchNormalization(let bn):
            try require(bn.momentum.isFinite && bn.momentum >= 0 && bn.momentum <= 1, "momentum",
                        "must be in [0, 1], got \(bn.momentum)")
            try require(bn.epsilon.isFinite && bn.epsilon > 0 && fitsFloat32(bn.epsilon), "epsilon",
                        "must be a finite number > 0 within float32's range, got \(bn.epsilon)")
        case .layerNormalization(let ln):
            try require(ln.epsilon.isFinite && ln.epsilon > 0 && fitsFloat32(ln.epsilon), "epsilon",
                        "must be a finite number > 0 within float32's range, got \(ln.epsilon)")
        case .activation, .flatten:
            break
        }
    }

    public var dense: DenseSettings? {
        if case .dense(let settings) = self { return settings }
        return nil
    }
}

/// One weight tensor of a layer.
public struct VariableSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    /// Whether the optimizer updates it (and keeps slots for it).
    public var trainable: Bool

    public init(name: String, shape: [Int], trainable: Bool) {
        self.name = name
        self.shape = shape
        self.trainable = trainable
    }

    public var count: Int { shape.reduce(1, *) }
}

public struct DenseSettings: Sendable, Equatable {
    public var units: Int
    public var activation: Activation
    public var useBias: Bool
    public var kernelInitializer: Initializer
    public var biasInitializer: Initializer
    /// Penalties added to the loss (and their gradients to the parameters' gradients).
    public var kernelRegularizer: Regularizer?
    public var biasRegularizer: Regularizer?
    /// A penalty on the layer's output, divided by the batch size (as Keras 3 does).
    public var activityRegularizer: Regularizer?
    /// Projections applied to the parameter after every optimizer step.
    public var kernelConstraint: Constraint?
    public var biasConstraint: Constraint?

    public init(
        units: Int, activation: Activation = .linear, useBias: Bool = true,
        kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros,
        kernelRegularizer: Regularizer? = nil, biasRegularizer: Regularizer? = nil, activityRegularizer: Regularizer? = nil,
        kernelConstraint: Constraint? = nil, biasConstraint: Constraint? = nil
    ) {
        self.units = units
        self.activation = activation
        self.useBias = useBias
        self.kernelInitializer = kernelInitializer
        self.biasInitializer = biasInitializer
        self.kernelRegularizer = kernelRegularizer
        self.biasRegularizer = biasRegularizer
        self.activityRegularizer = activityRegularizer
        self.kernelConstraint = kernelConstraint
        self.biasConstraint = biasConstraint
    }
}

public struct DropoutSettings: Sendable, Equatable {
    /// The fraction of inputs zeroed while training; the kept ones are scaled by `1 / (1 − rate)`.
    public var rate: Double
    /// The seed a file stored for the layer's own generator. Kept for the round trip only: masks come from the
    /// model's generator, so that a resumed run continues its sequence.
    public var seed: Int?

    public init(rate: Double, seed: Int? = nil) {
        self.rate = rate
        self.seed = seed
    }
}

public struct BatchNormalizationSettings: Sendable, Equatable {
    /// `moving ← moving·momentum + batch·(1 − momentum)` after each training step.
    public var momentum: Double
    public var epsilon: Double
    /// Whether the layer has `beta` (an offset) and `gamma` (a scale).
    public var center: Bool
    public var scale: Bool
    /// The moving variance takes the unbiased batch variance, `n/(n − 1)` times the biased one the batch is
    /// normalized with, as torch's BatchNorm1d updates `running_var`; Keras (the default) takes the biased one.
    /// torch's `momentum` m is `1 − momentum` here.
    public var unbiasedMovingVariance: Bool

    public init(momentum: Double = 0.99, epsilon: Double = 1e-3, center: Bool = true, scale: Bool = true,
                unbiasedMovingVariance: Bool = false) {
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.unbiasedMovingVariance = unbiasedMovingVariance
    }
}

public struct LayerNormalizationSettings: Sendable, Equatable {
    public var epsilon: Double
    public var center: Bool
    public var scale: Bool

    public init(epsilon: Double = 1e-3, center: Bool = true, scale: Bool = true) {
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
    }
}
