/// The metrics mlpconv computes as Keras 3 does (docs/numerics.md, metrics): each is Keras's `Mean` of a
/// per-sample value over every sample of an epoch (root mean squared error: the square root of that mean).
public enum MetricKind: String, NamedChoice {
    /// Keras's `accuracy`: binary, sparse or categorical accuracy, chosen from the output and target shapes.
    case accuracy
    case binaryAccuracy = "binary_accuracy"
    case categoricalAccuracy = "categorical_accuracy"
    case sparseCategoricalAccuracy = "sparse_categorical_accuracy"
    case topKCategoricalAccuracy = "top_k_categorical_accuracy"
    case sparseTopKCategoricalAccuracy = "sparse_top_k_categorical_accuracy"
    case meanSquaredError = "mean_squared_error"
    case meanAbsoluteError = "mean_absolute_error"
    case meanAbsolutePercentageError = "mean_absolute_percentage_error"
    case meanSquaredLogarithmicError = "mean_squared_logarithmic_error"
    case rootMeanSquaredError = "root_mean_squared_error"
    case cosineSimilarity = "cosine_similarity"
    case logCoshError = "log_cosh_error"
    case binaryCrossentropy = "binary_crossentropy"
    case categoricalCrossentropy = "categorical_crossentropy"
    case sparseCategoricalCrossentropy = "sparse_categorical_crossentropy"
    case klDivergence = "kl_divergence"
    case poisson
    case hinge
    case squaredHinge = "squared_hinge"
    case categoricalHinge = "categorical_hinge"

    /// Keras's short names (`keras.metrics.get`).
    public static var aliases: [(name: String, choice: MetricKind)] {
        [("acc", .accuracy), ("mse", .meanSquaredError), ("mae", .meanAbsoluteError),
         ("mape", .meanAbsolutePercentageError), ("msle", .meanSquaredLogarithmicError), ("bce", .binaryCrossentropy)]
    }

    /// Whether the metric reads class labels (one column of indices) rather than a target per output.
    public var takesLabels: Bool {
        self == .sparseCategoricalAccuracy || self == .sparseTopKCategoricalAccuracy || self == .sparseCategoricalCrossentropy
    }
}

/// A metric with its history key and settings: `threshold` (binary accuracy), `k` (top-k accuracies),
/// `fromLogits` and `labelSmoothing` (the cross-entropies, as their losses take them).
public struct Metric: Sendable, Hashable, CustomStringConvertible {
    public let kind: MetricKind
    /// The key under which the history records it (`val_` + name for validation), as Keras's `History`.
    public let name: String
    public let threshold: Double
    public let k: Int
    public let fromLogits: Bool
    public let labelSmoothing: Double
    /// The loss whose per-sample values the metric averages, for the metrics that are Keras loss functions.
    let loss: Loss?

    /// Refuses settings the metric does not have and values outside their range, naming the metric.
    public init(_ kind: MetricKind, name: String? = nil, threshold: Double = 0.5, k: Int = 5, fromLogits: Bool = false,
                labelSmoothing: Double = 0) throws(MetricError) {
        let label = name ?? kind.rawValue
        guard !label.isEmpty else { throw MetricError(name: kind.rawValue, reason: "needs a non-empty name") }
        if threshold != 0.5, kind != .binaryAccuracy {
            throw MetricError(name: label, reason: "has no threshold (only binary_accuracy has one)")
        }
        guard threshold.isFinite else { throw MetricError(name: label, reason: "threshold must be finite, got \(threshold)") }
        if k != 5 {
            guard kind == .topKCategoricalAccuracy || kind == .sparseTopKCategoricalAccuracy else {
                throw MetricError(name: label, reason: "has no k (only the top-k accuracies have one)")
            }
            guard k > 0 else { throw MetricError(name: label, reason: "k must be positive, got \(k)") }
        }
        var loss: Loss?
        if let lossKind = Self.lossKind(of: kind) {
            if fromLogits || labelSmoothing != 0 {
                guard lossKind.acceptsLogits else {
                    throw MetricError(name: label, reason: "has no from_logits or label_smoothing setting (only the cross-entropies have them)")
                }
            }
            do { loss = try Loss(lossKind, fromLogits: fromLogits, labelSmoothing: labelSmoothing) } catch {
                throw MetricError(name: label, reason: error.reason)
            }
        } else if fromLogits || labelSmoothing != 0 {
            throw MetricError(name: label, reason: "has no from_logits or label_smoothing setting (only the cross-entropies have them)")
        }
        self.loss = loss
        self.kind = kind
        self.name = label
        self.threshold = threshold
        self.k = k
        self.fromLogits = fromLogits
        self.labelSmoothing = labelSmoothing == 0 ? 0 : labelSmoothing
    }

    /// `top_k_categorical_accuracy (k 3)`, or the kind's name; the history key first when it differs.
    public var description: String {
        var settings: [String] = []
        if threshold != 0.5 { settings.append("threshold \(threshold)") }
        if k != 5 { settings.append("k \(k)") }
        if fromLogits { settings.append("from_logits") }
        if labelSmoothing != 0 { settings.append("label_smoothing \(labelSmoothing)") }
        let base = name == kind.rawValue ? name : "\(name): \(kind.rawValue)"
        return settings.isEmpty ? base : "\(base) (\(settings.joined(separator: ", ")))"
    }

    /// The loss whose per-sample value the metric averages, for the metrics that are Keras loss functions.
    static func lossKind(of kind: MetricKind) -> LossKind? {
        switch kind {
        case .meanSquaredError, .rootMeanSquaredError: .meanSquaredError
        case .meanAbsoluteError: .meanAbsoluteError
        case .meanAbsolutePercentageError: .meanAbsolutePercentageError
        case .meanSquaredLogarithmicError: .meanSquaredLogarithmicError
        case .logCoshError: .logCosh
        case .binaryCrossentropy: .binaryCrossentropy
        case .categoricalCrossentropy: .categoricalCrossentropy
        case .sparseCategoricalCrossentropy: .sparseCategoricalCrossentropy
        case .klDivergence: .klDivergence
        case .poisson: .poisson
        case .hinge: .hinge
        case .squaredHinge: .squaredHinge
        case .categoricalHinge: .categoricalHinge
        case .cosineSimilarity: .cosineSimilarity
        default: nil
        }
    }
}

/// A metric setting the metric does not have, a value out of range, or a metric the data cannot feed.
public struct MetricError: Error, CustomStringConvertible, Equatable {
    public var name: String
    public var reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }

    public var description: String { "metric \(name) \(reason)" }
}
