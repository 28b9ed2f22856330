import RealModule

/// The update rules as functions of the configuration: gradient clipping over all gradients, then for each
/// parameter on its own `(gradient, parameter, slots) → (parameter, slots)`, in place on the buffers.
/// The numerics are Keras 3's, bit for bit in float32 (docs/keras-formats.md, optimizer update rules).
extension OptimizerConfig {
    /// Keras applies at most one kind of clipping: `clipnorm`, else `global_clipnorm`, else `clipvalue`.
    /// The gradients are clipped in place.
    func clip<T: MLPScalar>(_ gradients: [UnsafeMutableBufferPointer<T>]) {
        if let clipnorm, clipnorm > 0 {
            let limit = T(clipnorm)
            for g in gradients {
                let norm = sumOfSquares(g).squareRoot()
                // Keras writes g·c / max(‖g‖, c); XLA rewrites a division by a broadcast scalar into a product with
                // its reciprocal, so Keras on JAX computes (g·c)·(1 / max(‖g‖, c)), as here. An all-zero gradient
                // stays zero.
                guard norm > 0 else { continue }
                let reciprocal = 1 / max(norm, limit)
                for i in g.indices { g[i] = g[i] * limit * reciprocal }
            }
        } else if let globalClipnorm, globalClipnorm > 0 {
            let limit = T(globalClipnorm)
            var total: T = 0
            for g in gradients { total += sumOfSquares(g) }
            let norm = total.squareRoot()
            // Keras's 1 / global_clipnorm is a Python double, rounded once: T(1 / c), not 1 / T(c). For c = 0.13 the
            // two differ, and T(c) · T(1 / c) = 1 − 2⁻²⁴ shrinks even a gradient within the limit by an ulp.
            let scale = limit * min(1 / norm, T(1 / globalClipnorm))
            for g in gradients { for i in g.indices { g[i] *= scale } }
        } else if let clipvalue, clipvalue > 0 {
            let limit = T(clipvalue)
            for g in gradients { for i in g.indices { g[i] = min(max(g[i], -limit), limit) } }
        }
    }

    /// One parameter's step from its (already clipped) gradient: decoupled weight decay, then the rule of `kind`.
    /// `slots` are the parameter's slot tensors in `slotNames` order; `step` is the step being taken
    /// (`iterations + 1`); `uProduct` is Nadam's, already advanced to this step. The gradient buffer is scratch:
    /// RMSprop and Lamb compute their increments into it.
    ///
    /// `1 − β` and `1 − ρ` are formed in double precision and then rounded, because Keras computes them on Python
    /// floats; everything else runs in `T` like Keras's float32 variables.
    @inline(__always)
    func update<T: MLPScalar>(
        _ w: UnsafeMutableBufferPointer<T>, gradient g: UnsafeMutableBufferPointer<T>,
        slots: (UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?),
        step: T, learningRate lr: T, uProduct: T, stepConstants: StepConstants<T>
    ) {
        if let weightDecay {
            let wd = T(weightDecay)
            for i in w.indices { w[i] = w[i] - w[i] * wd * lr }
        }
        switch kind {
        case .sgd:
            guard let m = slots.0 else {
                for i in w.indices { w[i] -= g[i] * lr }
                return
            }
            let mu = T(momentum)
            if nesterov {
                for i in w.indices {
                    m[i] = m[i] * mu - g[i] * lr
                    w[i] += m[i] * mu - g[i] * lr
                }
            } else {
                for i in w.indices {
                    m[i] = m[i] * mu - g[i] * lr
                    w[i] += m[i]
                }
            }
        case .adam, .adamw:
            guard let m = slots.0?.baseAddress, let v = slots.1?.baseAddress else {
                preconditionFailure("Adam state has no momentum/velocity")
            }
            let alpha = stepConstants.adamStepSize
            let oneMinusBeta1 = T(1 - beta1), oneMinusBeta2 = T(1 - beta2), eps = T(epsilon)
            let count = w.count
            guard let w = w.baseAddress, let g = g.baseAddress else { return }
            ElementKernels.adam(w: w, g: g, m: m, v: v, vHat: slots.2?.baseAddress, count: count,
                                oneMinusBeta1: oneMinusBeta1, oneMinusBeta2: oneMinusBeta2, alpha: alpha, epsilon: eps)
        case .rmsprop:
            guard let velocity = slots.0?.baseAddress else { preconditionFailure("RMSprop state has no velocity") }
            let momentumSlot = momentum > 0 ? slots.1?.baseAddress : nil
            let average = centered ? (momentum > 0 ? slots.2 : slots.1)?.baseAddress : nil
            let rho = T(self.rho), oneMinusRho = T(1 - self.rho), eps = T(epsilon), mu = T(momentum)
            let count = w.count
            guard let w = w.baseAddress, let g = g.baseAddress else { return }
            // increment = lr·g / √den, computed into the gradient buffer (no longer needed afterwards).
            ElementKernels.rmspropIncrement(g: g, velocity: velocity, average: average, count: count, rho: rho,
                                            oneMinusRho: oneMinusRho, learningRate: lr, epsilon: eps)
            if let momentumSlot {
                for i in 0..<count {
                    momentumSlot[i] = mu * momentumSlot[i] + g[i]
                    w[i] -= momentumSlot[i]
                }
            } else {
                for i in 0..<count { w[i] -= g[i] }
            }
        case .adagrad:
            let count = w.count
            guard let accumulator = slots.0?.baseAddress else { preconditionFailure("Adagrad state has no accumulator") }
            guard let w = w.baseAddress, let g = g.baseAddress else { return }
            ElementKernels.adagrad(w: w, g: g, accumulator: accumulator, count: count, learningRate: lr,
                                   epsilon: T(epsilon))
        case .nadam, .adamax, .lion, .adadelta, .ftrl, .lamb:
            updateMore(w, gradient: g, slots: slots, step: step, learningRate: lr, uProduct: uProduct)
        case .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad:
            preconditionFailure("\(kind) is updated by torchUpdate (OptimizerUpdate+Torch.swift)")
        }
    }
}

/// What a rule computes from the step alone, the same for every parameter: computed once per step rather than once
/// per tensor (two `pow` calls per tensor were a tenth of a 4-8-3 network's step).
struct StepConstants<T: MLPScalar> {
    /// Adam's `lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)` (0 for other rules).
    var adamStepSize: T = 0

    init(config: OptimizerConfig, step: T, learningRate lr: T) {
        guard config.kind == .adam || config.kind == .adamw else { return }
        let beta1Power = T.pow(T(config.beta1), step)
        let beta2Power = T.pow(T(config.beta2), step)
        adamStepSize = lr * (1 - beta2Power).squareRoot() / (1 - beta1Power)
    }
}

@inline(__always)
private func sumOfSquares<T: MLPScalar>(_ values: UnsafeMutableBufferPointer<T>) -> T {
    var total: T = 0
    for x in values { total += x * x }
    return total
}
