/// The forward and backward passes over the workspace, layer by layer (docs/numerics.md, batch forward/backward
/// and the normalization layers).
extension Network {
    /// Forward pass on the workspace's first `rows` inputs; returns the output block. With `training`, dropout
    /// applies the masks already drawn into the workspace and batch normalization uses the batch's statistics
    /// (stored in the workspace for `updateMovingStatistics`); otherwise both are inference-mode.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func forward(_ ws: Workspace<T>, rows: Int, training: Bool = false) -> UnsafeMutableBufferPointer<T> {
        var x = UnsafePointer(ws.input.baseAddress!)
        for (l, layer) in layers.enumerated() {
            let y = ws.y[l].baseAddress!
            let width = layer.inputWidth
            switch layer.kind {
            case .dense(let dense):
                let z = ws.z[l].baseAddress!
                let units = dense.units
                if dense.useBias {
                    layer.weights[1].withUnsafeBufferPointer { b in
                        for r in 0..<rows { (z + r * units).update(from: b.baseAddress!, count: units) }
                    }
                }
                layer.weights[0].withUnsafeBufferPointer { w in
                    GEMM.multiply(x, transposed: false, w.baseAddress!, transposed: false, into: z,
                                  m: rows, n: units, k: width, beta: dense.useBias ? 1 : 0)
                }
                dense.activation.apply(z, into: y, rows: rows, width: units)
            case .activation(let activation):
                activation.apply(x, into: y, rows: rows, width: width)
            case .dropout(let dropout) where training && dropout.rate > 0:
                // Keras divides the kept inputs by the keep probability (a Python float, rounded to T once).
                let keep = T(1 - dropout.rate)
                let m = ws.mask[l].baseAddress!
                for i in 0..<rows * width { y[i] = m[i] != 0 ? x[i] / keep : 0 }
            case .dropout, .flatten:
                y.update(from: x, count: rows * width)
            case .batchNormalization(let bn):
                batchNormalizationForward(layer, bn, x: x, y: y, ws: ws, l: l, rows: rows, training: training)
            case .layerNormalization(let ln):
                layerNormalizationForward(layer, ln, x: x, y: y, ws: ws, l: l, rows: rows, training: training)
            }
            x = UnsafePointer(y)
        }
        return ws.y[layers.count - 1]
    }

    /// `y = x·s + (β − μ·s)` with `s = γ/√(σ² + ε)`, Keras's arrangement of the arithmetic; `X̂ = (x − μ)/√(σ² + ε)`
    /// is kept for the backward pass (in training only: an inference workspace has no room for it).
    private func batchNormalizationForward(
        _ layer: Layer<T>, _ bn: BatchNormalizationSettings, x: UnsafePointer<T>, y: UnsafeMutablePointer<T>,
        ws: Workspace<T>, l: Int, rows: Int, training: Bool
    ) {
        let width = layer.inputWidth
        let stats = ws.statistics[l].baseAddress!
        let mean = stats, variance = stats + width, inverse = stats + 2 * width
        let (gamma, beta) = (layer[variable: "gamma"], layer[variable: "beta"])
        if training {
            for j in 0..<width { mean[j] = 0; variance[j] = 0 }
            for r in 0..<rows { for j in 0..<width { mean[j] += x[r * width + j] } }
            for j in 0..<width { mean[j] /= T(rows) }
            for r in 0..<rows {
                for j in 0..<width {
                    let d = x[r * width + j] - mean[j]
                    variance[j] += d * d
                }
            }
            for j in 0..<width { variance[j] /= T(rows) }
        } else {
            let movingMean = layer.weights[layer.weights.count - 2], movingVariance = layer.weights[layer.weights.count - 1]
            for j in 0..<width {
                mean[j] = movingMean[j]
                variance[j] = movingVariance[j]
            }
        }
        let eps = T(bn.epsilon)
        let xHat = ws.normalized[l].baseAddress!
        for j in 0..<width { inverse[j] = 1 / (variance[j] + eps).squareRoot() }
        for j in 0..<width {
            let s = inverse[j] * (gamma?[j] ?? 1)
            let offset = -mean[j] * s + (beta?[j] ?? 0)
            for r in 0..<rows { y[r * width + j] = x[r * width + j] * s + offset }
            guard training else { continue }
            for r in 0..<rows {
                let i = r * width + j
                xHat[i] = (x[i] - mean[j]) * inverse[j]
            }
        }
    }

    /// Per row: `y = x·s + (β − μ·s)` with `s = γ/√(σ² + ε)` over the row's features; `X̂` for the backward pass
    /// in training.
    private func layerNormalizationForward(
        _ layer: Layer<T>, _ ln: LayerNormalizationSettings, x: UnsafePointer<T>, y: UnsafeMutablePointer<T>,
        ws: Workspace<T>, l: Int, rows: Int, training: Bool
    ) {
        let width = layer.inputWidth
        let stats = ws.statistics[l].baseAddress!
        let xHat = ws.normalized[l].baseAddress!
        let (gamma, beta) = (layer[variable: "gamma"], layer[variable: "beta"])
        let eps = T(ln.epsilon)
        for r in 0..<rows {
            let row = x + r * width
            var mean: T = 0
            for j in 0..<width { mean += row[j] }
            mean /= T(width)
            var variance: T = 0
            for j in 0..<width { variance += (row[j] - mean) * (row[j] - mean) }
            variance /= T(width)
            let inverse = 1 / (variance + eps).squareRoot()
            stats[2 * r] = mean
            stats[2 * r + 1] = inverse
            for j in 0..<width {
                let s = inverse * (gamma?[j] ?? 1)
                y[r * width + j] = row[j] * s + (-mean * s + (beta?[j] ?? 0))
            }
            guard training else { continue }
            for j in 0..<width { xHat[r * width + j] = (row[j] - mean) * inverse }
        }
    }
}
