/// The loss functions by name: the notes' half squared error and Keras's built-ins.
///
/// Keras's losses reduce "sum over batch size": a per-sample value (the mean over outputs for the elementwise
/// losses, a sum or a single value per row for the row losses), then the mean over the batch — so their `∇Y`
/// carries `1/B`. The notes' loss is a plain sum, `½‖Y − Y*‖²` over every output of every sample
/// (docs/numerics.md, losses).
public enum LossKind: String, NamedChoice {
    case halfSquaredError = "half_squared_error"
    case meanSquaredError = "mean_squared_error"
    case meanAbsoluteError = "mean_absolute_error"
    case meanAbsolutePercentageError = "mean_absolute_percentage_error"
    case meanSquaredLogarithmicError = "mean_squared_logarithmic_error"
    case huber
    case logCosh = "log_cosh"
    case binaryCrossentropy = "binary_crossentropy"
    case categoricalCrossentropy = "categorical_crossentropy"
    case sparseCategoricalCrossentropy = "sparse_categorical_crossentropy"
    case klDivergence = "kl_divergence"
    case poisson
    case hinge
    case squaredHinge = "squared_hinge"
    case categoricalHinge = "categorical_hinge"
    case cosineSimilarity = "cosine_similarity"

    /// Keras's short and legacy names.
    public static var aliases: [(name: String, choice: LossKind)] {
        [("mse", .meanSquaredError), ("mae", .meanAbsoluteError), ("mape", .meanAbsolutePercentageError),
         ("msle", .meanSquaredLogarithmicError), ("bce", .binaryCrossentropy), ("kld", .klDivergence),
         ("kullback_leibler_divergence", .klDivergence), ("logcosh", .logCosh), ("huber_loss", .huber)]
    }

    /// The cross-entropies, which can take logits instead of probabilities.
    public var acceptsLogits: Bool {
        self == .binaryCrossentropy || self == .categoricalCrossentropy || self == .sparseCategoricalCrossentropy
    }

    /// Binary and categorical cross-entropy smooth their targets; Keras's sparse one has no such setting.
    public var acceptsLabelSmoothing: Bool { self == .binaryCrossentropy || self == .categoricalCrossentropy }
}

/// A loss with its settings: Keras's `from_logits` and `label_smoothing` for the cross-entropies, `delta` for
/// Huber. Every setting that does not apply to the loss keeps its default, so two equal losses compute the same.
public struct Loss: Sendable, Hashable, CustomStringConvertible {
    public let kind: LossKind
    /// Predictions are logits: the cross-entropy applies a (log-)sigmoid or (log-)softmax itself.
    public let fromLogits: Bool
    /// Targets become `t·(1 − s) + s/2` (binary) or `t·(1 − s) + s/K` (categorical, K classes) inside the loss.
    public let labelSmoothing: Double
    /// Huber's switch from quadratic to linear.
    public let delta: Double

    public static let defaultDelta = 1.0

    /// The loss with every setting at its default.
    public init(_ kind: LossKind) {
        self.kind = kind
        fromLogits = false
        labelSmoothing = 0
        delta = Self.defaultDelta
    }

    /// Refuses settings the loss does not have and values outside their range, naming the loss.
    public init(_ kind: LossKind, fromLogits: Bool = false, labelSmoothing: Double = 0,
                delta: Double = Loss.defaultDelta) throws(LossError) {
        if fromLogits, !kind.acceptsLogits {
            throw LossError(kind: kind, reason: "has no from_logits setting (only the cross-entropies take logits)")
        }
        if labelSmoothing != 0 {
            guard kind.acceptsLabelSmoothing else {
                throw LossError(kind: kind, reason: kind == .sparseCategoricalCrossentropy
                    ? "has no label smoothing (Keras's sparse categorical cross-entropy has none; use one-hot targets "
                        + "with categorical_crossentropy)"
                    : "has no label smoothing (only binary and categorical cross-entropy have one)")
            }
            guard labelSmoothing > 0, labelSmoothing <= 1 else {
                throw LossError(kind: kind, reason: "label_smoothing must be in [0, 1], got \(labelSmoothing)")
            }
        }
        if delta != Self.defaultDelta {
            guard kind == .huber else { throw LossError(kind: kind, reason: "has no delta (only huber has one)") }
            guard delta > 0, delta.isFinite else {
                throw LossError(kind: kind, reason: "delta must be a positive finite number, got \(delta)")
            }
        }
        self.kind = kind
        self.fromLogits = fromLogits
        // -0 would print as a setting and compare unequal in hashing otherwise.
        self.labelSmoothing = labelSmoothing == 0 ? 0 : labelSmoothing
        self.delta = delta
    }

    /// A loss by name (or alias), with default settings.
    public init?(name: String) {
        guard let kind = LossKind(name: name) else { return nil }
        self.init(kind)
    }

    public static var acceptedNames: [String] { LossKind.acceptedNames }

    /// The name model files store.
    public var name: String { kind.name }

    /// Whether every setting is its default: then the name alone describes the loss.
    public var hasDefaultSettings: Bool { self == Loss(kind) }

    /// The settings that differ from their defaults, as `name value` phrases (`from_logits`, `label_smoothing 0.1`).
    public var settingsDescription: [String] {
        var parts: [String] = []
        if fromLogits { parts.append("from_logits") }
        if labelSmoothing != 0 { parts.append("label_smoothing \(labelSmoothing)") }
        if delta != Self.defaultDelta { parts.append("delta \(delta)") }
        return parts
    }

    /// `binary_crossentropy (from_logits, label_smoothing 0.1)`, or the plain name.
    public var description: String {
        let settings = settingsDescription
        return settings.isEmpty ? name : "\(name) (\(settings.joined(separator: ", ")))"
    }

    public static let halfSquaredError = Loss(.halfSquaredError)
    public static let meanSquaredError = Loss(.meanSquaredError)
    public static let meanAbsoluteError = Loss(.meanAbsoluteError)
    public static let meanAbsolutePercentageError = Loss(.meanAbsolutePercentageError)
    public static let meanSquaredLogarithmicError = Loss(.meanSquaredLogarithmicError)
    public static let huber = Loss(.huber)
    public static let logCosh = Loss(.logCosh)
    public static let binaryCrossentropy = Loss(.binaryCrossentropy)
    public static let categoricalCrossentropy = Loss(.categoricalCrossentropy)
    public static let sparseCategoricalCrossentropy = Loss(.sparseCategoricalCrossentropy)
    public static let klDivergence = Loss(.klDivergence)
    public static let poisson = Loss(.poisson)
    public static let hinge = Loss(.hinge)
    public static let squaredHinge = Loss(.squaredHinge)
    public static let categoricalHinge = Loss(.categoricalHinge)
    public static let cosineSimilarity = Loss(.cosineSimilarity)

    /// Keras clips probabilities to [ε, 1 − ε] before taking logarithms (`keras.config.epsilon()`), and uses the
    /// same ε as a floor elsewhere (MAPE's divisor, MSLE's and KLD's clipping, Poisson's log).
    static let probabilityEpsilon = 1e-7

    /// Columns a target row has for a network with `outputWidth` outputs: one class index for the sparse loss.
    public func targetWidth(outputWidth: Int) -> Int {
        kind == .sparseCategoricalCrossentropy ? 1 : outputWidth
    }

    /// Whether targets are class labels (validated as indices for the sparse loss).
    public var takesLabels: Bool { kind == .categoricalCrossentropy || kind == .sparseCategoricalCrossentropy }

    /// Whether `accuracy` is a meaningful metric, and how it is computed.
    ///
    /// Keras's `accuracy` sees the model's raw outputs whatever the loss's `from_logits`: argmax does not care,
    /// and binary accuracy thresholds at 0.5 — on logits too, where that means p > σ(0.5) ≈ 0.62 rather than
    /// p > 0.5. mlpconv reports what Keras reports.
    public var accuracyKind: AccuracyKind? {
        switch kind {
        case .categoricalCrossentropy: .categorical
        case .sparseCategoricalCrossentropy: .sparseCategorical
        case .binaryCrossentropy: .binary
        default: nil
        }
    }

    public enum AccuracyKind: Sendable {
        /// argmax(y) == argmax(y*)
        case categorical
        /// argmax(y) == label
        case sparseCategorical
        /// (y > 0.5) == (y* > 0.5), averaged over every output (Keras's `binary_accuracy`)
        case binary
    }
}

/// A loss setting that the loss does not have or whose value is out of range.
public struct LossError: Error, CustomStringConvertible, Equatable {
    public var kind: LossKind
    public var reason: String

    public var description: String { "loss \(kind.name) \(reason)" }
}

extension Loss {
    /// Number of correct predictions in a block (for accuracy) and how many predictions were judged.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func correctPredictions<T: MLPScalar>(
        predictions y: UnsafePointer<T>, targets t: UnsafePointer<T>, rows: Int, width: Int
    ) -> (correct: Int, judged: Int)? {
        guard let kind = accuracyKind else { return nil }
        var correct = 0
        switch kind {
        case .binary:
            for i in 0..<rows * width where (y[i] > T(0.5)) == (t[i] > T(0.5)) { correct += 1 }
            return (correct, rows * width)
        case .categorical, .sparseCategorical:
            for r in 0..<rows {
                let predicted = argmax(y + r * width, count: width)
                let expected = kind == .sparseCategorical ? Int(t[r]) : argmax(t + r * width, count: width)
                if predicted == expected { correct += 1 }
            }
            return (correct, rows)
        }
    }
}

/// First index of the largest value (NaN never wins), as numpy's argmax on finite rows.
@inline(__always)
func argmax<T: MLPScalar>(_ values: UnsafePointer<T>, count: Int) -> Int {
    var best = 0
    for j in 1..<max(count, 1) where values[j] > values[best] { best = j }
    return best
}
