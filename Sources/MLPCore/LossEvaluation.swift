import RealModule

// The forward value and ∂loss/∂y of every loss, in Keras's formulas (keras/src/losses/losses.py and the JAX
// backend's cross-entropies) and, for the torch-only kinds, torch's (torch/nn/functional.py).
// docs/numerics.md, losses, derives each gradient.
extension Loss {
    /// The batch loss for predictions `y` `[rows, width]` and targets `t` `[rows, targetWidth]`; when `gradY` is
    /// given, also writes `∂loss/∂y` there. Class indices must already be valid (`acceptsTargetWidth` and the
    /// label checks of training).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func evaluate<T: MLPScalar>(
        predictions y: UnsafePointer<T>, targets t: UnsafePointer<T>, rows: Int, width: Int, targetWidth: Int,
        gradient gradY: UnsafeMutablePointer<T>?
    ) -> T {
        let eps = T(Self.probabilityEpsilon)
        switch kind {
        case .halfSquaredError:
            var total: T = 0
            for i in 0..<rows * width {
                let e = y[i] - t[i]
                total += e * e
                gradY?[i] = e
            }
            return total / 2
        case .meanSquaredError:
            return meanOverOutputs(y, t, rows, width, gradY) { y, t in
                let e = y - t
                return (e * e, 2 * e)
            }
        case .meanAbsoluteError:
            return meanOverOutputs(y, t, rows, width, gradY) { y, t in
                let e = y - t
                return (abs(e), e > 0 ? 1 : e < 0 ? -1 : 0)
            }
        case .meanAbsolutePercentageError:
            // 100·mean(|(t − y) / max(|t|, ε)|)
            return meanOverOutputs(y, t, rows, width, gradY, factor: 100) { y, t in
                let d = max(abs(t), eps)
                let q = (t - y) / d
                return (abs(q), (q < 0 ? 1 : q > 0 ? -1 : 0) / d)
            }
        case .meanSquaredLogarithmicError:
            // mean((log(max(y, ε) + 1) − log(max(t, ε) + 1))²); the floor passes no gradient below ε.
            return meanOverOutputs(y, t, rows, width, gradY) { y, t in
                let a = max(y, eps) + 1
                let d = T.log(a) - T.log(max(t, eps) + 1)
                return (d * d, y > eps ? 2 * d / a : 0)
            }
        case .huber, .smoothL1:
            // torch's smooth_l1 with β is huber with δ = β, over β: ½e²/β below β, |e| − ½β above.
            let delta = T(kind == .huber ? self.delta : beta)
            return meanOverOutputs(y, t, rows, width, gradY, factor: kind == .huber ? 1 : 1 / delta) { y, t in
                let e = y - t
                if abs(e) <= delta { return (e * e / 2, e) }
                return (delta * abs(e) - delta * delta / 2, e > 0 ? delta : -delta)
            }
        case .nllLoss:
            // −mean over rows of the log-probability at the label.
            let scale = 1 / T(rows)
            gradY?.update(repeating: 0, count: rows * width)
            var total: T = 0
            for r in 0..<rows {
                let index = r * width + Int(t[r])
                total -= y[index]
                gradY?[index] = -scale
            }
            return total / T(rows)
        case .logCosh:
            // Keras's overflow-free form: x + softplus(−2x) − log 2, whose derivative is tanh(x).
            let log2 = T(0.693_147_180_559_945_3)
            return meanOverOutputs(y, t, rows, width, gradY) { y, t in
                let x = y - t
                let s = softplusValue(x * -2)
                return (x + s - log2, 1 - 2 * T.exp(x * -2 - s))
            }
        case .poisson:
            return meanOverOutputs(y, t, rows, width, gradY) { y, t in
                let z = y + eps
                return (y - t * T.log(z), 1 - t / z)
            }
        case .hinge, .squaredHinge:
            // Targets that are all 0 or 1 (over the whole batch, as Keras decides) become −1/+1.
            var binary = true
            for i in 0..<rows * width where t[i] != 0 && t[i] != 1 { binary = false; break }
            let squared = kind == .squaredHinge
            return meanOverOutputs(y, t, rows, width, gradY) { y, t in
                let sign = binary ? 2 * t - 1 : t
                let margin = 1 - sign * y
                guard margin > 0 else { return (0, 0) }
                return squared ? (margin * margin, -2 * sign * margin) : (margin, -sign)
            }
        case .binaryCrossentropy:
            let smoothing = labelSmoothing
            let keep = T(1 - smoothing), shift = T(0.5 * smoothing)
            if fromLogits {
                // t·softplus(−x) + (1 − t)·softplus(x) = −t·log σ(x) − (1 − t)·log σ(−x); softplus′(a) as JAX
                // forms it, exp(a − softplus(a)).
                return meanOverOutputs(y, t, rows, width, gradY) { x, t in
                    let target = smoothing != 0 ? t * keep + shift : t
                    let up = softplusValue(x), down = softplusValue(-x)
                    return (target * down + (1 - target) * up,
                            (1 - target) * T.exp(x - up) - target * T.exp(-x - down))
                }
            }
            // −(t·log p + (1 − t)·log(1 − p)) with p clipped; the clip passes no gradient outside its range.
            return meanOverOutputs(y, t, rows, width, gradY) { y, t in
                let target = smoothing != 0 ? t * keep + shift : t
                let p = min(max(y, eps), 1 - eps)
                let inside = y >= eps && y <= 1 - eps
                return (-(target * T.log(p) + (1 - target) * T.log(1 - p)),
                        inside ? -(target / p) + (1 - target) / (1 - p) : 0)
            }
        case .categoricalCrossentropy, .sparseCategoricalCrossentropy, .crossEntropy, .klDivergence, .categoricalHinge,
             .cosineSimilarity:
            return rowLoss(predictions: y, targets: t, rows: rows, width: width, targetWidth: targetWidth, gradient: gradY)
        }
    }

    /// Keras's elementwise losses: `factor · mean over outputs` of `term(y, t).value` per sample, then the mean
    /// over the batch; `∂/∂y = factor · term.derivative / (width · rows)`.
    @inline(__always)
    private func meanOverOutputs<T: MLPScalar>(
        _ y: UnsafePointer<T>, _ t: UnsafePointer<T>, _ rows: Int, _ width: Int, _ gradY: UnsafeMutablePointer<T>?,
        factor: T = 1, _ term: (_ y: T, _ t: T) -> (value: T, derivative: T)
    ) -> T {
        let scale = factor * (1 / T(rows)) / T(width)
        var total: T = 0
        for r in 0..<rows {
            var sum: T = 0
            for i in r * width..<(r + 1) * width {
                let (value, derivative) = term(y[i], t[i])
                sum += value
                gradY?[i] = derivative * scale
            }
            total += factor * (sum / T(width))
        }
        return total / T(rows)
    }
}
