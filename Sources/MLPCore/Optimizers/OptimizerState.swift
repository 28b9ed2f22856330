/// The optimizer's saved state: the step count and, per slot name, one tensor per trainable parameter
/// (in `Network.parameters` order, each shaped like its parameter).
public struct OptimizerState<T: MLPScalar>: Sendable, Equatable {
    /// Completed update steps (Keras's `iterations`; torch's per-parameter `state["step"]`).
    public var iterations: Int
    /// In `OptimizerConfig.slotNames` order.
    public var slots: [Slot]
    /// Optimizer-level scalars (Nadam's `u_product`), in `OptimizerConfig.scalarNames` order. Held as `Double`,
    /// which holds a float32 value or a counter exactly; the update reads them in the parameters' precision.
    public var scalars: [Scalar]

    public struct Slot: Sendable, Equatable {
        public let name: String
        public var values: [[T]]

        public init(name: String, values: [[T]]) {
            self.name = name
            self.values = values
        }
    }

    public struct Scalar: Sendable, Equatable {
        public let name: String
        public var value: Double

        public init(name: String, value: Double) {
            self.name = name
            self.value = value
        }
    }

    public init(iterations: Int, slots: [Slot], scalars: [Scalar] = []) {
        self.iterations = iterations
        self.slots = slots
        self.scalars = scalars
    }

    /// Fresh state: zero step, slots at their initial value (Adagrad's accumulator and torch Adagrad's sum start
    /// at `initial_accumulator_value`, everything else at zero).
    public init(config: OptimizerConfig, network: Network<T>) {
        let parameters = network.parameters
        iterations = 0
        slots = config.slotNames.map { name in
            let initial: T = name == "accumulator" || name == "sum" ? T(config.initialAccumulatorValue) : 0
            return Slot(name: name, values: parameters.map { [T](repeating: initial, count: network[$0].count) })
        }
        scalars = config.initialScalars.map { Scalar(name: $0.name, value: $0.value) }
    }

    public subscript(scalar name: String) -> Double? {
        scalars.first { $0.name == name }?.value
    }

    public subscript(slot name: String) -> [[T]]? {
        slots.first { $0.name == name }?.values
    }

    /// Checks saved state strictly against the configuration and network (missing, unexpected and wrongly sized
    /// slots are each reported by name) and returns it with its slots in `config.slotNames` order.
    func checked(against config: OptimizerConfig, network: Network<T>) throws(OptimizerError) -> Self {
        guard iterations >= 0 else { throw .invalidState("iterations must be ≥ 0, got \(iterations)") }
        let expected = config.slotNames
        let present = slots.map(\.name)
        if let missing = expected.first(where: { !present.contains($0) }) {
            throw .invalidState("missing slot \"\(missing)\" (\(config.kind.name) keeps \(expected))")
        }
        if let unexpected = present.first(where: { !expected.contains($0) }) {
            throw .invalidState("unexpected slot \"\(unexpected)\" (\(config.kind.name) keeps \(expected))")
        }
        guard present.count == expected.count else { throw .invalidState("slot names repeat: \(present)") }
        let parameters = network.parameters
        for slot in slots {
            guard slot.values.count == parameters.count else {
                throw .invalidState("slot \"\(slot.name)\" has \(slot.values.count) tensors, the network has \(parameters.count) parameters")
            }
            for (values, parameter) in zip(slot.values, parameters) where values.count != network[parameter].count {
                throw .invalidState(
                    "slot \"\(slot.name)\" for \(network.name(of: parameter)): expected shape \(network.shape(of: parameter)), got \(values.count) values")
            }
        }
        let expectedScalars = config.scalarNames
        let presentScalars = scalars.map(\.name)
        guard presentScalars.sorted() == expectedScalars.sorted() else {
            throw .invalidState("scalars \(presentScalars), but \(config.kind.name) keeps \(expectedScalars)")
        }
        for scalar in scalars where !scalar.value.isFinite {
            throw .invalidState("scalar \"\(scalar.name)\" is \(scalar.value), expected a finite number")
        }
        for scalar in scalars {
            switch scalar.name {
            case "step_counter" where scalar.value < 0 || scalar.value != scalar.value.rounded() || scalar.value > Double(Int32.max):
                throw .invalidState("scalar \"step_counter\" must be a whole number ≥ 0, got \(scalar.value)")
            case "dynamic_scale" where !(scalar.value > 0) || !Float(scalar.value).isFinite:
                throw .invalidState("scalar \"dynamic_scale\" must be a number > 0 (in float32), got \(scalar.value)")
            default: break
            }
        }
        // The update reads slots by position, so whatever order the file had becomes `slotNames` order.
        return OptimizerState(iterations: iterations, slots: expected.compactMap { name in slots.first { $0.name == name } },
                              scalars: expectedScalars.compactMap { name in scalars.first { $0.name == name } })
    }
}
