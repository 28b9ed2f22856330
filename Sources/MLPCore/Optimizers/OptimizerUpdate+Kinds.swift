import RealModule

/// The update rules of Nadam, Adamax, Lion, Adadelta, Ftrl and Lamb, bit for bit Keras 3's in float32 on JAX
/// (docs/keras-formats.md, optimizer update rules; fixtures/reference/optimizer_updates_more.json).
///
/// As in OptimizerUpdate.swift, a constant Keras forms from Python floats (`1 − β` where Keras writes
/// `1 - self.beta_1`) is formed in double and rounded once, and one it forms from a variable-precision tensor
/// (`1 - beta_1` after `ops.cast`) is formed in `T`. Two more XLA habits are kept: a division by a scalar is a
/// multiplication by the scalar's reciprocal, and `x ** p` is the C library's `pow`.
extension OptimizerConfig {
    @inline(__always)
    func updateMore<T: MLPScalar>(
        _ w: UnsafeMutableBufferPointer<T>, gradient g: UnsafeMutableBufferPointer<T>,
        slots: (UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?),
        step: T, learningRate lr: T, uProduct: T
    ) {
        let count = w.count
        guard let w = w.baseAddress, let g = g.baseAddress else { return }
        let first = slots.0?.baseAddress, second = slots.1?.baseAddress
        switch kind {
        case .nadam:
            guard let m = first, let v = second else { preconditionFailure("Nadam state has no momentum/velocity") }
            let b1 = T(beta1), b2 = T(beta2), decay = T(0.96), half = T(0.5)
            // The momentum schedule μₜ = β₁(1 − ½·0.96ᵗ) at this step and the next; uProduct is Πμ up to this one.
            let uT = b1 * (1 - half * T.pow(decay, step))
            let uNext = b1 * (1 - half * T.pow(decay, step + 1))
            let uProductNext = uProduct * uNext
            let reciprocalNext = 1 / (1 - uProductNext), reciprocal = 1 / (1 - uProduct)
            let reciprocalBeta2 = 1 / (1 - T.pow(b2, step))
            // Nadam casts β first, so 1 − β is formed in T.
            let oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2, oneMinusUT = 1 - uT, eps = T(epsilon)
            for i in 0..<count {
                m[i] += (g[i] - m[i]) * oneMinusB1
                v[i] += (g[i] * g[i] - v[i]) * oneMinusB2
                let mHat = (uNext * m[i]) * reciprocalNext + (oneMinusUT * g[i]) * reciprocal
                let vHat = v[i] * reciprocalBeta2
                w[i] -= (mHat * lr) / (vHat.squareRoot() + eps)
            }
        case .adamax:
            guard let m = first, let u = second else { preconditionFailure("Adamax state has no momentum/norm") }
            let oneMinusPower = 1 - T.pow(T(beta1), step)
            let oneMinusB1 = T(1 - beta1), b2 = T(beta2), eps = T(epsilon)
            for i in 0..<count {
                m[i] += (g[i] - m[i]) * oneMinusB1
                u[i] = Swift.max(b2 * u[i], Swift.abs(g[i]))
                w[i] -= (lr * m[i]) / (oneMinusPower * (u[i] + eps))
            }
        case .lion:
            guard let m = first else { preconditionFailure("Lion state has no momentum") }
            let b1 = T(beta1), b2 = T(beta2), oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2
            for i in 0..<count {
                let direction = m[i] * b1 + g[i] * oneMinusB1
                // sign(x): ±1, and x itself for ±0 and NaN.
                let sign: T = direction > 0 ? 1 : direction < 0 ? -1 : direction
                w[i] -= lr * sign
                m[i] = m[i] * b2 + g[i] * oneMinusB2
            }
        case .adadelta:
            guard let accumulatedGrad = first, let accumulatedDelta = second else {
                preconditionFailure("Adadelta state has no accumulators")
            }
            let rho = T(self.rho), oneMinusRho = T(1 - self.rho), eps = T(epsilon)
            for i in 0..<count {
                accumulatedGrad[i] = rho * accumulatedGrad[i] + oneMinusRho * (g[i] * g[i])
                let delta = -((accumulatedDelta[i] + eps).squareRoot() * g[i] / (accumulatedGrad[i] + eps).squareRoot())
                accumulatedDelta[i] = rho * accumulatedDelta[i] + oneMinusRho * (delta * delta)
                w[i] += lr * delta
            }
        case .ftrl:
            guard let accumulator = first, let linear = second else {
                preconditionFailure("Ftrl state has no accumulator/linear")
            }
            let power = T(-learningRatePower)
            let l2 = T(l2RegularizationStrength) + T(beta) / (2 * lr)
            let shrinkage = T(2 * l2ShrinkageRegularizationStrength)
            let l1 = T(l1RegularizationStrength), reciprocalLR = 1 / lr, twiceL2 = 2 * l2
            for i in 0..<count {
                let gradient = g[i] + shrinkage * w[i]
                let newAccumulator = accumulator[i] + g[i] * g[i]
                let newPower = T.pow(newAccumulator, power)
                linear[i] += gradient - ((newPower - T.pow(accumulator[i], power)) * reciprocalLR) * w[i]
                let quadratic = newPower * reciprocalLR + twiceL2
                let clipped = Swift.min(Swift.max(linear[i], -l1), l1)
                w[i] = (clipped - linear[i]) / quadratic
                accumulator[i] = newAccumulator
            }
        case .lamb:
            guard let m = first, let v = second else { preconditionFailure("Lamb state has no momentum/velocity") }
            let reciprocalB1 = 1 / (1 - T.pow(T(beta1), step)), reciprocalB2 = 1 / (1 - T.pow(T(beta2), step))
            let oneMinusB1 = T(1 - beta1), oneMinusB2 = T(1 - beta2), eps = T(epsilon)
            // The update direction goes into the gradient buffer; both norms are plain sequential sums, which is
            // how XLA adds up the small tensors of the fixtures (larger ones it may add in another order).
            var weightSquares: T = 0, updateSquares: T = 0
            for i in 0..<count {
                m[i] += (g[i] - m[i]) * oneMinusB1
                v[i] += (g[i] * g[i] - v[i]) * oneMinusB2
                g[i] = (m[i] * reciprocalB1) / ((v[i] * reciprocalB2).squareRoot() + eps)
                weightSquares += w[i] * w[i]
                updateSquares += g[i] * g[i]
            }
            let weightNorm = weightSquares.squareRoot(), updateNorm = updateSquares.squareRoot()
            let ratio: T = weightNorm > 0 && updateNorm > 0 ? weightNorm / updateNorm : 1
            let scale = ratio * lr
            for i in 0..<count { w[i] -= scale * g[i] }
        case .sgd, .adam, .adamw, .rmsprop, .adagrad:
            preconditionFailure("\(kind) is updated in OptimizerUpdate.swift")
        case .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad:
            preconditionFailure("\(kind) is updated in OptimizerUpdate+Torch.swift")
        }
    }
}

extension Optimizer {
    /// Advances the optimizer-level scalars to the step being taken and returns Nadam's `u_product` in `T` (1 for
    /// the others): Keras multiplies it by β₁(1 − ½·0.96ᵗ) before updating any parameter.
    mutating func advanceScalars(step: T) -> T {
        guard config.kind == .nadam, let index = state.scalars.firstIndex(where: { $0.name == "u_product" }) else {
            return 1
        }
        let uProduct = (T(state.scalars[index].value) * T(config.beta1)) * (1 - T(0.5) * T.pow(T(0.96), step))
        state.scalars[index].value = Double(uProduct)
        return uProduct
    }
}
