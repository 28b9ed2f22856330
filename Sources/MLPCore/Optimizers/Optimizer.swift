/// An optimizer: its configuration, its state, and the step that applies the configuration's update rules
/// (OptimizerUpdate.swift) to a network and advances the state.
public struct Optimizer<T: MLPScalar>: Sendable, Equatable {
    public let config: OptimizerConfig
    public internal(set) var state: OptimizerState<T>

    public init(config: OptimizerConfig, network: Network<T>) throws(OptimizerError) {
        try config.validate()
        self.config = config
        self.state = OptimizerState(config: config, network: network)
    }

    /// Restores saved state, checking it strictly against the configuration and network: missing, unexpected
    /// and wrongly sized slots are each reported by name.
    public init(config: OptimizerConfig, state: OptimizerState<T>, network: Network<T>) throws(OptimizerError) {
        try config.validate()
        self.state = try state.checked(against: config, network: network)
        self.config = config
    }

    /// One update of every parameter (`parameters` is `network.parameters`, passed in so that the training loop
    /// does not rebuild it each step) from its gradient, in Keras's order: clip → weight decay → update →
    /// `iterations += 1`. The gradient buffers are scratch: clipped in place, and RMSprop reuses them for its increments.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    mutating func apply(
        gradients: [UnsafeMutableBufferPointer<T>], of parameters: [ParameterID], to network: inout Network<T>
    ) {
        let config = config
        config.clip(gradients)
        // A schedule is evaluated at the step about to be taken, as Keras evaluates it at `iterations`.
        let lr = config.schedule.map { $0.learningRate(atStep: state.iterations, as: T.self) } ?? T(config.learningRate)
        // Keras raises β to the float step `iterations + 1` in the variable's precision.
        let step = T(state.iterations + 1)
        let uProduct = advanceScalars(step: step)
        for (index, parameter) in parameters.enumerated() {
            withSlots(parameter: index) { s0, s1, s2 in
                network.withMutableValues(of: parameter) { w in
                    config.update(w, gradient: gradients[index], slots: (s0, s1, s2), step: step, learningRate: lr,
                                  uProduct: uProduct)
                }
            }
        }
        state.iterations += 1
    }

    /// Lends the (up to three) slot tensors of one parameter as mutable buffers. Each array is moved out of the
    /// state for the duration (an O(1) swap, no copy), so the three can be mutated side by side.
    private mutating func withSlots(
        parameter: Int,
        _ body: (UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?) -> Void
    ) {
        var a: [T] = [], b: [T] = [], c: [T] = []
        let count = state.slots.count
        if count > 0 { swap(&a, &state.slots[0].values[parameter]) }
        if count > 1 { swap(&b, &state.slots[1].values[parameter]) }
        if count > 2 { swap(&c, &state.slots[2].values[parameter]) }
        a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeMutableBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    body(count > 0 ? pa : nil, count > 1 ? pb : nil, count > 2 ? pc : nil)
                }
            }
        }
        if count > 0 { swap(&a, &state.slots[0].values[parameter]) }
        if count > 1 { swap(&b, &state.slots[1].values[parameter]) }
        if count > 2 { swap(&c, &state.slots[2].values[parameter]) }
    }
}
