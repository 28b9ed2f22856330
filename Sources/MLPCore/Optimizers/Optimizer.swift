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
    /// does not rebuild it each step) from its gradient, in Keras's order (docs/numerics.md, optimizer wrappers):
    /// the loss scales → gradient accumulation → clip → weight decay → update → moving average → its overwrite →
    /// `iterations += 1`. The gradient buffers are scratch: scaled and clipped in place, and RMSprop reuses them
    /// for its increments. `gradients` are those of the unscaled loss; a loss scale is applied here, as the
    /// gradients Keras computes of the scaled loss (exactly so for a power-of-two scale).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    mutating func apply(
        gradients: [UnsafeMutableBufferPointer<T>], of parameters: [ParameterID], to network: inout Network<T>
    ) {
        let config = config
        if config.dynamicLossScale != nil, !applyDynamicLossScale(gradients) { return }
        if let factor = config.lossScaleFactor {
            // Keras divides the gradients of `loss · factor` by the factor.
            let s = T(factor)
            for g in gradients { for i in g.indices { g[i] = (g[i] * s) / s } }
        }
        // The rule's step counts updates: with gradient accumulation, Keras's `iterations` is its `_iterations`
        // (what files store, and what a schedule sees) divided by the accumulation steps.
        let steps = config.gradientAccumulationSteps
        let updates = steps.map { state.iterations / $0 } ?? state.iterations
        var accumulatorSlot: Int?
        if steps != nil { accumulatorSlot = config.useEMA ? 1 : 0 }
        var isUpdateStep = true
        if let steps, let slot = accumulatorSlot {
            isUpdateStep = (state.iterations + 1) % steps == 0
            // XLA multiplies by the float32 reciprocal of the steps.
            let reciprocal = T(1) / T(steps)
            for (index, g) in gradients.enumerated() {
                state.slots[slot].values[index].withUnsafeMutableBufferPointer { acc in
                    if isUpdateStep {
                        for i in g.indices {
                            g[i] = (g[i] + acc[i]) * reciprocal
                            acc[i] = 0
                        }
                    } else {
                        for i in g.indices { acc[i] = g[i] + acc[i] }
                    }
                }
            }
        }
        if isUpdateStep { update(gradients: gradients, of: parameters, to: &network, updates: updates) }
        if config.useEMA { updateMovingAverage(of: parameters, in: &network, updates: updates) }
        state.iterations += 1
    }

    /// Clip → weight decay → the rule, for every parameter: update number `updates + 1`.
    private mutating func update(
        gradients: [UnsafeMutableBufferPointer<T>], of parameters: [ParameterID], to network: inout Network<T>, updates: Int
    ) {
        let config = config
        config.clip(gradients)
        // A schedule is evaluated at the step about to be taken, as Keras evaluates it at `iterations` (its raw
        // counter, also under gradient accumulation).
        let lr = config.schedule.map { $0.learningRate(atStep: state.iterations, as: T.self) } ?? T(config.learningRate)
        // Keras raises β to the float step `iterations + 1` in the variable's precision.
        let step = T(updates + 1)
        let uProduct = advanceScalars(step: step)
        let constants = StepConstants(config: config, step: step, learningRate: lr)
        let offset = config.wrapperSlotNames.count
        for (index, parameter) in parameters.enumerated() {
            withSlots(parameter: index, offset: offset) { s0, s1, s2 in
                network.withMutableValues(of: parameter) { w in
                    guard !config.kind.isTorch else {
                        config.torchUpdate(w, gradient: gradients[index], slots: (s0, s1, s2), step: updates + 1)
                        return
                    }
                    config.update(w, gradient: gradients[index], slots: (s0, s1, s2), step: step, learningRate: lr,
                                  uProduct: uProduct, stepConstants: constants)
                }
            }
        }
    }

    /// Keras's `LossScaleOptimizer`: the gradients of the scaled loss are checked; if any is not finite the step
    /// is skipped (nothing but the scale changes: halved, its counter reset) and this returns false. Otherwise
    /// the counter advances — or the scale doubles once `dynamic_growth_steps` finite steps have passed — and
    /// the gradients are divided by the scale the loss was multiplied by.
    private mutating func applyDynamicLossScale(_ gradients: [UnsafeMutableBufferPointer<T>]) -> Bool {
        guard let growthSteps = config.dynamicLossScale?.dynamicGrowthSteps,
              let counterIndex = state.scalars.firstIndex(where: { $0.name == "step_counter" }),
              let scaleIndex = state.scalars.firstIndex(where: { $0.name == "dynamic_scale" }) else { return true }
        // The scale is a float32 variable whatever the model's precision.
        let scale = Float(state.scalars[scaleIndex].value)
        let s = T(scale)
        var finite = true
        for g in gradients {
            for i in g.indices {
                g[i] *= s
                if !g[i].isFinite { finite = false }
            }
        }
        guard finite else {
            state.scalars[counterIndex].value = 0
            state.scalars[scaleIndex].value = Double(scale * 0.5)
            return false
        }
        if Int(state.scalars[counterIndex].value) == growthSteps - 1 {
            state.scalars[counterIndex].value = 0
            state.scalars[scaleIndex].value = Double(scale * 2)
        } else {
            state.scalars[counterIndex].value += 1
        }
        for g in gradients { for i in g.indices { g[i] /= s } }
        return true
    }

    /// `average ← m·average + (1 − m)·w` with `m` = `ema_momentum` (0 before the first update, so the average
    /// starts at the weights), then, every `ema_overwrite_frequency` updates, `w ← average`. In float32 like
    /// Keras's `m`, which it forms from a cast flag times the momentum.
    private mutating func updateMovingAverage(of parameters: [ParameterID], in network: inout Network<T>, updates: Int) {
        let m: T = updates != 0 ? T(config.emaMomentum) : 0
        let oneMinusM = 1 - m
        let overwrite = config.emaOverwriteFrequency.map { (updates + 1) % $0 == 0 } ?? false
        for (index, parameter) in parameters.enumerated() {
            state.slots[0].values[index].withUnsafeMutableBufferPointer { average in
                network.withMutableValues(of: parameter) { w in
                    for i in w.indices { average[i] = m * average[i] + oneMinusM * w[i] }
                    if overwrite { for i in w.indices { w[i] = average[i] } }
                }
            }
        }
    }

    /// Keras's `finalize_variable_values`, called at the end of every `fit`: with `use_ema`, the weights become
    /// their moving averages.
    mutating func finalize(parameters: [ParameterID], network: inout Network<T>) {
        guard config.useEMA, state.slots.first?.name == "average" else { return }
        for (index, parameter) in parameters.enumerated() {
            let average = state.slots[0].values[index]
            network.withMutableValues(of: parameter) { w in
                for i in w.indices { w[i] = average[i] }
            }
        }
    }

    /// Lends the (up to three) slot tensors of one parameter as mutable buffers. Each array is moved out of the
    /// state for the duration (an O(1) swap, no copy), so the three can be mutated side by side.
    private mutating func withSlots(
        parameter: Int, offset: Int,
        _ body: (UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?, UnsafeMutableBufferPointer<T>?) -> Void
    ) {
        var a: [T] = [], b: [T] = [], c: [T] = []
        let count = state.slots.count - offset
        if count > 0 { swap(&a, &state.slots[offset].values[parameter]) }
        if count > 1 { swap(&b, &state.slots[offset + 1].values[parameter]) }
        if count > 2 { swap(&c, &state.slots[offset + 2].values[parameter]) }
        a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeMutableBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    body(count > 0 ? pa : nil, count > 1 ? pb : nil, count > 2 ? pc : nil)
                }
            }
        }
        if count > 0 { swap(&a, &state.slots[offset].values[parameter]) }
        if count > 1 { swap(&b, &state.slots[offset + 1].values[parameter]) }
        if count > 2 { swap(&c, &state.slots[offset + 2].values[parameter]) }
    }
}
