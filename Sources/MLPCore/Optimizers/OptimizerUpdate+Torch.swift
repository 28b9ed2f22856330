import RealModule

/// torch.optim's update rules (torch 2.15's single-tensor CPU path: `_single_tensor_sgd`, `_single_tensor_adam`
/// — AdamW is Adam with `decoupled_weight_decay` —, `_single_tensor_rmsprop`, `_single_tensor_adagrad`), checked
/// against fixtures/reference/torch_optimizer_updates.json (docs/numerics.md, torch's optimizers).
///
/// torch passes Python floats to its tensor kernels, which round them to the tensor's dtype once: so a scalar
/// torch forms in Python (`1 − β₁`, `lr / bias_correction1`, `bias_correction2 ** 0.5`, `1 − lr·wd`) is formed in
/// double here and rounded to `T`, and everything else runs in `T` in the kernels' order of operations, with
/// their fused multiply-adds (ATen's CPU kernels are built with FMA): `add(x, alpha)` is `fma(alpha, x, self)`,
/// `addcmul` is `fma(value·a, b, self)`, `lerp(end, w)` is `fma(w, end − self, self)` for |w| < ½, else
/// `fma(−(end − self), 1 − w, end)`; `addcdiv` is `self + (value·a) / b`, unfused. The fixtures showed each of
/// these choices; what remains is an ulp here and there in the final update of the parameter (docs/numerics.md).
extension OptimizerConfig {
    /// One parameter's step: `step` is torch's `state["step"]` after its increment (`iterations + 1`); the
    /// gradient buffer is scratch (it becomes the L2-decayed, possibly negated gradient).
    @inline(__always)
    func torchUpdate<T: MLPScalar>(
        _ w: UnsafeMutableBufferPointer<T>, gradient g: UnsafeMutableBufferPointer<T>,
        slots: (UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?),
        step: Int
    ) {
        let count = w.count
        guard let w = w.baseAddress, let g = g.baseAddress else { return }
        if maximize { for i in 0..<count { g[i] = -g[i] } }
        // torch's L2 weight decay, `grad.add(param, alpha=weight_decay)`; AdamW's is decoupled, below.
        if torchWeightDecay != 0, kind != .torchAdamW {
            let wd = T(torchWeightDecay)
            for i in 0..<count { g[i] = g[i].addingProduct(wd, w[i]) }
        }
        let first = slots.0?.baseAddress, second = slots.1?.baseAddress, third = slots.2?.baseAddress
        switch kind {
        case .torchSGD:
            let negativeLR = T(-learningRate)
            guard momentum != 0, let buffer = first else {
                for i in 0..<count { w[i] = w[i].addingProduct(negativeLR, g[i]) }
                return
            }
            let mu = T(momentum), oneMinusDampening = T(1 - dampening)
            for i in 0..<count {
                // torch creates the buffer as a copy of the first gradient (undampened).
                buffer[i] = step == 1 ? g[i] : (buffer[i] * mu).addingProduct(oneMinusDampening, g[i])
                let direction = nesterov ? g[i].addingProduct(mu, buffer[i]) : buffer[i]
                w[i] = w[i].addingProduct(negativeLR, direction)
            }
        case .torchAdam, .torchAdamW:
            guard let m = first, let v = second else { preconditionFailure("torch Adam state has no exp_avg/exp_avg_sq") }
            if kind == .torchAdamW, torchWeightDecay != 0 {
                let decay = T(1 - learningRate * torchWeightDecay)
                for i in 0..<count { w[i] = w[i] * decay }
            }
            let t = Double(step)
            let biasCorrection1 = 1 - Double.pow(beta1, t)
            let biasCorrection2 = 1 - Double.pow(beta2, t)
            let negativeStepSize = T(-(learningRate / biasCorrection1))
            let biasCorrection2Root = T(Double.pow(biasCorrection2, 0.5))
            let oneMinusBeta1 = T(1 - beta1), beta2 = T(self.beta2), oneMinusBeta2 = T(1 - self.beta2), eps = T(epsilon)
            for i in 0..<count {
                m[i] = lerp(m[i], g[i], oneMinusBeta1)
                v[i] = v[i] * beta2
                v[i] = v[i].addingProduct(oneMinusBeta2 * g[i], g[i])
                var second = v[i]
                if let maxSecond = third {
                    maxSecond[i] = Swift.max(maxSecond[i], v[i])
                    second = maxSecond[i]
                }
                let denominator = second.squareRoot() / biasCorrection2Root + eps
                w[i] = w[i] + (negativeStepSize * m[i]) / denominator
            }
        case .torchRMSprop:
            guard let squareAverage = first else { preconditionFailure("torch RMSprop state has no square_avg") }
            let buffer = momentum > 0 ? second : nil
            let gradientAverage = centered ? (momentum > 0 ? third : second) : nil
            let alpha = T(self.alpha), oneMinusAlpha = T(1 - self.alpha), eps = T(epsilon), mu = T(momentum)
            let negativeLR = T(-learningRate)
            for i in 0..<count {
                squareAverage[i] = squareAverage[i] * alpha
                squareAverage[i] = squareAverage[i].addingProduct(oneMinusAlpha * g[i], g[i])
                var average: T
                if let gradientAverage {
                    gradientAverage[i] = lerp(gradientAverage[i], g[i], oneMinusAlpha)
                    average = squareAverage[i].addingProduct(-gradientAverage[i], gradientAverage[i]).squareRoot()
                } else {
                    average = squareAverage[i].squareRoot()
                }
                average = average + eps
                if let buffer {
                    buffer[i] = buffer[i] * mu
                    buffer[i] = buffer[i] + g[i] / average
                    w[i] = w[i].addingProduct(negativeLR, buffer[i])
                } else {
                    w[i] = w[i] + (negativeLR * g[i]) / average
                }
            }
        case .torchAdagrad:
            guard let sum = first else { preconditionFailure("torch Adagrad state has no sum") }
            let negativeRate = T(-(learningRate / (1 + Double(step - 1) * learningRateDecay)))
            let eps = T(epsilon)
            for i in 0..<count {
                sum[i] = sum[i].addingProduct(g[i], g[i])
                w[i] = w[i] + (negativeRate * g[i]) / (sum[i].squareRoot() + eps)
            }
        default:
            preconditionFailure("\(kind) is not a torch optimizer")
        }
    }
}

/// ATen's `lerp`, fused as its vectorized kernel is: the form that stays accurate for small weights.
@inline(__always)
private func lerp<T: MLPScalar>(_ start: T, _ end: T, _ weight: T) -> T {
    abs(weight) < 0.5 ? start.addingProduct(weight, end - start) : end.addingProduct(-(end - start), 1 - weight)
}
