import RealModule

/// The losses a model can be trained with: the notes' half squared error and Keras's built-ins.
///
/// Keras's losses reduce "sum over batch size": a per-sample value (mean over outputs for MSE/MAE/Huber/BCE,
/// sum over classes for the cross-entropies), then the mean over the batch — so their `∇Y` carries `1/B`.
/// The notes' loss is a plain sum, `½‖Y − Y*‖²` over every output of every sample (docs/numerics.md, losses).
public enum Loss: String, NamedChoice {
    case halfSquaredError = "half_squared_error"
    case meanSquaredError = "mean_squared_error"
    case meanAbsoluteError = "mean_absolute_error"
    case binaryCrossentropy = "binary_crossentropy"
    case categoricalCrossentropy = "categorical_crossentropy"
    case sparseCategoricalCrossentropy = "sparse_categorical_crossentropy"
    case huber

    /// Keras's short aliases.
    public static var aliases: [(name: String, choice: Loss)] {
        [("mse", .meanSquaredError), ("mae", .meanAbsoluteError), ("bce", .binaryCrossentropy), ("huber_loss", .huber)]
    }

    /// Keras clips probabilities to [ε, 1 − ε] before taking logarithms (`keras.config.epsilon()`).
    static let probabilityEpsilon = 1e-7
    /// Huber's δ (Keras's default).
    static let huberDelta = 1.0

    /// Columns a target row has for a network with `outputWidth` outputs: one class index for the sparse loss.
    public func targetWidth(outputWidth: Int) -> Int {
        self == .sparseCategoricalCrossentropy ? 1 : outputWidth
    }

    /// Whether `accuracy` is a meaningful metric, and how it is computed.
    public var accuracyKind: AccuracyKind? {
        switch self {
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

extension Loss {
    /// The batch loss for predictions `y` `[rows, width]` and targets `t` `[rows, targetWidth]`; when `gradY` is
    /// given, also writes `∂loss/∂y` there. Labels of the sparse loss must already be valid class indices.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func evaluate<T: MLPScalar>(
        predictions y: UnsafePointer<T>, targets t: UnsafePointer<T>, rows: Int, width: Int,
        gradient gradY: UnsafeMutablePointer<T>?
    ) -> T {
        let count = rows * width
        let perBatch = 1 / T(rows)
        let perOutput = 1 / T(rows * width)
        var total: T = 0
        switch self {
        case .halfSquaredError:
            for i in 0..<count {
                let e = y[i] - t[i]
                total += e * e
                gradY?[i] = e
            }
            return total / 2
        case .meanSquaredError:
            for i in 0..<count {
                let e = y[i] - t[i]
                total += e * e
                gradY?[i] = 2 * e * perOutput
            }
            return total * perOutput
        case .meanAbsoluteError:
            for i in 0..<count {
                let e = y[i] - t[i]
                total += abs(e)
                gradY?[i] = (e > 0 ? 1 : e < 0 ? -1 : 0) * perOutput
            }
            return total * perOutput
        case .huber:
            let delta = T(Self.huberDelta)
            for i in 0..<count {
                let e = y[i] - t[i]
                if abs(e) <= delta {
                    total += e * e / 2
                    gradY?[i] = e * perOutput
                } else {
                    total += delta * abs(e) - delta * delta / 2
                    gradY?[i] = (e > 0 ? delta : -delta) * perOutput
                }
            }
            return total * perOutput
        case .binaryCrossentropy:
            // −(t·log p + (1 − t)·log(1 − p)) with p clipped; the clip passes no gradient outside its range.
            let eps = T(Self.probabilityEpsilon)
            for i in 0..<count {
                let p = min(max(y[i], eps), 1 - eps)
                total -= t[i] * T.log(p) + (1 - t[i]) * T.log(1 - p)
                let inside = y[i] >= eps && y[i] <= 1 - eps
                gradY?[i] = inside ? (-(t[i] / p) + (1 - t[i]) / (1 - p)) * perOutput : 0
            }
            return total * perOutput
        case .categoricalCrossentropy, .sparseCategoricalCrossentropy:
            for r in 0..<rows {
                let row = y + r * width
                let label = self == .sparseCategoricalCrossentropy ? Int(t[r]) : -1
                func target(_ j: Int) -> T {
                    label >= 0 ? (j == label ? 1 : 0) : t[r * width + j]
                }
                total += crossentropyRow(row, target: target, width: width, gradient: gradY.map { $0 + r * width }, scale: perBatch)
            }
            return total * perBatch
        }
    }

    /// Keras's probabilistic cross-entropy for one row: p = y / Σy, clipped to [ε, 1 − ε], −Σ t·log p.
    ///
    /// The gradient follows the normalization too: with c_k = −t_k/p_k where p_k is inside the clip range (else 0),
    /// ∂/∂y_j = (c_j − Σ_k c_k·p_k) / Σy. For softmax outputs this makes ∇z = (y − t)/B, as docs/numerics.md derives.
    @inline(__always)
    private func crossentropyRow<T: MLPScalar>(
        _ y: UnsafePointer<T>, target: (Int) -> T, width: Int, gradient: UnsafeMutablePointer<T>?, scale: T
    ) -> T {
        let eps = T(Self.probabilityEpsilon)
        var sum: T = 0
        for j in 0..<width { sum += y[j] }
        var loss: T = 0
        var weighted: T = 0
        for j in 0..<width {
            let p = y[j] / sum
            let clipped = min(max(p, eps), 1 - eps)
            let tj = target(j)
            loss -= tj * T.log(clipped)
            let c: T = p >= eps && p <= 1 - eps ? -tj / clipped : 0
            gradient?[j] = c
            weighted += c * p
        }
        if let gradient {
            for j in 0..<width { gradient[j] = (gradient[j] - weighted) / sum * scale }
        }
        return loss
    }

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
