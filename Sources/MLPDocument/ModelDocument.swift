import MLPCore

/// Everything a model file can carry: the one value that crosses the codec boundary.
///
/// Every codec does exactly two things, `document → bytes` and `bytes → document`; converting between formats is
/// decode then encode. Tensors keep their stored dtype (a float64 file stays float64 through a conversion) and
/// compare bit for bit, so "lossless" can be checked with `==`.
public struct ModelDocument: Sendable, Equatable {
    /// The value of the `format` field / attribute that marks an mlpconv model file.
    public static let formatName = "mlpconv-model"
    /// The layout version this build writes; readers refuse newer ones.
    public static let formatVersion = 1

    public var architecture: Architecture
    /// One entry per layer, in layer order.
    public var weights: [LayerWeights]
    /// Present once a model has a loss and an optimizer.
    public var training: TrainingRecord?
    /// Free-form strings kept through conversions: `description`, `created_by`, `created_at`, `converted_from`, …
    public var metadata: [String: String]

    public init(architecture: Architecture, weights: [LayerWeights], training: TrainingRecord? = nil,
                metadata: [String: String] = [:]) {
        self.architecture = architecture
        self.weights = weights
        self.training = training
        self.metadata = metadata
    }

    public struct Architecture: Sendable, Equatable {
        public var inputWidth: Int
        /// The input's shape per sample when it has more than one axis (the first layer is then a Flatten, and
        /// the product is `inputWidth`); nil for flat rows.
        public var inputShape: [Int]?
        public var layers: [Layer]

        public init(inputWidth: Int, inputShape: [Int]? = nil, layers: [Layer]) {
            self.inputWidth = inputWidth
            self.inputShape = inputShape
            self.layers = layers
        }

        /// Input width of layer `index`: the model's input width or the previous layer's output width.
        public func inputWidth(ofLayer index: Int) -> Int {
            var width = inputWidth
            for layer in layers.prefix(index) { width = layer.kind.outputWidth(inputWidth: width) }
            return width
        }

        /// The width the last layer produces.
        public var outputWidth: Int { inputWidth(ofLayer: layers.count) }

        /// Layer `index`'s weight tensors, in the order files store them.
        public func variables(ofLayer index: Int) -> [VariableSpec] {
            layers[index].kind.variables(inputWidth: inputWidth(ofLayer: index))
        }
    }

    public struct Layer: Sendable, Equatable {
        public var name: String
        public var kind: LayerKind

        public init(name: String, kind: LayerKind) {
            self.name = name
            self.kind = kind
        }

        /// The settings when this is a Dense layer.
        public var dense: DenseSettings? {
            get { kind.dense }
            set { if let newValue { kind = .dense(newValue) } }
        }

        /// A Dense layer.
        public init(name: String, units: Int, activation: Activation, useBias: Bool = true,
                    kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros) {
            self.init(name: name, kind: .dense(DenseSettings(
                units: units, activation: activation, useBias: useBias, kernelInitializer: kernelInitializer,
                biasInitializer: biasInitializer)))
        }
    }

    /// A layer's tensors by variable name (`kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`);
    /// empty for layers without weights.
    public struct LayerWeights: Sendable, Equatable {
        public var tensors: [String: Tensor]

        public init(tensors: [String: Tensor] = [:]) {
            self.tensors = tensors
        }

        /// A Dense layer's tensors.
        public init(kernel: Tensor, bias: Tensor?) {
            tensors = ["kernel": kernel]
            if let bias { tensors["bias"] = bias }
        }

        public subscript(name: String) -> Tensor? {
            get { tensors[name] }
            set { tensors[name] = newValue }
        }
    }

    /// Loss, optimizer with its complete state, progress and the generator's state: what resuming needs.
    public struct TrainingRecord: Sendable, Equatable {
        public var loss: Loss
        public var optimizer: OptimizerRecord
        public var epochsCompleted: Int
        /// Absent in files written by other tools (Keras); a resumed run then seeds a new generator.
        public var randomState: RandomState?
        public var history: [EpochRecord]

        public init(loss: Loss, optimizer: OptimizerRecord, epochsCompleted: Int = 0, randomState: RandomState? = nil,
                    history: [EpochRecord] = []) {
            self.loss = loss
            self.optimizer = optimizer
            self.epochsCompleted = epochsCompleted
            self.randomState = randomState
            self.history = history
        }

        public static func == (lhs: TrainingRecord, rhs: TrainingRecord) -> Bool {
            lhs.loss == rhs.loss && lhs.optimizer == rhs.optimizer && lhs.epochsCompleted == rhs.epochsCompleted
                && lhs.randomState == rhs.randomState && lhs.history.count == rhs.history.count
                && zip(lhs.history, rhs.history).allSatisfy { a, b in
                    // Bitwise, so that a NaN loss in the history compares equal to itself after a round trip.
                    a.epoch == b.epoch && a.metrics.mapValues(\.bitPattern) == b.metrics.mapValues(\.bitPattern)
                }
        }
    }

    public struct OptimizerRecord: Sendable, Equatable {
        public var config: OptimizerConfig
        /// Completed update steps.
        public var iterations: Int
        /// In `config.slotNames` order; each has one tensor per trainable parameter, in `parameterNames` order.
        public var slots: [Slot]
        /// Optimizer-level state besides `iterations`, in `config.scalarNames` order (Nadam's `u_product`).
        public var scalars: [Scalar]

        public init(config: OptimizerConfig, iterations: Int, slots: [Slot], scalars: [Scalar] = []) {
            self.config = config
            self.iterations = iterations
            self.slots = slots
            self.scalars = scalars
        }

        /// The value of the scalar called `name` (0 when the configuration keeps none by that name).
        public func scalar(_ name: String) -> Double {
            scalars.first { $0.name == name }?.value ?? 0
        }

        /// A named scalar, held as a `Double`: a float32 value or a counter fits exactly.
        public struct Scalar: Sendable, Equatable {
            public var name: String
            public var value: Double

            public init(name: String, value: Double) {
                self.name = name
                self.value = value
            }
        }

        /// What the configuration keeps before its first step.
        public static func initialScalars(_ config: OptimizerConfig) -> [Scalar] {
            config.initialScalars.map { Scalar(name: $0.name, value: $0.value) }
        }

        public struct Slot: Sendable, Equatable {
            public var name: String
            public var tensors: [Tensor]

            public init(name: String, tensors: [Tensor]) {
                self.name = name
                self.tensors = tensors
            }
        }
    }
}

extension ModelDocument {
    /// The trainable parameters in Keras's order — each layer's trainable variables, layer by layer — as
    /// `layer/kernel` names. Optimizer slots hold one tensor per entry, in this order.
    public var parameterNames: [String] {
        trainableVariables.map { "\(architecture.layers[$0.layer].name)/\($0.variable.name)" }
    }

    /// Each trainable variable (name, shape), in `parameterNames` order: what optimizer slots are laid out by.
    public var parameterVariables: [VariableSpec] { trainableVariables.map(\.variable) }

    /// The shape each parameter must have, in `parameterNames` order.
    public var parameterShapes: [[Int]] { trainableVariables.map(\.variable.shape) }

    /// The stored parameter tensors in `parameterNames` order (missing ones are skipped; `validate` reports them).
    public var parameterTensors: [Tensor] {
        trainableVariables.compactMap { entry in
            entry.layer < weights.count ? weights[entry.layer][entry.variable.name] : nil
        }
    }

    /// Every weight tensor's name and shape, trainable or not, layer by layer in storage order.
    public var variableNames: [String] {
        architecture.layers.indices.flatMap { index in
            architecture.variables(ofLayer: index).map { "\(architecture.layers[index].name)/\($0.name)" }
        }
    }

    /// Every stored weight tensor in `variableNames` order.
    public var variableTensors: [Tensor] {
        architecture.layers.indices.flatMap { index in
            architecture.variables(ofLayer: index).compactMap { index < weights.count ? weights[index][$0.name] : nil }
        }
    }

    /// The number of trainable values.
    public var parameterCount: Int {
        parameterShapes.reduce(0) { $0 + $1.reduce(1, *) }
    }

    /// The number of stored weight values, moving statistics included.
    public var weightCount: Int {
        architecture.layers.indices.reduce(0) { total, index in
            total + architecture.variables(ofLayer: index).reduce(0) { $0 + $1.count }
        }
    }

    private var trainableVariables: [(layer: Int, variable: VariableSpec)] {
        architecture.layers.indices.flatMap { index in
            architecture.variables(ofLayer: index).filter(\.trainable).map { (index, $0) }
        }
    }
}

extension ModelDocument {
    /// Every tensor (weights and optimizer slots) stored in `dtype`.
    public func converted(to dtype: Tensor.DType) -> ModelDocument {
        var copy = self
        copy.weights = weights.map { LayerWeights(tensors: $0.tensors.mapValues { $0.converted(to: dtype) }) }
        if var training = copy.training {
            training.optimizer.slots = training.optimizer.slots.map {
                OptimizerRecord.Slot(name: $0.name, tensors: $0.tensors.map { $0.converted(to: dtype) })
            }
            // Scalars in the parameters' precision follow it, as a tensor's values do.
            if dtype == .float32 {
                for index in training.optimizer.scalars.indices
                where OptimizerConfig.parameterPrecisionScalarNames.contains(training.optimizer.scalars[index].name) {
                    training.optimizer.scalars[index].value = Double(Float(training.optimizer.scalars[index].value))
                }
            }
            copy.training = training
        }
        return copy
    }

    /// `converted(to:)` that refuses to round a finite value to ±∞ (a float64 value beyond float32's range): the
    /// error names the tensor (`weights/dense/kernel`, `optimizer/momentum/dense/kernel`) and the element.
    public func checkedConversion(to dtype: Tensor.DType) throws(DocumentError) -> ModelDocument {
        if dtype == .float32 { try checkFloat32Range(includingOptimizer: true) }
        return converted(to: dtype)
    }

    /// Throws for the first tensor value (or parameter-precision optimizer scalar) that float32 cannot hold.
    func checkFloat32Range(includingOptimizer: Bool) throws(DocumentError) {
        func check(_ tensor: Tensor, _ object: @autoclosure () -> String) throws(DocumentError) {
            do { _ = try tensor.checkedConversion(to: .float32) } catch { throw DocumentError(object(), error.description) }
        }
        for (index, layer) in weights.enumerated() where layer.tensors.values.contains(where: { $0.dtype == .float64 }) {
            let name = index < architecture.layers.count ? architecture.layers[index].name : "\(index)"
            for key in layer.tensors.keys.sorted() {
                if let tensor = layer.tensors[key] { try check(tensor, "weights/\(name)/\(key)") }
            }
        }
        guard includingOptimizer, let optimizer = training?.optimizer else { return }
        let parameters = parameterNames
        for slot in optimizer.slots {
            for (index, tensor) in slot.tensors.enumerated() {
                try check(tensor, "optimizer/\(slot.name)/\(index < parameters.count ? parameters[index] : String(index))")
            }
        }
        for scalar in optimizer.scalars
        where OptimizerConfig.parameterPrecisionScalarNames.contains(scalar.name) && scalar.value.isFinite && !Float(scalar.value).isFinite {
            throw DocumentError("optimizer/\(scalar.name)", "\(scalar.value) is beyond float32's range; it would become infinity")
        }
    }
}
