/// Every buffer one mini-batch's forward and backward pass needs, allocated once for the largest batch and
/// reused for every step, so the training loop itself allocates nothing.
final class Workspace<T: MLPScalar> {
    let capacity: Int
    let inputWidth: Int
    let targetWidth: Int
    /// The batch's inputs `X` `[rows, inputWidth]` and targets `[rows, targetWidth]`.
    let input: UnsafeMutableBufferPointer<T>
    let targets: UnsafeMutableBufferPointer<T>
    /// Per layer: `Z`, `Y = f(Z)` and `∇Y`, each `[rows, units]`.
    let z: [UnsafeMutableBufferPointer<T>]
    let y: [UnsafeMutableBufferPointer<T>]
    let gradY: [UnsafeMutableBufferPointer<T>]
    /// `∇Z` of the layer being differentiated (one layer at a time, so one buffer of the widest layer).
    let gradZ: UnsafeMutableBufferPointer<T>
    /// `∇W` and `∇b` per trainable parameter, in `parameters` order.
    let parameters: [ParameterID]
    let gradients: [UnsafeMutableBufferPointer<T>]
    /// Row order of the current epoch.
    var order: [Int] = []

    init(network: Network<T>, capacity: Int, targetWidth: Int) {
        self.capacity = capacity
        inputWidth = network.inputWidth
        self.targetWidth = targetWidth
        input = .allocate(capacity: capacity * network.inputWidth)
        targets = .allocate(capacity: capacity * targetWidth)
        z = network.layers.map { .allocate(capacity: capacity * $0.units) }
        y = network.layers.map { .allocate(capacity: capacity * $0.units) }
        gradY = network.layers.map { .allocate(capacity: capacity * $0.units) }
        gradZ = .allocate(capacity: capacity * network.layers.map(\.units).max()!)
        parameters = network.parameters
        gradients = parameters.map { .allocate(capacity: network[$0].count) }
        for buffer in [input, targets, gradZ] + z + y + gradY + gradients { buffer.initialize(repeating: 0) }
    }

    deinit {
        for buffer in [input, targets, gradZ] + z + y + gradY + gradients { buffer.deallocate() }
    }

    /// Copies rows `order[start..<start+rows]` (or `start..<start+rows` when `order` is nil) of a dataset into the
    /// batch buffers.
    func gather(_ data: Dataset<T>, order: [Int]?, start: Int, rows: Int) {
        data.features.withUnsafeBufferPointer { features in
            data.targets.withUnsafeBufferPointer { targetValues in
                for r in 0..<rows {
                    let source = order?[start + r] ?? (start + r)
                    (input.baseAddress! + r * inputWidth).update(
                        from: features.baseAddress! + source * inputWidth, count: inputWidth)
                    (targets.baseAddress! + r * targetWidth).update(
                        from: targetValues.baseAddress! + source * targetWidth, count: targetWidth)
                }
            }
        }
    }
}

extension Network {
    /// Forward pass on the workspace's first `rows` inputs (docs/numerics.md, batch forward/backward):
    /// `X @ W + 1·b → Z`, `f(Z) → Y`, `Y → X` of the next layer. Returns the output block.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func forward(_ ws: Workspace<T>, rows: Int) -> UnsafeMutableBufferPointer<T> {
        var x = UnsafePointer(ws.input.baseAddress!)
        var width = inputWidth
        for (l, layer) in layers.enumerated() {
            let z = ws.z[l].baseAddress!, y = ws.y[l].baseAddress!
            let units = layer.units
            if layer.useBias {
                layer.bias.withUnsafeBufferPointer { b in
                    for r in 0..<rows { (z + r * units).update(from: b.baseAddress!, count: units) }
                }
            }
            layer.kernel.withUnsafeBufferPointer { w in
                GEMM.multiply(x, transposed: false, w.baseAddress!, transposed: false, into: z,
                              m: rows, n: units, k: width, beta: layer.useBias ? 1 : 0)
            }
            layer.activation.apply(z, into: y, rows: rows, width: units)
            x = UnsafePointer(y)
            width = units
        }
        return ws.y[layers.count - 1]
    }

    /// Backward pass, after `forward`, from `∇Y` of the last layer (already in `ws.gradY.last`):
    /// `∇Y ⊙ f'(Z) → ∇Z`, `Xᵀ @ ∇Z → ∇W`, `Σ_rows ∇Z → ∇b`, `∇Z @ Wᵀ → ∇X`, which is `∇Y` of the layer before.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func backward(_ ws: Workspace<T>, rows: Int) {
        var gradientIndex = ws.parameters.count
        for l in layers.indices.reversed() {
            let layer = layers[l]
            let units = layer.units
            let gradZ = ws.gradZ.baseAddress!
            layer.activation.backward(
                z: ws.z[l].baseAddress!, y: ws.y[l].baseAddress!, gradY: ws.gradY[l].baseAddress!, into: gradZ,
                rows: rows, width: units)
            let x = l == 0 ? ws.input.baseAddress! : ws.y[l - 1].baseAddress!
            if layer.useBias {
                gradientIndex -= 1
                let gradB = ws.gradients[gradientIndex].baseAddress!
                gradB.update(repeating: 0, count: units)
                for r in 0..<rows {
                    let row = gradZ + r * units
                    for j in 0..<units { gradB[j] += row[j] }
                }
            }
            gradientIndex -= 1
            GEMM.multiply(x, transposed: true, gradZ, transposed: false, into: ws.gradients[gradientIndex].baseAddress!,
                          m: layer.inputWidth, n: units, k: rows)
            if l > 0 {
                layer.kernel.withUnsafeBufferPointer { w in
                    GEMM.multiply(gradZ, transposed: false, w.baseAddress!, transposed: true,
                                  into: ws.gradY[l - 1].baseAddress!, m: rows, n: layer.inputWidth, k: units)
                }
            }
        }
    }

    /// Loss of the batch in the workspace and, in `ws.gradients`, its gradient for every parameter.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func lossAndGradients(_ ws: Workspace<T>, rows: Int, loss: Loss) -> T {
        let output = forward(ws, rows: rows)
        let value = loss.evaluate(
            predictions: output.baseAddress!, targets: ws.targets.baseAddress!, rows: rows, width: outputWidth,
            gradient: ws.gradY[layers.count - 1].baseAddress!)
        backward(ws, rows: rows)
        return value
    }
}
