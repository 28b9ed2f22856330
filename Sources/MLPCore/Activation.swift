import RealModule

/// The activations a Dense layer can name, with Keras 3's definitions (docs/keras-formats.md, activations).
///
/// Only the name is stored in a model file, so the math must be Keras's exactly: `leaky_relu` has slope 0.2,
/// `gelu` is the exact erf form, `hard_sigmoid` is `relu6(x + 3) / 6` (Keras 2's `0.2x + 0.5` is not it).
public enum Activation: String, NamedChoice {
    case linear, relu, sigmoid, tanh, softmax, elu, selu, gelu, silu
    case leakyReLU = "leaky_relu"
    case softplus, softsign
    case hardSigmoid = "hard_sigmoid"
    case exponential, relu6
    case hardSiLU = "hard_silu"
    case mish
    case logSoftmax = "log_softmax"

    /// Keras's aliases (`None` is stored as `linear`).
    public static var aliases: [(name: String, choice: Activation)] { [("swish", .silu), ("hard_swish", .hardSiLU)] }

    /// Whether the activation mixes a row's elements (softmax, log_softmax), so its derivative is a Jacobian.
    public var isRowwise: Bool { self == .softmax || self == .logSoftmax }

    /// Where f′ or f″ jumps: a finite difference whose stencil straddles one of these is inaccurate (at a kink
    /// of f′ it is meaningless), so gradient checks should keep pre-activations away from them.
    public var nonSmoothPoints: [Double] {
        switch self {
        case .relu, .leakyReLU, .elu, .selu, .softsign: [0]
        case .relu6: [0, 6]
        case .hardSigmoid, .hardSiLU: [-3, 3]
        default: []
        }
    }
}

// SELU's constants as Keras writes them.
private let seluAlpha = 1.67326324235437728481704299167
private let seluScale = 1.05070098735548049341933498529
private let leakySlope = 0.2

extension Activation {
    /// `y = f(z)` for a `[rows, width]` block (docs/numerics.md: `f(z) → y`).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func apply<T: MLPScalar>(_ z: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, rows: Int, width: Int) {
        let count = rows * width
        switch self {
        case .softmax:
            for r in 0..<rows { softmaxRow(z + r * width, into: y + r * width, width: width) }
        case .logSoftmax:
            for r in 0..<rows { logSoftmaxRow(z + r * width, into: y + r * width, width: width) }
        default:
            // One loop per activation, each with its function inlined, so the loop has no switch in it and vectorises.
            @inline(__always) func each(_ f: Activation) { for i in 0..<count { y[i] = f.value(z[i]) } }
            switch self {
            case .linear: each(.linear)
            case .relu: each(.relu)
            case .sigmoid: each(.sigmoid)
            case .tanh: each(.tanh)
            case .elu: each(.elu)
            case .selu: each(.selu)
            case .gelu: each(.gelu)
            case .silu: each(.silu)
            case .leakyReLU: each(.leakyReLU)
            case .softplus: each(.softplus)
            case .softsign: each(.softsign)
            case .hardSigmoid: each(.hardSigmoid)
            case .exponential: each(.exponential)
            case .relu6: each(.relu6)
            case .hardSiLU: each(.hardSiLU)
            case .mish: each(.mish)
            case .softmax, .logSoftmax: break
            }
        }
    }

    /// `∇z = ∇y ⊙ f'(z)`, or the Jacobian-vector product per row for softmax and log_softmax. With `columnSums`,
    /// also `Σ_rows ∇z` (a Dense layer's bias gradient) in the same pass, while each row of `∇z` is still in
    /// registers or L1: rows added in order from zero, the same sums as a separate pass. Returns where `∇z` is:
    /// `gradZ`, or `gradY` itself for the linear activation, which would only copy it.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    @discardableResult
    func backward<T: MLPScalar>(
        z: UnsafePointer<T>, y: UnsafePointer<T>, gradY: UnsafePointer<T>, into gradZ: UnsafeMutablePointer<T>,
        rows: Int, width: Int, columnSums: UnsafeMutablePointer<T>? = nil
    ) -> UnsafePointer<T> {
        let count = rows * width
        columnSums?.update(repeating: 0, count: width)
        @inline(__always) func addRow(_ row: UnsafePointer<T>) {
            guard let columnSums else { return }
            for j in 0..<width { columnSums[j] += row[j] }
        }
        switch self {
        case .linear:
            for r in 0..<rows { addRow(gradY + r * width) }
            return gradY
        case .softmax:
            // ∇z = y ⊙ (∇y − (∇y · y)) per row.
            for r in 0..<rows {
                let yr = y + r * width, gr = gradY + r * width, out = gradZ + r * width
                var dot: T = 0
                for j in 0..<width { dot += gr[j] * yr[j] }
                for j in 0..<width { out[j] = yr[j] * (gr[j] - dot) }
                addRow(out)
            }
        case .logSoftmax:
            // y = z − logsumexp(z), so ∂y_i/∂z_j = δ_ij − softmax_j and ∇z = ∇y − softmax(z)·Σ∇y.
            for r in 0..<rows {
                let yr = y + r * width, gr = gradY + r * width, out = gradZ + r * width
                var sum: T = 0
                for j in 0..<width { sum += gr[j] }
                for j in 0..<width { out[j] = gr[j] - T.exp(yr[j]) * sum }
                addRow(out)
            }
        default:
            @inline(__always) func each(_ f: Activation) {
                guard let columnSums else {
                    for i in 0..<count { gradZ[i] = gradY[i] * f.derivative(z: z[i], y: y[i]) }
                    return
                }
                for r in 0..<rows {
                    let offset = r * width
                    let (zr, yr, gr, out) = (z + offset, y + offset, gradY + offset, gradZ + offset)
                    for j in 0..<width {
                        let g = gr[j] * f.derivative(z: zr[j], y: yr[j])
                        out[j] = g
                        columnSums[j] += g
                    }
                }
            }
            switch self {
            case .relu: each(.relu)
            case .sigmoid: each(.sigmoid)
            case .tanh: each(.tanh)
            case .elu: each(.elu)
            case .selu: each(.selu)
            case .gelu: each(.gelu)
            case .silu: each(.silu)
            case .leakyReLU: each(.leakyReLU)
            case .softplus: each(.softplus)
            case .softsign: each(.softsign)
            case .hardSigmoid: each(.hardSigmoid)
            case .exponential: each(.exponential)
            case .relu6: each(.relu6)
            case .hardSiLU: each(.hardSiLU)
            case .mish: each(.mish)
            case .linear, .softmax, .logSoftmax: break
            }
        }
        return UnsafePointer(gradZ)
    }

    /// Element-wise `f(x)`; not called for the row-wise activations.
    @inline(__always)
    func value<T: MLPScalar>(_ x: T) -> T {
        switch self {
        case .linear: return x
        case .relu: return x > 0 ? x : 0
        case .sigmoid: return logistic(x)
        case .tanh: return T.tanh(x)
        case .elu: return x > 0 ? x : T.expMinusOne(x)
        case .selu: return T(seluScale) * (x > 0 ? x : T(seluAlpha) * T.expMinusOne(x))
        case .gelu: return x * (1 + T.erf(x / T(2).squareRoot())) / 2
        case .silu: return x * logistic(x)
        case .leakyReLU: return x >= 0 ? x : T(leakySlope) * x
        case .softplus: return softplusValue(x)
        case .softsign: return x / (abs(x) + 1)
        case .hardSigmoid: return hardSigmoidValue(x)
        case .exponential: return T.exp(x)
        case .relu6: return min(max(x, 0), 6)
        case .hardSiLU: return x * hardSigmoidValue(x)
        case .mish: return x * T.tanh(softplusValue(x))
        case .softmax, .logSoftmax: preconditionFailure("row-wise activation \(rawValue) has no element-wise value")
        }
    }

    /// Element-wise `f'(z)`, using `y = f(z)` where that is cheaper.
    @inline(__always)
    func derivative<T: MLPScalar>(z x: T, y: T) -> T {
        switch self {
        case .linear: return 1
        case .relu: return x > 0 ? 1 : 0
        case .sigmoid: return y * (1 - y)
        case .tanh: return 1 - y * y
        case .elu: return x > 0 ? 1 : y + 1
        case .selu: return x > 0 ? T(seluScale) : y + T(seluScale * seluAlpha)
        case .gelu:
            // d/dx [x·Φ(x)] = Φ(x) + x·φ(x)
            let cdf = (1 + T.erf(x / T(2).squareRoot())) / 2
            let pdf = T.exp(-x * x / 2) / T(2 * Double.pi).squareRoot()
            return cdf + x * pdf
        case .silu:
            let s = logistic(x)
            return s * (1 + x * (1 - s))
        case .leakyReLU: return x >= 0 ? 1 : T(leakySlope)
        case .softplus: return logistic(x)
        case .softsign:
            let d = abs(x) + 1
            return 1 / (d * d)
        case .hardSigmoid: return x > -3 && x < 3 ? 1 / T(6) : 0
        case .exponential: return y
        case .relu6: return x > 0 && x < 6 ? 1 : 0
        case .hardSiLU:
            if x <= -3 { return 0 }
            if x >= 3 { return 1 }
            return (2 * x + 3) / 6
        case .mish:
            let t = T.tanh(softplusValue(x))
            return t + x * (1 - t * t) * logistic(x)
        case .softmax, .logSoftmax: preconditionFailure("row-wise activation \(rawValue) has a Jacobian, not f'")
        }
    }
}

@inline(__always)
func logistic<T: MLPScalar>(_ x: T) -> T {
    1 / (1 + T.exp(-x))
}

/// `log(1 + eˣ)` without overflow for large x or loss of precision for very negative x.
@inline(__always)
func softplusValue<T: MLPScalar>(_ x: T) -> T {
    max(x, 0) + T.log(onePlus: T.exp(-abs(x)))
}

@inline(__always)
func hardSigmoidValue<T: MLPScalar>(_ x: T) -> T {
    min(max(x + 3, 0), 6) / 6
}

/// Softmax with the row maximum subtracted first, as Keras does, so large logits do not overflow.
@inline(__always)
func softmaxRow<T: MLPScalar>(_ z: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, width: Int) {
    var maximum = z[0]
    for j in 1..<max(width, 1) { maximum = max(maximum, z[j]) }
    var sum: T = 0
    for j in 0..<width {
        let e = T.exp(z[j] - maximum)
        y[j] = e
        sum += e
    }
    for j in 0..<width { y[j] /= sum }
}

@inline(__always)
func logSoftmaxRow<T: MLPScalar>(_ z: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, width: Int) {
    var maximum = z[0]
    for j in 1..<max(width, 1) { maximum = max(maximum, z[j]) }
    var sum: T = 0
    for j in 0..<width { sum += T.exp(z[j] - maximum) }
    let logSum = T.log(sum) + maximum
    for j in 0..<width { y[j] = z[j] - logSum }
}
