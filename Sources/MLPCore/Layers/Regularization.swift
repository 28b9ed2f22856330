/// A weight or activity penalty added to the training loss: `l1·Σ|x| + l2·Σx²`. The three kinds are kept apart
/// (rather than one pair of numbers) so that a file names the same one it was read with.
public enum Regularizer: Sendable, Equatable {
    case l1(Double)
    case l2(Double)
    case l1l2(l1: Double, l2: Double)

    public var l1: Double {
        switch self {
        case .l1(let value), .l1l2(let value, _): value
        case .l2: 0
        }
    }

    public var l2: Double {
        switch self {
        case .l2(let value), .l1l2(_, let value): value
        case .l1: 0
        }
    }

    var problem: String? {
        guard l1.isFinite && l1 >= 0 && l2.isFinite && l2 >= 0 else { return "factors must be finite numbers ≥ 0, got l1 \(l1), l2 \(l2)" }
        // Rounded to the weights' type when used: a factor beyond float32 would make a float32 loss infinite.
        return fitsFloat32(l1) && fitsFloat32(l2) ? nil : "factors must be within float32's range, got l1 \(l1), l2 \(l2)"
    }

    /// The penalty of `values`, and its gradient added into `gradient` (scaled by `scale`) when given.
    /// The factors are rounded to `T` first, as Keras casts them to the variable's dtype. The derivative of |x| at
    /// ±0 is +1, as JAX differentiates `abs` (Keras 3's reference backend; TensorFlow and PyTorch take 0): it matters
    /// for zero-initialized biases and NonNeg-clamped weights (docs/numerics.md, regularizers).
    func penalty<T: MLPScalar>(_ values: UnsafeBufferPointer<T>, addingGradientTo gradient: UnsafeMutablePointer<T>?,
                               scale: T = 1) -> T {
        let l1 = T(self.l1), l2 = T(self.l2)
        var absolute: T = 0, squares: T = 0
        for x in values {
            absolute += abs(x)
            squares += x * x
        }
        if let gradient {
            for (i, x) in values.enumerated() {
                let sign: T = x >= 0 ? 1 : -1
                gradient[i] += (l1 * sign + 2 * l2 * x) * scale
            }
        }
        return (self.l1 != 0 ? l1 * absolute : 0) + (self.l2 != 0 ? l2 * squares : 0)
    }
}

/// A projection applied to a parameter after every optimizer step (Keras's weight constraints). Norms are taken
/// along `axis` of the tensor (for a kernel `[inputs, units]`, axis 0 is each unit's incoming weights).
public enum Constraint: Sendable, Equatable {
    case maxNorm(maxValue: Double, axis: Int)
    case nonNeg
    case unitNorm(axis: Int)
    case minMaxNorm(minValue: Double, maxValue: Double, rate: Double, axis: Int)

    /// Keras's fuzz factor in the norm's denominator (`keras.config.epsilon()`).
    static let epsilon = 1e-7

    func problem(rank: Int) -> String? {
        let axis: Int
        switch self {
        case .nonNeg: return nil
        case .maxNorm(let maxValue, let a):
            guard maxValue.isFinite, maxValue >= 0, fitsFloat32(maxValue) else {
                return "max_value must be a finite number ≥ 0 within float32's range, got \(maxValue)"
            }
            axis = a
        case .unitNorm(let a): axis = a
        case .minMaxNorm(let minValue, let maxValue, let rate, let a):
            guard minValue.isFinite, maxValue.isFinite, minValue >= 0, minValue <= maxValue, fitsFloat32(maxValue) else {
                return "needs 0 ≤ min_value ≤ max_value within float32's range, got \(minValue) and \(maxValue)"
            }
            guard rate.isFinite, rate >= 0, rate <= 1 else { return "rate must be in [0, 1], got \(rate)" }
            axis = a
        }
        return (-rank..<rank).contains(axis) ? nil : "axis \(axis) is out of range for a tensor of rank \(rank)"
    }

    /// Projects `w` in place. `shape` is `[rows, columns]` for a kernel or `[count]` for a vector; the norm of
    /// each group of elements along `axis` scales that group.
    func apply<T: MLPScalar>(_ w: UnsafeMutableBufferPointer<T>, shape: [Int]) {
        let axis: Int
        switch self {
        case .nonNeg:
            for i in w.indices { w[i] = max(w[i], 0) }
            return
        case .maxNorm(_, let a), .unitNorm(let a), .minMaxNorm(_, _, _, let a): axis = a
        }
        // Elements `start + k·stride` for k < length share a norm; `groups` such runs, `groupStride` apart.
        let (groups, length, stride, groupStride): (Int, Int, Int, Int)
        if shape.count == 2 {
            let rows = shape[0], columns = shape[1]
            (groups, length, stride, groupStride) = axis == 0 || axis == -2 ? (columns, rows, columns, 1) : (rows, columns, 1, columns)
        } else {
            (groups, length, stride, groupStride) = (1, w.count, 1, 0)
        }
        let eps = T(Self.epsilon)
        for group in 0..<groups {
            let start = group * groupStride
            var squares: T = 0
            for k in 0..<length { squares += w[start + k * stride] * w[start + k * stride] }
            let norm = squares.squareRoot()
            switch self {
            case .unitNorm:
                for k in 0..<length { w[start + k * stride] = w[start + k * stride] / (eps + norm) }
            case .maxNorm(let maxValue, _):
                let scale = min(norm, T(maxValue)) / (eps + norm)
                for k in 0..<length { w[start + k * stride] = w[start + k * stride] * scale }
            case .minMaxNorm(let minValue, let maxValue, let rate, _):
                let desired = T(rate) * min(max(norm, T(minValue)), T(maxValue)) + T(1 - rate) * norm
                let scale = desired / (eps + norm)
                for k in 0..<length { w[start + k * stride] = w[start + k * stride] * scale }
            case .nonNeg:
                break
            }
        }
    }
}

/// Whether `value` stays finite as a float32: layer settings are rounded to the weights' type when used, and the
/// ONNX export stores them as float32 attributes.
func fitsFloat32(_ value: Double) -> Bool { Float(value).isFinite }
