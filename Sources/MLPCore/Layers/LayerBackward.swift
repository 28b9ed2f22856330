/// The backward pass and the loss with its regularization terms (docs/numerics.md, batch forward/backward and
/// the normalization layers).
extension Network {
    /// Backward pass, after a training-mode `forward`, from `∇Y` of the last layer (already in `ws.gradY.last`).
    /// Each layer turns `∇Y` into its parameters' gradients and into `∇X`, the `∇Y` of the layer before.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func backward(_ ws: Workspace<T>, rows: Int) {
        for l in layers.indices.reversed() {
            let layer = layers[l]
            let width = layer.inputWidth
            let gradY = ws.gradY[l].baseAddress!
            let x = l == 0 ? ws.input.baseAddress! : ws.y[l - 1].baseAddress!
            // ∇X is only needed below the first layer.
            let gradX = l > 0 ? ws.gradY[l - 1].baseAddress : nil
            let first = ws.firstGradient[l]
            switch layer.kind {
            case .dense(let dense):
                let units = dense.units
                if let activity = dense.activityRegularizer {
                    // The penalty is divided by the batch size (Keras 3), and so is its gradient.
                    _ = activity.penalty(UnsafeBufferPointer(ws.y[l].extracting(0..<rows * units)),
                                         addingGradientTo: gradY, scale: 1 / T(rows))
                }
                // ∇b = Σ_rows ∇z comes out of the same pass that forms ∇z.
                let gradZ = dense.activation.backward(
                    z: ws.z[l].baseAddress!, y: ws.y[l].baseAddress!, gradY: gradY, into: ws.scratch.baseAddress!,
                    rows: rows, width: units, columnSums: dense.useBias ? ws.gradients[first + 1].baseAddress! : nil)
                GEMM.multiply(x, transposed: true, gradZ, transposed: false, into: ws.gradients[first].baseAddress!,
                              m: width, n: units, k: rows)
                if let gradX {
                    layer.weights[0].withUnsafeBufferPointer { w in
                        GEMM.multiply(gradZ, transposed: false, w.baseAddress!, transposed: true,
                                      into: gradX, m: rows, n: width, k: units)
                    }
                }
            case .activation(let activation):
                guard let gradX else { continue }
                let result = activation.backward(z: x, y: ws.y[l].baseAddress!, gradY: gradY, into: gradX, rows: rows, width: width)
                // The linear activation leaves ∇z in ∇y rather than copying it.
                if result == UnsafePointer(gradY) { gradX.update(from: gradY, count: rows * width) }
            case .dropout(let dropout):
                guard let gradX else { continue }
                if dropout.rate > 0 {
                    let keep = T(1 - dropout.rate)
                    let m = ws.mask[l].baseAddress!
                    for i in 0..<rows * width { gradX[i] = m[i] != 0 ? gradY[i] / keep : 0 }
                } else {
                    gradX.update(from: gradY, count: rows * width)
                }
            case .flatten:
                gradX?.update(from: gradY, count: rows * width)
            case .batchNormalization(let bn):
                batchNormalizationBackward(layer, scale: bn.scale, center: bn.center, ws: ws, l: l, rows: rows,
                                           first: first, gradX: gradX)
            case .layerNormalization(let ln):
                layerNormalizationBackward(layer, scale: ln.scale, center: ln.center, ws: ws, l: l, rows: rows,
                                           first: first, gradX: gradX)
            }
        }
    }

    /// With batch statistics, per feature j over the N rows: `∇β = Σ∇y`, `∇γ = Σ∇y·x̂`, and
    /// `∇x = γ/(N·√(σ² + ε)) · (N·∇y − ∇β − x̂·∇γ)`.
    private func batchNormalizationBackward(
        _ layer: Layer<T>, scale: Bool, center: Bool, ws: Workspace<T>, l: Int, rows: Int, first: Int,
        gradX: UnsafeMutablePointer<T>?
    ) {
        let width = layer.inputWidth
        let gradY = ws.gradY[l].baseAddress!, xHat = ws.normalized[l].baseAddress!
        let inverse = ws.statistics[l].baseAddress! + 2 * width
        let gamma = scale ? layer.weights[0] : nil
        // Both sums are needed for ∇x even when the layer has no γ or β to receive them.
        let sums = ws.scratch.baseAddress!
        let sumGrad = sums, sumGradXHat = sums + width
        for j in 0..<2 * width { sums[j] = 0 }
        for r in 0..<rows {
            for j in 0..<width {
                let i = r * width + j
                sumGrad[j] += gradY[i]
                sumGradXHat[j] += gradY[i] * xHat[i]
            }
        }
        var g = first
        if scale { ws.gradients[g].baseAddress!.update(from: sumGradXHat, count: width); g += 1 }
        if center { ws.gradients[g].baseAddress!.update(from: sumGrad, count: width) }
        guard let gradX else { return }
        let n = T(rows)
        for r in 0..<rows {
            for j in 0..<width {
                let i = r * width + j
                let factor = (gamma?[j] ?? 1) * inverse[j] / n
                gradX[i] = factor * (n * gradY[i] - sumGrad[j] - xHat[i] * sumGradXHat[j])
            }
        }
    }

    /// Per row over its W features: `∇x = (1/(W·√(σ² + ε))) · (W·ĝ − Σĝ − x̂·Σĝx̂)` with `ĝ = ∇y·γ`; `∇γ` and `∇β`
    /// sum `∇y·x̂` and `∇y` over the rows.
    private func layerNormalizationBackward(
        _ layer: Layer<T>, scale: Bool, center: Bool, ws: Workspace<T>, l: Int, rows: Int, first: Int,
        gradX: UnsafeMutablePointer<T>?
    ) {
        let width = layer.inputWidth
        let gradY = ws.gradY[l].baseAddress!, xHat = ws.normalized[l].baseAddress!
        let stats = ws.statistics[l].baseAddress!
        let gamma = scale ? layer.weights[0] : nil
        var g = first
        if scale {
            let gradGamma = ws.gradients[g].baseAddress!
            gradGamma.update(repeating: 0, count: width)
            for r in 0..<rows { for j in 0..<width { gradGamma[j] += gradY[r * width + j] * xHat[r * width + j] } }
            g += 1
        }
        if center {
            let gradBeta = ws.gradients[g].baseAddress!
            gradBeta.update(repeating: 0, count: width)
            for r in 0..<rows { for j in 0..<width { gradBeta[j] += gradY[r * width + j] } }
        }
        guard let gradX else { return }
        let w = T(width)
        for r in 0..<rows {
            let inverse = stats[2 * r + 1]
            var sum: T = 0, sumXHat: T = 0
            for j in 0..<width {
                let gHat = gradY[r * width + j] * (gamma?[j] ?? 1)
                sum += gHat
                sumXHat += gHat * xHat[r * width + j]
            }
            for j in 0..<width {
                let i = r * width + j
                let gHat = gradY[i] * (gamma?[j] ?? 1)
                gradX[i] = inverse / w * (w * gHat - sum - xHat[i] * sumXHat)
            }
        }
    }

    /// Loss of the batch in the workspace — the data loss plus every regularization penalty — and, in
    /// `ws.gradients`, its gradient for every trainable parameter. Dropout masks must already be drawn.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func lossAndGradients(_ ws: Workspace<T>, rows: Int, loss: Loss) -> T {
        let output = forward(ws, rows: rows, training: true)
        var value = loss.evaluate(
            predictions: output.baseAddress!, targets: ws.targets.baseAddress!, rows: rows, width: outputWidth,
            targetWidth: ws.targetWidth, gradient: ws.gradY[layers.count - 1].baseAddress!)
        guard isRegularized else {
            backward(ws, rows: rows)
            return value
        }
        value += activityPenalty(ws, rows: rows)
        backward(ws, rows: rows)
        value += weightPenalty(addingGradientsTo: ws)
        return value
    }

    /// Σ over Dense layers with an activity regularizer of its penalty on the batch's outputs, over the batch size.
    func activityPenalty(_ ws: Workspace<T>, rows: Int) -> T {
        var total: T = 0
        for (l, layer) in layers.enumerated() {
            guard let regularizer = layer.kind.dense?.activityRegularizer else { continue }
            let values = UnsafeBufferPointer(ws.y[l].extracting(0..<rows * layer.outputWidth))
            total += regularizer.penalty(values, addingGradientTo: nil) / T(rows)
        }
        return total
    }

    /// Σ of the kernel and bias penalties; with a workspace, their gradients are added to the parameters'.
    func weightPenalty(addingGradientsTo ws: Workspace<T>? = nil) -> T {
        var total: T = 0
        for (l, layer) in layers.enumerated() {
            guard let dense = layer.kind.dense else { continue }
            let first = ws?.firstGradient[l] ?? 0
            if let regularizer = dense.kernelRegularizer {
                layer.weights[0].withUnsafeBufferPointer { w in
                    total += regularizer.penalty(w, addingGradientTo: ws?.gradients[first].baseAddress)
                }
            }
            if dense.useBias, let regularizer = dense.biasRegularizer {
                layer.weights[1].withUnsafeBufferPointer { w in
                    total += regularizer.penalty(w, addingGradientTo: ws?.gradients[first + 1].baseAddress)
                }
            }
        }
        return total
    }

    /// After a training step: `moving ← moving·momentum + batch·(1 − momentum)` for every batch normalization,
    /// from the statistics its forward pass left in the workspace.
    mutating func updateMovingStatistics(from ws: Workspace<T>, rows: Int) {
        for l in layers.indices {
            guard case .batchNormalization(let bn) = layers[l].kind else { continue }
            let width = layers[l].inputWidth
            let stats = ws.statistics[l].baseAddress!
            let momentum = T(bn.momentum), rest = T(1 - bn.momentum)
            let meanIndex = layers[l].variables.count - 2
            // torch's Bessel correction. torch refuses a one-row training batch, which has no unbiased variance;
            // here its biased variance (0) is taken, as Keras would.
            let correction = bn.unbiasedMovingVariance && rows > 1 ? T(rows) / T(rows - 1) : 1
            for (v, offset, factor) in [(meanIndex, 0, T(1)), (meanIndex + 1, width, correction)] {
                layers[l].weights[v].withUnsafeMutableBufferPointer { moving in
                    for j in 0..<width { moving[j] = moving[j] * momentum + stats[offset + j] * factor * rest }
                }
            }
        }
    }

    /// Projects every constrained parameter after an optimizer step.
    mutating func applyConstraints() {
        for l in layers.indices {
            guard let dense = layers[l].kind.dense else { continue }
            for (v, constraint) in [(0, dense.kernelConstraint), (1, dense.useBias ? dense.biasConstraint : nil)] {
                guard let constraint else { continue }
                let shape = layers[l].variables[v].shape
                layers[l].weights[v].withUnsafeMutableBufferPointer { constraint.apply($0, shape: shape) }
            }
        }
    }

    public var hasConstraints: Bool {
        layers.contains { $0.kind.dense.map { $0.kernelConstraint != nil || ($0.useBias && $0.biasConstraint != nil) } ?? false }
    }
}
