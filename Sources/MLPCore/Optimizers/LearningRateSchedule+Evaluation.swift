#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rate at a step, computed as Keras 3 on JAX computes it inside its jitted training step, so that a model
/// trained on in mlpconv follows the same rates bit for bit in float32 (fixtures/reference/schedules.json).
///
/// Keras's schedules are a few float32 operations on the step, but XLA compiles them before they run, and its
/// rewrites change the rounding: a division by a constant becomes a product with the constant's float32
/// reciprocal, constant factors are multiplied together first (`π·(s/d)` is `s·fl(π·fl(1/d))`), `x**2` and
/// `x**3` become products, and a product feeding an addition is fused into one rounding (an FMA) on CPUs that
/// have one. The formulas below are those rewritten forms; docs/keras-formats.md lists them. Powers and cosines
/// are the C library's (`powf`, `cosf`), as XLA calls them; XLA's float32 logarithm is a polynomial of its own
/// (`polynomialLog`), and constants it folds at compile time use the C library's `logf`.
extension LearningRateSchedule {
    /// The learning rate for the update at `step` (the optimizer's iterations before it), in `T`'s precision: the
    /// float32 operations of Keras's default float32 policy, or the same operations in double.
    public func learningRate<T: MLPScalar>(atStep step: Int, as type: T.Type = T.self) -> T {
        if T.self == Float.self { return T(rate(atStep: step, Float.self)) }
        return T(rate(atStep: step, Double.self))
    }

    /// The first step in `0...limit` whose rate is not finite, if any. Keras's own arithmetic produces NaN for a
    /// polynomial_decay with a fractional power once the decay completes when `decay_steps · fl(1/decay_steps)`
    /// exceeds 1 (as for 3, 6, 7, 10): `1 − step/decay_steps` then rounds to a tiny negative number.
    public func firstNonFiniteStep(through limit: Int) -> Int? {
        // The other kinds stay finite for valid parameters, and so does this one until the decay completes:
        // before decay_steps the step's share of it is below 1 by far more than a rounding error. From then on
        // the rate is constant (or cycles without reaching a negative base).
        guard kind == .polynomialDecay, !cycle, limit >= 0 else { return nil }
        let end = min(limit, Int(min(decaySteps.rounded(.up), Double(Int32.max))))
        return (max(0, end - 2)...end).first { !learningRate(atStep: $0, as: Float.self).isFinite }
    }

    private func rate<T: ScheduleArithmetic>(atStep step: Int, _: T.Type) -> T {
        let s = T(step)
        switch kind {
        case .exponentialDecay:
            // rate^(s/d) · initial; the staircase floors the exponent.
            var p = s * (1 / T(decaySteps))
            if staircase { p = p.rounded(.down) }
            return T.cPow(T(decayRate), p) * T(initialLearningRate)

        case .piecewiseConstantDecay:
            // Keras adds every value whose condition holds (one, for increasing boundaries), comparing the
            // integer step with each boundary truncated to an integer.
            let edges = boundaries.map { Int($0.rounded(.towardZero)) }
            let levels = values.map { T($0) }
            var total: T = 0
            total += step <= edges[0] ? levels[0] : 0
            total += step > edges[edges.count - 1] ? levels[levels.count - 1] : 0
            for index in 0..<(edges.count - 1) where step > edges[index] && step <= edges[index + 1] {
                total += levels[index + 1]
            }
            return total

        case .polynomialDecay:
            // (initial − end)·(1 − s/d)^power + end, s capped at d; with cycle, d grows by whole periods.
            let d = T(decaySteps), reciprocal = 1 / d
            let base: T
            if cycle {
                let periods: T = step == 0 ? 1 : (s * reciprocal).rounded(.up)
                base = 1 - s / (periods * d)
            } else {
                // Can round below 0 once the decay completes (firstNonFiniteStep); float32 keeps Keras's value,
                // double, which has no Keras value to match, keeps the 0 the definition gives.
                let rounded = T(1).addingProduct(-min(s, d), reciprocal)
                base = T.self == Double.self ? max(rounded, 0) : rounded
            }
            return T(endLearningRate).addingProduct(Self.constantPower(base, T(power)),
                                                    T(initialLearningRate) - T(endLearningRate))

        case .inverseTimeDecay:
            // initial / (1 + rate·s/d); the staircase floors s/d.
            let reciprocal = 1 / T(decaySteps), decayRate = T(self.decayRate)
            let denominator = staircase
                ? T(1).addingProduct(decayRate, (s * reciprocal).rounded(.down))
                : T(1).addingProduct(s, reciprocal * decayRate)
            return T(initialLearningRate) / denominator

        case .cosineDecay:
            let d = T(decaySteps)
            guard let warmupTarget else { return cosine(min(s, d), from: T(initialLearningRate), T.self) }
            let warmup = T(warmupSteps), target = T(warmupTarget), initial = T(initialLearningRate)
            let capped = min(s, d + warmup)
            if capped < warmup {
                return initial.addingProduct(capped, (1 / warmup) * (target - initial))
            }
            return cosine(capped - warmup, from: target, T.self)

        case .cosineDecayRestarts:
            return restartedCosine(s, T.self)
        }
    }

    /// cosine_decay's decay from `rate` after `elapsed` steps: rate·(α + (1 − α)·(1 + cos(π·elapsed/d))/2), with
    /// (1 − α) a Python double rounded once.
    private func cosine<T: ScheduleArithmetic>(_ elapsed: T, from rate: T, _: T.Type) -> T {
        let phase = T(Double.pi) * (1 / T(decaySteps))
        let halfWeight = T(0.5) * T(1 - alpha)
        return T(alpha).addingProduct(T.cCos(elapsed * phase) + 1, halfWeight) * rate
    }

    /// cosine_decay_restarts (SGDR): which period the step falls in, the fraction of it completed, then the cosine.
    private func restartedCosine<T: ScheduleArithmetic>(_ s: T, _: T.Type) -> T {
        let reciprocal = 1 / T(decaySteps), alpha = T(self.alpha), tMul = T(self.tMul)
        let fraction = s * reciprocal
        let period: T, completed: T
        if tMul == 1 {
            period = fraction.rounded(.down)
            completed = fraction - period
        } else {
            // Period i starts after (1 − t^i)/(1 − t) first periods: i = floor(log(1 − f·(1 − t)) / log t).
            let oneMinusT = 1 - tMul, factor = reciprocal * oneMinusT
            // For t = 2 the factor is −1/d, so XLA computes s/d once for both uses, and neither is fused.
            let shared = factor == -reciprocal
            let argument = shared ? 1 + fraction : T(1).addingProduct(-s, factor)
            period = (T.compiledLog(argument) * (1 / T.cLog(tMul))).rounded(.down)
            let before = 1 - T.cPow(tMul, period)
            let start = shared ? fraction + before : (-(before * (1 / oneMinusT))).addingProduct(s, reciprocal)
            completed = start * T.cPow(tMul, -period)
        }
        let peak = T.cPow(T(mMul), period) * T(0.5)
        let decayed = peak * (T.cCos(completed * T(Double.pi)) + 1)
        return alpha.addingProduct(decayed, 1 - alpha) * T(initialLearningRate)
    }

    /// x^p for a constant p, as XLA simplifies it: 0, 1, 2, 3 and −1 become exact forms, other powers `pow`.
    private static func constantPower<T: ScheduleArithmetic>(_ x: T, _ p: T) -> T {
        switch p {
        case 0: 1
        case 1: x
        case 2: x * x
        case 3: x * (x * x)
        case -1: 1 / x
        default: T.cPow(x, p)
        }
    }
}

/// The elementary functions the schedules need, in each precision: the C library's, and for the logarithm XLA
/// computes at run time, XLA's own float32 polynomial.
protocol ScheduleArithmetic: MLPScalar {
    static func cPow(_ x: Self, _ y: Self) -> Self
    static func cCos(_ x: Self) -> Self
    static func cLog(_ x: Self) -> Self
    static func compiledLog(_ x: Self) -> Self
}

extension Float: ScheduleArithmetic {
    static func cPow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    static func cCos(_ x: Float) -> Float { cosf(x) }
    static func cLog(_ x: Float) -> Float { logf(x) }
    static func compiledLog(_ x: Float) -> Float { polynomialLog(x) }

    /// XLA's CPU logarithm for float32 (the Cephes polynomial, as XLA emits it, with its multiply-adds fused):
    /// x = m·2^e with m in [√½, √2), log x = e·ln 2 + log m, log m from a degree-9 polynomial in m − 1, ln 2
    /// split in two parts. It differs from `logf` by an ulp for about one argument in twenty.
    static func polynomialLog(_ input: Float) -> Float {
        if input.isNaN || input < 0 { return .nan }
        if input == 0 { return -.infinity }
        if input == .infinity { return .infinity }
        // Subnormals are treated as the smallest normal number, as XLA does.
        let bits = max(input, Float.leastNormalMagnitude).bitPattern
        var exponent = Float(Int32(bits >> 23) - 0x7f) + 1
        let mantissa = Float(bitPattern: (bits & 0x807f_ffff) | 0x3f00_0000)  // in [0.5, 1)
        var t = mantissa - 1
        if mantissa < Float(0.707106781186547524 as Double) {
            exponent -= 1
            t = t + mantissa
        }
        // The coefficients as XLA holds them: decimal → double → float.
        let p = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                 -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map { Float($0 as Double) }
        let x2 = t * t, x3 = x2 * t
        var y = p[1].addingProduct(t, p[0])
        var y1 = p[4].addingProduct(t, p[3])
        var y2 = p[7].addingProduct(t, p[6])
        y = p[2].addingProduct(y, t)
        y1 = p[5].addingProduct(y1, t)
        y2 = p[8].addingProduct(y2, t)
        y = y1.addingProduct(y, x3)
        y = y2.addingProduct(y, x3)
        y = (Float(-2.12194440e-4 as Double) * exponent).addingProduct(y, x3)
        t = t - Float(0.5) * x2
        t = t + y
        return t.addingProduct(Float(0.693359375 as Double), exponent)
    }
}

extension Double: ScheduleArithmetic {
    static func cPow(_ x: Double, _ y: Double) -> Double { libmPow(x, y) }
    static func cCos(_ x: Double) -> Double { libmCos(x) }
    static func cLog(_ x: Double) -> Double { libmLog(x) }
    static func compiledLog(_ x: Double) -> Double { libmLog(x) }
}

// At file scope, so that these are the C library's functions and not the same-named static members of `Double`.
private func libmPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
private func libmCos(_ x: Double) -> Double { cos(x) }
private func libmLog(_ x: Double) -> Double { log(x) }
