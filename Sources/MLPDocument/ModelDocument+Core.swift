import MLPCore

/// A document that does not hold together: the object (`architecture.layers[1]`, `weights/dense/kernel`,
/// `optimizer/momentum/dense/bias`, …) and what is wrong with it.
public struct DocumentError: Error, CustomStringConvertible, Equatable, Sendable {
    public var object: String
    public var reason: String

    public init(_ object: String, _ reason: String) {
        self.object = object
        self.reason = reason
    }

    public var description: String { "\(object): \(reason)" }
}

extension ModelDocument {
    /// Checks the document like a strict state-dict load: the architecture is valid, every layer has exactly
    /// the tensors it needs with the shapes it needs, and the optimizer keeps exactly its slots, one tensor of
    /// the right shape per parameter.
    public func validate() throws(DocumentError) {
        guard architecture.inputWidth > 0 else {
            throw DocumentError("architecture.input_width", "must be a positive integer, got \(architecture.inputWidth)")
        }
        guard !architecture.layers.isEmpty else { throw DocumentError("architecture.layers", "a model needs at least one layer") }
        if let shape = architecture.inputShape {
            guard shape.count > 1, shape.allSatisfy({ $0 > 0 }), shape.reduce(1, *) == architecture.inputWidth else {
                throw DocumentError("architecture.input_shape",
                                    "\(shape) must have two or more positive axes whose product is input_width \(architecture.inputWidth)")
            }
            guard case .flatten = architecture.layers[0].kind else {
                throw DocumentError("architecture.layers[0]", "an input of shape \(shape) must be flattened by the first layer")
            }
        }
        var names = Set<String>()
        for (index, layer) in architecture.layers.enumerated() {
            let object = "architecture.layers[\(index)]"
            try Self.checkLayerName(layer.name, object: object + ".name")
            guard names.insert(layer.name).inserted else {
                throw DocumentError(object + ".name", "layer name \"\(layer.name)\" is used twice; names must be unique")
            }
            do { try layer.kind.validate(layer: layer.name) } catch {
                throw DocumentError(object, error.description)
            }
        }
        guard weights.count == architecture.layers.count else {
            throw DocumentError("weights", "the architecture has \(architecture.layers.count) layers, the weights cover \(weights.count)")
        }
        for (index, (layer, tensors)) in zip(architecture.layers, weights).enumerated() {
            let variables = architecture.variables(ofLayer: index)
            for variable in variables {
                guard let tensor = tensors[variable.name] else {
                    let why = variable.name == "bias" ? " (the layer uses a bias)" : ""
                    throw DocumentError("weights/\(layer.name)/\(variable.name)", "missing\(why)")
                }
                guard tensor.shape == variable.shape else {
                    throw DocumentError("weights/\(layer.name)/\(variable.name)", "expected shape \(variable.shape), got \(tensor.shape)")
                }
            }
            for name in tensors.tensors.keys.sorted() where !variables.contains(where: { $0.name == name }) {
                let why = name == "bias" ? "the layer has use_bias false"
                    : variables.isEmpty ? "a \(layer.kind.typeName) layer has no weights"
                    : "a \(layer.kind.typeName) layer with these settings holds \(variables.map(\.name).joined(separator: ", "))"
                throw DocumentError("weights/\(layer.name)/\(name)", "unexpected (\(why))")
            }
        }
        if let training { try validate(training) }
    }

    private func validate(_ training: TrainingRecord) throws(DocumentError) {
        do { try training.optimizer.config.validate() } catch {
            throw DocumentError("optimizer", error.description)
        }
        guard training.optimizer.iterations >= 0 else {
            throw DocumentError("optimizer.iterations", "must be ≥ 0, got \(training.optimizer.iterations)")
        }
        guard training.epochsCompleted >= 0 else {
            throw DocumentError("training.epochs_completed", "must be ≥ 0, got \(training.epochsCompleted)")
        }
        let expected = training.optimizer.config.slotNames
        let present = training.optimizer.slots.map(\.name)
        let kind = training.optimizer.config.kind.name
        if let missing = expected.first(where: { !present.contains($0) }) {
            throw DocumentError("optimizer/\(missing)", "missing (\(kind) with these settings keeps \(expected.joined(separator: ", ")))")
        }
        if let unexpected = present.first(where: { !expected.contains($0) }) {
            throw DocumentError("optimizer/\(unexpected)",
                                "unexpected (\(kind) with these settings keeps \(expected.isEmpty ? "no slots" : expected.joined(separator: ", ")))")
        }
        guard present == expected else {
            throw DocumentError("optimizer", "slots \(present) must appear once each, in the order \(expected)")
        }
        try validateScalars(training.optimizer)
        let names = parameterNames, shapes = parameterShapes
        for slot in training.optimizer.slots {
            guard slot.tensors.count == names.count else {
                throw DocumentError("optimizer/\(slot.name)", "has \(slot.tensors.count) tensors, the model has \(names.count) parameters")
            }
            for (tensor, (name, shape)) in zip(slot.tensors, zip(names, shapes)) where tensor.shape != shape {
                throw DocumentError("optimizer/\(slot.name)/\(name)", "expected shape \(shape), got \(tensor.shape)")
            }
        }
    }

    /// Layer names become HDF5 group names and JSON keys: non-empty, no `/`, no NUL, not `.`/`..`.
    package static func checkLayerName(_ name: String, object: String) throws(DocumentError) {
        guard !name.isEmpty, !name.contains("/"), !name.unicodeScalars.contains("\0"), name != ".", name != ".." else {
            throw DocumentError(object, "\"\(name)\" is not a valid layer name (non-empty, without / or NUL)")
        }
    }
}

extension ModelDocument {
    /// A document of a network alone (no training state), in the network's precision.
    public init<T: MLPScalar>(network: Network<T>, inputShape: [Int]? = nil, metadata: [String: String] = [:]) {
        let layers = network.layers.map { Layer(name: $0.name, kind: $0.kind) }
        let weights = network.layers.map { layer in
            LayerWeights(tensors: Dictionary(uniqueKeysWithValues: zip(layer.variables, layer.weights).map { variable, values in
                (variable.name, Tensor(values: values, shape: variable.shape))
            }))
        }
        self.init(architecture: Architecture(inputWidth: network.inputWidth, inputShape: inputShape, layers: layers),
                  weights: weights, metadata: metadata)
    }

    /// A document of a model with its complete training state.
    public init<T: MLPScalar>(model: Model<T>, inputShape: [Int]? = nil, metadata: [String: String] = [:]) {
        self.init(network: model.network, inputShape: inputShape, metadata: metadata)
        let network = model.network
        let parameters = network.parameters
        let state = model.training.optimizer.state
        let slots = state.slots.map { slot in
            OptimizerRecord.Slot(name: slot.name, tensors: zip(slot.values, parameters).map { values, parameter in
                Tensor(values: values, shape: network.shape(of: parameter))
            })
        }
        training = TrainingRecord(
            loss: model.training.loss,
            optimizer: OptimizerRecord(config: model.training.optimizer.config, iterations: state.iterations, slots: slots,
                                       scalars: state.scalars.map { OptimizerRecord.Scalar(name: $0.name, value: $0.value) }),
            epochsCompleted: model.training.epochsCompleted, randomState: model.training.random,
            history: model.training.history)
    }

    /// The network in precision `T` (float64 tensors become float32 by rounding when `T` is `Float`; a value
    /// beyond float32's range is an error rather than ±∞).
    public func network<T: MLPScalar>(as _: T.Type = Float.self) throws(DocumentError) -> Network<T> {
        try validate()
        if T.self == Float.self { try checkFloat32Range(includingOptimizer: false) }
        var layers: [MLPCore.Layer<T>] = []
        for (index, (layer, tensors)) in zip(architecture.layers, weights).enumerated() {
            let variables = architecture.variables(ofLayer: index)
            do {
                layers.append(try MLPCore.Layer<T>(
                    name: layer.name, kind: layer.kind, inputWidth: architecture.inputWidth(ofLayer: index),
                    weights: variables.map { tensors[$0.name]?.values(as: T.self) ?? [] }))
            } catch {
                throw DocumentError("weights/\(layer.name)", error.description)
            }
        }
        do { return try Network(inputWidth: architecture.inputWidth, layers: layers) } catch {
            throw DocumentError("architecture", error.description)
        }
    }

    /// The trainable model. Needs a training record; when it carries no generator state (a Keras file), the
    /// generator is seeded with `seedIfMissing`.
    public func model<T: MLPScalar>(as _: T.Type = Float.self, seedIfMissing: UInt64 = 0) throws(DocumentError) -> Model<T> {
        guard let training else {
            throw DocumentError("training", "the model has no loss or optimizer; choose them to train it")
        }
        let network: Network<T> = try network(as: T.self)
        if T.self == Float.self { try checkFloat32Range(includingOptimizer: true) }
        let state = OptimizerState<T>(
            iterations: training.optimizer.iterations,
            slots: training.optimizer.slots.map { .init(name: $0.name, values: $0.tensors.map { $0.values(as: T.self) }) },
            scalars: training.optimizer.scalars.map { scalar in
                // In the model's precision, as the tensors are converted to it.
                let value = OptimizerConfig.parameterPrecisionScalarNames.contains(scalar.name)
                    ? Double(T(scalar.value)) : scalar.value
                return .init(name: scalar.name, value: value)
            })
        do {
            let optimizer = try Optimizer(config: training.optimizer.config, state: state, network: network)
            return try Model(network: network, training: TrainingState(
                loss: training.loss, optimizer: optimizer, epochsCompleted: training.epochsCompleted,
                random: training.randomState ?? RandomGenerator(seed: seedIfMissing).state, history: training.history))
        } catch let error as OptimizerError {
            throw DocumentError("optimizer", error.description)
        } catch {
            throw DocumentError("training", "\(error)")
        }
    }
}

extension Tensor {
    /// A tensor of the core's precision; shapes come from the network, so they are consistent by construction.
    package init<T: MLPScalar>(values: [T], shape: [Int]) {
        if let floats = values as? [Float] {
            self.init(unchecked: shape, storage: .float32(floats))
        } else if let doubles = values as? [Double] {
            self.init(unchecked: shape, storage: .float64(doubles))
        } else {
            self.init(unchecked: shape, storage: .float64(values.map { Double($0) }))
        }
    }

    package func values<T: MLPScalar>(as _: T.Type) -> [T] {
        switch storage {
        case .float32(let values): (values as? [T]) ?? values.map { T($0) }
        case .float64(let values): (values as? [T]) ?? values.map { T($0) }
        }
    }
}
