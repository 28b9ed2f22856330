import RealModule

// The losses that combine a row's outputs before the batch mean: the cross-entropies, KL divergence, the
// categorical hinge and cosine similarity.
extension Loss {
    /// Mean over the batch of a per-row value; `gradY` rows get `∂row/∂y / rows`.
    @inline(__always)
    func rowLoss<T: MLPScalar>(
        predictions y: UnsafePointer<T>, targets t: UnsafePointer<T>, rows: Int, width: Int, targetWidth: Int,
        gradient gradY: UnsafeMutablePointer<T>?
    ) -> T {
        let indices = takesClassIndices(targetWidth: targetWidth, outputWidth: width)
        let perBatch = 1 / T(rows)
        let keep = T(1 - labelSmoothing)
        // Keras adds smoothing/num_classes with both in the tensor's type.
        let shift = T(labelSmoothing) / T(width)
        var total: T = 0
        for r in 0..<rows {
            let row = y + r * width
            let gradient = gradY.map { $0 + r * width }
            let label = indices ? Int(t[r]) : -1
            let targets = t + r * width
            func target(_ j: Int) -> T {
                if label >= 0 { return j == label ? 1 : 0 }
                return labelSmoothing != 0 ? targets[j] * keep + shift : targets[j]
            }
            let value: T
            switch kind {
            case .crossEntropy:
                // torch's cross_entropy is Keras's cross-entropy on logits, with indices or probabilities.
                value = logSoftmaxCrossentropyRow(row, target: target, width: width, gradient: gradient, scale: perBatch)
            case .categoricalCrossentropy, .sparseCategoricalCrossentropy:
                value = fromLogits
                    ? logSoftmaxCrossentropyRow(row, target: target, width: width, gradient: gradient, scale: perBatch)
                    : crossentropyRow(row, target: target, width: width, gradient: gradient, scale: perBatch)
            case .klDivergence:
                value = klDivergenceRow(row, targets, width: width, gradient: gradient, scale: perBatch)
            case .categoricalHinge:
                value = categoricalHingeRow(row, targets, width: width, gradient: gradient, scale: perBatch)
            default:
                value = cosineSimilarityRow(row, targets, width: width, gradient: gradient, scale: perBatch)
            }
            total += value
        }
        return total / T(rows)
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

    /// Cross-entropy on logits, JAX's `log_softmax`: s = x − max x, log p = s − log Σ exp s, −Σ t·log p.
    /// ∂/∂x_j = (Σt)·softmax_j − t_j (Σt is 1 for one-hot and smoothed targets alike, up to rounding).
    @inline(__always)
    private func logSoftmaxCrossentropyRow<T: MLPScalar>(
        _ x: UnsafePointer<T>, target: (Int) -> T, width: Int, gradient: UnsafeMutablePointer<T>?, scale: T
    ) -> T {
        var largest = x[0]
        for j in 1..<max(width, 1) { largest = max(largest, x[j]) }
        var sum: T = 0
        for j in 0..<width { sum += T.exp(x[j] - largest) }
        let logSum = T.log(sum)
        var loss: T = 0
        var targetSum: T = 0
        for j in 0..<width {
            let tj = target(j)
            loss -= tj * ((x[j] - largest) - logSum)
            targetSum += tj
        }
        if let gradient {
            let weight = targetSum * scale / sum
            for j in 0..<width { gradient[j] = weight * T.exp(x[j] - largest) - target(j) * scale }
        }
        return loss
    }

    /// Σ t·log(t / p) with t and p clipped to [ε, 1]; the clip passes no gradient outside its range.
    @inline(__always)
    private func klDivergenceRow<T: MLPScalar>(
        _ y: UnsafePointer<T>, _ t: UnsafePointer<T>, width: Int, gradient: UnsafeMutablePointer<T>?, scale: T
    ) -> T {
        let eps = T(Self.probabilityEpsilon)
        var loss: T = 0
        for j in 0..<width {
            let target = min(max(t[j], eps), 1)
            let p = min(max(y[j], eps), 1)
            loss += target * T.log(target / p)
            gradient?[j] = y[j] >= eps && y[j] <= 1 ? -target / p * scale : 0
        }
        return loss
    }

    /// max(max_j (1 − t_j)·y_j − Σ t·y + 1, 0). Where several entries share the maximum, each takes an equal
    /// share of its gradient, as JAX's `max` does.
    @inline(__always)
    private func categoricalHingeRow<T: MLPScalar>(
        _ y: UnsafePointer<T>, _ t: UnsafePointer<T>, width: Int, gradient: UnsafeMutablePointer<T>?, scale: T
    ) -> T {
        var positive: T = 0
        var negative = -T.infinity
        for j in 0..<width {
            positive += t[j] * y[j]
            negative = max(negative, (1 - t[j]) * y[j])
        }
        let loss = max(negative - positive + 1, 0)
        if let gradient {
            guard loss > 0 else {
                gradient.update(repeating: 0, count: width)
                return loss
            }
            var ties: T = 0
            for j in 0..<width where (1 - t[j]) * y[j] == negative { ties += 1 }
            for j in 0..<width {
                let share: T = (1 - t[j]) * y[j] == negative ? (1 - t[j]) / ties : 0
                gradient[j] = (share - t[j]) * scale
            }
        }
        return loss
    }

    /// −Σ t̂·ŷ with v̂ = v·min(1/‖v‖, 1/ε): Keras's `normalize` (ε = 1e-7), so a zero row gives 0, not NaN.
    /// ∂/∂y_j = −(t̂_j − (t̂·ŷ)·ŷ_j) / ‖y‖ while the norm is above ε, −t̂_j/ε below.
    @inline(__always)
    private func cosineSimilarityRow<T: MLPScalar>(
        _ y: UnsafePointer<T>, _ t: UnsafePointer<T>, width: Int, gradient: UnsafeMutablePointer<T>?, scale: T
    ) -> T {
        let cap = T(1 / Self.probabilityEpsilon)
        var yy: T = 0, tt: T = 0
        for j in 0..<width {
            yy += y[j] * y[j]
            tt += t[j] * t[j]
        }
        let rawY = 1 / T.sqrt(yy)
        let inverseY = min(rawY, cap), inverseT = min(1 / T.sqrt(tt), cap)
        var dot: T = 0
        for j in 0..<width { dot += (t[j] * inverseT) * (y[j] * inverseY) }
        if let gradient {
            let normalized = rawY < cap
            for j in 0..<width {
                let direction = t[j] * inverseT
                gradient[j] = normalized
                    ? -(direction - dot * (y[j] * inverseY)) * inverseY * scale
                    : -direction * inverseY * scale
            }
        }
        return -dot
    }
}
