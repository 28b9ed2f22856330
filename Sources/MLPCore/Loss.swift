/// The loss functions by name: the notes' half squared error, Keras's built-ins, and the torch losses Keras has no
/// form for (`cross_entropy`, `nll_loss`, `smooth_l1_loss` with β ≠ 1). torch's other losses are Keras losses with
/// settings and are accepted by their torch names (`Loss.torchNames`).
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
    /// torch's `CrossEntropyLoss` on logits: class indices (one target column) or class probabilities (one per
    /// output), told apart by the targets' width as torch tells them apart by their shape.
    case crossEntropy = "cross_entropy"
    /// torch's `NLLLoss`: predictions are log-probabilities, targets class indices; −mean of the picked entries.
    case nllLoss = "nll_loss"
    /// torch's `SmoothL1Loss` with β ≠ 1: Huber with δ = β, divided by β. With β = 1 it is Huber and is stored so.
    case smoothL1 = "smooth_l1_loss"

    /// Keras's short and legacy names.
    public static var aliases: [(name: String, choice: LossKind)] {
        [("mse", .meanSquaredError), ("mae", .meanAbsoluteError), ("mape", .meanAbsolutePercentageError),
         ("msle", .meanSquaredLogarithmicError), ("bce", .binaryCrossentropy), ("kld", .klDivergence),
         ("kullback_leibler_divergence", .klDivergence), ("logcosh", .logCosh), ("huber_loss", .huber)]
    }

    /// The names a Keras file may give a loss: every accepted name but the torch-only kinds'.
    public static var kerasNames: [String] {
        allCases.filter { !$0.isTorchOnly }.map(\.rawValue) + aliases.map(\.name)
    }

    /// The kinds only torch has: Keras files cannot hold them.
    public var isTorchOnly: Bool { self == .crossEntropy || self == .nllLoss || self == .smoothL1 }

    /// The cross-entropies, which can take logits instead of probabilities.
    public var acceptsLogits: Bool {
        self == .binaryCrossentropy || self == .categoricalCrossentropy || self == .sparseCategoricalCrossentropy
    }

    /// Binary and categorical cross-entropy smooth their targets; Keras's sparse one has no such setting.
    public var acceptsLabelSmoothing: Bool { self == .binaryCrossentropy || self == .categoricalCrossentropy }
}

/// A loss with its settings: Keras's `from_logits` and `label_smoothing` for the cross-entropies, `delta` for
/// Huber, torch's `beta` for SmoothL1. Every setting that does not apply to the loss keeps its default, so two equal
/// losses compute the same.
public struct Loss: Sendable, Hashable, CustomStringConvertible {
    public let kind: LossKind
    /// Predictions are logits: the cross-entropy applies a (log-)sigmoid or (log-)softmax itself.
    public let fromLogits: Bool
    /// Targets become `t·(1 − s) + s/2` (binary) or `t·(1 − s) + s/K` (categorical, K classes) inside the loss.
    public let labelSmoothing: Double
    /// Huber's switch from quadratic to linear.
    public let delta: Double
    /// SmoothL1's switch from quadratic to linear (torch's `beta`).
    public let beta: Double

    public static let defaultDelta = 1.0
    public static let defaultBeta = 1.0

    /// The loss with every setting at its default. SmoothL1 with its default β = 1 is Huber with δ = 1.
    public init(_ kind: LossKind) {
        self.kind = kind == .smoothL1 ? .huber : kind
        fromLogits = false
        labelSmoothing = 0
        delta = Self.defaultDelta
        beta = Self.defaultBeta
    }

    /// Refuses settings the loss does not have and values outside their range, naming the loss.
    /// SmoothL1 with β = 1 becomes Huber (δ = 1), the same function, so that one loss has one stored form.
    public init(_ kind: LossKind, fromLogits: Bool = false, labelSmoothing: Double = 0,
                delta: Double = Loss.defaultDelta, beta: Double = Loss.defaultBeta) throws(LossError) {
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
        if beta != Self.defaultBeta {
            guard kind == .smoothL1 else {
                throw LossError(kind: kind, reason: "has no beta (only smooth_l1_loss has one)")
            }
            guard beta > 0, beta.isFinite else {
                throw LossError(kind: kind, reason: "beta must be a positive finite number, got \(beta)")
            }
        }
        self.kind = kind == .smoothL1 && beta == Self.defaultBeta ? .huber : kind
        self.beta = beta
        self.fromLogits = fromLogits
        // -0 would print as a setting and compare unequal in hashing otherwise.
        self.labelSmoothing = labelSmoothing == 0 ? 0 : labelSmoothing
        self.delta = delta
    }

    /// A loss by name (or alias, or torch name), with default settings — torch's defaults for a torch name.
    public init?(name: String) {
        if let torch = Self.torchNames.first(where: { $0.name == name }) {
            self = torch.fromLogits ? Self.binaryCrossentropyFromLogits : Loss(torch.kind)
            return
        }
        guard let kind = LossKind(name: name) else { return nil }
        self.init(kind)
    }

    /// torch's loss classes and `torch.nn.functional` names that are not kind names, all with `reduction='mean'`
    /// (the mean over every element, which is Keras's mean over outputs then over the batch). `kind` is the kind
    /// whose settings a torch name sets (`SmoothL1Loss`'s β); `fromLogits` is BCEWithLogits's.
    public static let torchNames: [(name: String, kind: LossKind, fromLogits: Bool)] = [
        ("CrossEntropyLoss", .crossEntropy, false), ("NLLLoss", .nllLoss, false),
        ("BCEWithLogitsLoss", .binaryCrossentropy, true), ("binary_cross_entropy_with_logits", .binaryCrossentropy, true),
        ("MSELoss", .meanSquaredError, false), ("mse_loss", .meanSquaredError, false),
        ("L1Loss", .meanAbsoluteError, false), ("l1_loss", .meanAbsoluteError, false),
        ("HuberLoss", .huber, false), ("SmoothL1Loss", .smoothL1, false),
    ]

    private static let binaryCrossentropyFromLogits = Loss(
        kind: .binaryCrossentropy, fromLogits: true, labelSmoothing: 0, delta: defaultDelta, beta: defaultBeta)

    private init(kind: LossKind, fromLogits: Bool, labelSmoothing: Double, delta: Double, beta: Double) {
        self.kind = kind
        self.fromLogits = fromLogits
        self.labelSmoothing = labelSmoothing
        self.delta = delta
        self.beta = beta
    }

    public static var acceptedNames: [String] { LossKind.acceptedNames + torchNames.map(\.name) }

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
        if beta != Self.defaultBeta { parts.append("beta \(beta)") }
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

    /// Columns a target row has for a network with `outputWidth` outputs: one class index for the losses that
    /// take only labels, one per output otherwise. torch's `cross_entropy` also takes one class index per row
    /// (`acceptsTargetWidth`); this is the width of its probability targets.
    public func targetWidth(outputWidth: Int) -> Int {
        takesOnlyLabels ? 1 : outputWidth
    }

    /// Whether targets of `width` columns fit this loss for `outputWidth` outputs: `targetWidth(outputWidth:)`, or
    /// for `cross_entropy` one class-index column too.
    public func acceptsTargetWidth(_ width: Int, outputWidth: Int) -> Bool {
        width == targetWidth(outputWidth: outputWidth) || (kind == .crossEntropy && width == 1)
    }

    /// "3", or for `cross_entropy` "3 (class probabilities) or 1 (class indices)": for error messages.
    public func targetWidthDescription(outputWidth: Int) -> String {
        let width = targetWidth(outputWidth: outputWidth)
        return kind == .crossEntropy && width != 1 ? "\(width) (class probabilities) or 1 (class indices)" : "\(width)"
    }

    /// Whether targets of `width` columns are class indices (validated as such before the loss sees them).
    public func takesClassIndices(targetWidth width: Int, outputWidth: Int) -> Bool {
        takesOnlyLabels || (kind == .crossEntropy && width == 1 && outputWidth != 1)
    }

    /// Whether targets are class labels (validated as indices for the sparse losses, one-hot expanded for
    /// categorical cross-entropy).
    public var takesLabels: Bool {
        kind == .categoricalCrossentropy || kind == .crossEntropy || takesOnlyLabels
    }

    /// The losses that take a class index per row and nothing else (Keras's sparse cross-entropy refuses one-hot
    /// targets; torch's NLLLoss has no probability form).
    public var takesOnlyLabels: Bool { kind == .sparseCategoricalCrossentropy || kind == .nllLoss }

    /// Whether a label column stays a column of indices rather than becoming one-hot rows.
    public var keepsLabelIndices: Bool { takesOnlyLabels || kind == .crossEntropy }

    /// Whether `accuracy` is a meaningful metric, and how it is computed.
    ///
    /// Keras's `accuracy` sees the model's raw outputs whatever the loss's `from_logits`: argmax does not care,
    /// and binary accuracy thresholds at 0.5 — on logits too, where that means p > σ(0.5) ≈ 0.62 rather than
    /// p > 0.5. mlpconv reports what Keras reports.
    public var accuracyKind: AccuracyKind? {
        switch kind {
        case .categoricalCrossentropy, .crossEntropy: .categorical
        case .sparseCategoricalCrossentropy, .nllLoss: .sparseCategorical
        case .binaryCrossentropy: .binary
        default: nil
        }
    }

    public enum AccuracyKind: Sendable {
        /// argmax(y) == argmax(y*), or == the label when the targets are one class-index column
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
        predictions y: UnsafePointer<T>, targets t: UnsafePointer<T>, rows: Int, width: Int, targetWidth: Int
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
                let expected = kind == .sparseCategorical || takesClassIndices(targetWidth: targetWidth, outputWidth: width)
                    ? Int(t[r * targetWidth]) : argmax(t + r * width, count: width)
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
