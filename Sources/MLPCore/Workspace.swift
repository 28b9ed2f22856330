/// Every buffer one mini-batch's forward and backward pass needs, allocated once for the largest batch and
/// reused for every step, so the training loop itself allocates nothing.
final class Workspace<T: MLPScalar> {
    let capacity: Int
    let inputWidth: Int
    let targetWidth: Int
    /// The batch's inputs `X` `[rows, inputWidth]` and targets `[rows, targetWidth]`.
    let input: UnsafeMutableBufferPointer<T>
    let targets: UnsafeMutableBufferPointer<T>
    /// Per layer: its output `Y` and `∇Y`, each `[rows, outputWidth]`.
    let y: [UnsafeMutableBufferPointer<T>]
    let gradY: [UnsafeMutableBufferPointer<T>]
    /// Per layer, what its backward pass needs (empty where the layer needs nothing): Dense keeps `Z`
    /// `[rows, units]`; a normalization keeps `X̂` `[rows, width]` and its statistics (batch normalization:
    /// mean, variance and 1/√(variance + ε) per feature; layer normalization: mean and 1/√(variance + ε) per row);
    /// dropout keeps its mask (1 kept, 0 dropped) `[rows, width]`.
    let z: [UnsafeMutableBufferPointer<T>]
    let normalized: [UnsafeMutableBufferPointer<T>]
    let statistics: [UnsafeMutableBufferPointer<T>]
    let mask: [UnsafeMutableBufferPointer<T>]
    /// Scratch `[rows, widest layer]`: `∇Z` of the Dense layer being differentiated, or batch normalization's sums.
    let scratch: UnsafeMutableBufferPointer<T>
    /// `∇` per trainable parameter, in `parameters` order; `firstGradient[l]` is layer `l`'s first one.
    let parameters: [ParameterID]
    let gradients: [UnsafeMutableBufferPointer<T>]
    let firstGradient: [Int]
    /// Row order of the current epoch.
    var order: [Int] = []

    /// Without `training` only the forward pass's buffers are allocated (predict, evaluate): no gradients, no `∇Y`,
    /// no `X̂` or masks, which for a batch-1 prediction would cost more than the prediction itself.
    init(network: Network<T>, capacity: Int, targetWidth: Int, training: Bool = true) {
        self.capacity = capacity
        inputWidth = network.inputWidth
        self.targetWidth = targetWidth
        input = .allocate(capacity: capacity * network.inputWidth)
        targets = .allocate(capacity: capacity * targetWidth)
        let layers = network.layers
        y = layers.map { .allocate(capacity: capacity * $0.outputWidth) }
        let backwardRows = training ? capacity : 0
        gradY = layers.map { .allocate(capacity: backwardRows * $0.outputWidth) }
        z = layers.map { layer in
            if case .dense = layer.kind { return .allocate(capacity: capacity * layer.outputWidth) }
            return .allocate(capacity: 0)
        }
        normalized = layers.map { layer in
            switch layer.kind {
            case .batchNormalization, .layerNormalization: .allocate(capacity: backwardRows * layer.inputWidth)
            default: .allocate(capacity: 0)
            }
        }
        statistics = layers.map { layer in
            switch layer.kind {
            case .batchNormalization: .allocate(capacity: 3 * layer.inputWidth)
            case .layerNormalization: .allocate(capacity: 2 * capacity)
            default: .allocate(capacity: 0)
            }
        }
        mask = layers.map { layer in
            if case .dropout = layer.kind { return .allocate(capacity: backwardRows * layer.inputWidth) }
            return .allocate(capacity: 0)
        }
        // At least two rows: batch normalization's backward pass keeps two sums per feature here.
        scratch = .allocate(capacity: training ? max(capacity, 2) * layers.map(\.outputWidth).max()! : 0)
        parameters = training ? network.parameters : []
        gradients = parameters.map { .allocate(capacity: network[$0].count) }
        var first: [Int] = []
        var index = 0
        for layer in layers {
            first.append(index)
            index += layer.variables.filter(\.trainable).count
        }
        firstGradient = first
        for buffer in allBuffers { buffer.initialize(repeating: 0) }
    }

    private var allBuffers: [UnsafeMutableBufferPointer<T>] {
        [input, targets, scratch] + y + gradY + z + normalized + statistics + mask + gradients
    }

    deinit {
        for buffer in allBuffers { buffer.deallocate() }
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

    /// Draws a fresh dropout mask for every dropout layer from `random`, row by row: an element is kept when a
    /// uniform draw in [0, 1) is below `1 − rate`.
    func drawDropoutMasks(for network: Network<T>, rows: Int, random: inout RandomGenerator) {
        for (l, layer) in network.layers.enumerated() {
            guard case .dropout(let dropout) = layer.kind, dropout.rate > 0 else { continue }
            let keep = 1 - dropout.rate
            let m = mask[l]
            for i in 0..<rows * layer.inputWidth { m[i] = random.nextUnitDouble() < keep ? 1 : 0 }
        }
    }
}
