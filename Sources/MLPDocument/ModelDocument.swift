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
        public var layers: [Layer]

        public init(inputWidth: Int, layers: [Layer]) {
            self.inputWidth = inputWidth
            self.layers = layers
        }

        /// Input width of layer `index`: the model's input width or the previous layer's units.
        public func inputWidth(ofLayer index: Int) -> Int {
            index == 0 ? inputWidth : layers[index - 1].units
        }
    }

    public struct Layer: Sendable, Equatable {
        public var name: String
        public var units: Int
        public var activation: Activation
        public var useBias: Bool
        public var kernelInitializer: Initializer
        public var biasInitializer: Initializer

        public init(name: String, units: Int, activation: Activation, useBias: Bool = true,
                    kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros) {
            self.name = name
            self.units = units
            self.activation = activation
            self.useBias = useBias
            self.kernelInitializer = kernelInitializer
            self.biasInitializer = biasInitializer
        }
    }

    public struct LayerWeights: Sendable, Equatable {
        /// `[inputs, units]`, row-major.
        public var kernel: Tensor
        /// `[units]`; nil when the layer has no bias.
        public var bias: Tensor?

        public init(kernel: Tensor, bias: Tensor?) {
            self.kernel = kernel
            self.bias = bias
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
    /// The trainable parameters in Keras's order — each layer's kernel, then its bias — as `layer/kernel` names.
    /// Optimizer slots hold one tensor per entry, in this order.
    public var parameterNames: [String] {
        architecture.layers.flatMap { layer in
            layer.useBias ? ["\(layer.name)/kernel", "\(layer.name)/bias"] : ["\(layer.name)/kernel"]
        }
    }

    /// The shape each parameter must have, in `parameterNames` order.
    public var parameterShapes: [[Int]] {
        architecture.layers.indices.flatMap { index in
            let layer = architecture.layers[index]
            let kernel = [architecture.inputWidth(ofLayer: index), layer.units]
            return layer.useBias ? [kernel, [layer.units]] : [kernel]
        }
    }

    /// The stored parameter tensors in `parameterNames` order.
    public var parameterTensors: [Tensor] {
        zip(architecture.layers, weights).flatMap { layer, weights in
            layer.useBias ? [weights.kernel] + (weights.bias.map { [$0] } ?? []) : [weights.kernel]
        }
    }

    public var parameterCount: Int {
        parameterShapes.reduce(0) { $0 + $1.reduce(1, *) }
    }
}

extension ModelDocument {
    /// Every tensor (weights and optimizer slots) stored in `dtype`.
    public func converted(to dtype: Tensor.DType) -> ModelDocument {
        var copy = self
        copy.weights = weights.map { LayerWeights(kernel: $0.kernel.converted(to: dtype), bias: $0.bias?.converted(to: dtype)) }
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
}
