/// An input width and an ordered chain of layers, each reading the previous one's output.
public struct Network<T: MLPScalar>: Sendable, Equatable {
    public let inputWidth: Int
    public internal(set) var layers: [Layer<T>]
    /// The trainable tensors in Keras's order (each layer's trainable variables, layer by layer); cached because
    /// the training loop and the optimizer walk it every step.
    public let parameters: [ParameterID]
    /// Whether any Dense layer has a regularizer, so the per-step penalty passes can be skipped entirely.
    let isRegularized: Bool

    /// Checks that the layers chain (each layer's input width is the previous output width) and that layer
    /// names are unique (they name the tensors in model files).
    public init(inputWidth: Int, layers: [Layer<T>]) throws(NetworkError) {
        guard inputWidth > 0 else { throw .invalidWidth(layer: "input", what: "input width", value: inputWidth) }
        guard !layers.isEmpty else { throw .noLayers }
        var width = inputWidth
        var names = Set<String>()
        for layer in layers {
            guard layer.inputWidth == width else {
                throw .invalidSetting(layer: layer.name, setting: "input width",
                                      reason: "the layer reads \(layer.inputWidth) values, the layer before gives \(width)")
            }
            guard names.insert(layer.name).inserted else { throw .duplicateLayerName(layer.name) }
            width = layer.outputWidth
        }
        self.inputWidth = inputWidth
        self.layers = layers
        parameters = layers.indices.flatMap { l in
            layers[l].variables.indices.filter { layers[l].variables[$0].trainable }.map { ParameterID(layer: l, variable: $0) }
        }
        isRegularized = Self.hasRegularizers(layers)
    }

    private static func hasRegularizers(_ layers: [Layer<T>]) -> Bool {
        layers.contains { layer in
            guard let dense = layer.kind.dense else { return false }
            return dense.kernelRegularizer != nil || dense.biasRegularizer != nil || dense.activityRegularizer != nil
        }
    }

    /// A new network whose weights are drawn from `random`. Unnamed layers are named as Keras names them:
    /// `dense`, `dense_1`, …, `dropout`, `dropout_1`, … counted per type.
    public init(inputWidth: Int, layers specs: [LayerSpec], random: inout RandomGenerator) throws(NetworkError) {
        var layers: [Layer<T>] = []
        var width = inputWidth
        var counts: [String: Int] = [:]
        let explicit = Set(specs.compactMap(\.name))
        for spec in specs {
            let name: String
            if let given = spec.name {
                name = given
            } else {
                let stem = spec.kind.typeName
                var candidate: String
                repeat {
                    let count = counts[stem, default: 0]
                    counts[stem] = count + 1
                    candidate = count == 0 ? stem : "\(stem)_\(count)"
                } while explicit.contains(candidate)
                name = candidate
            }
            let layer = try Layer<T>(name: name, kind: spec.kind, inputWidth: width, random: &random)
            layers.append(layer)
            width = layer.outputWidth
        }
        try self.init(inputWidth: inputWidth, layers: layers)
    }

    /// The same network in another precision (Float ⇄ Double), for gradient checks.
    public init<U: MLPScalar>(converting other: Network<U>) {
        inputWidth = other.inputWidth
        layers = other.layers.map { layer in
            Layer<T>(unchecked: layer.name, kind: layer.kind, inputWidth: layer.inputWidth, variables: layer.variables,
                     weights: layer.weights.map { $0.map { T($0) } })
        }
        parameters = other.parameters
        isRegularized = other.isRegularized
    }

    public var outputWidth: Int { layers[layers.count - 1].outputWidth }

    /// Every weight, trainable or not.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// `layerName/kernel`, `layerName/gamma`, … — the name used in reports and files.
    public func name(of parameter: ParameterID) -> String {
        "\(layers[parameter.layer].name)/\(layers[parameter.layer].variables[parameter.variable].name)"
    }

    public func shape(of parameter: ParameterID) -> [Int] {
        layers[parameter.layer].variables[parameter.variable].shape
    }

    public subscript(parameter: ParameterID) -> [T] {
        layers[parameter.layer].weights[parameter.variable]
    }

    /// In-place access to one weight tensor's storage, without copying it.
    mutating func withMutableValues<R>(
        of parameter: ParameterID, _ body: (UnsafeMutableBufferPointer<T>) throws -> R
    ) rethrows -> R {
        try layers[parameter.layer].weights[parameter.variable].withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Replaces one weight tensor (a moving statistic, say) with values of the same size.
    mutating func setValues(_ values: [T], layer: Int, variable: Int) {
        layers[layer].weights[variable] = values
    }

    /// Renames a layer; names must stay unique.
    public mutating func renameLayer(_ index: Int, to name: String) throws(NetworkError) {
        guard !layers.enumerated().contains(where: { $0.offset != index && $0.element.name == name }) else {
            throw .duplicateLayerName(name)
        }
        layers[index].name = name
    }

    /// Whether training differs from inference (dropout, batch statistics), so a gradient check must hold the
    /// training-mode function fixed.
    public var hasTrainingBehaviour: Bool {
        layers.contains { layer in
            switch layer.kind {
            case .dropout(let d): d.rate > 0
            case .batchNormalization: true
            default: false
            }
        }
    }
}

/// One trainable tensor: variable `variable` (in `Layer.variables` order) of layer `layer`.
public struct ParameterID: Hashable, Sendable {
    public let layer: Int
    public let variable: Int

    public init(layer: Int, variable: Int) {
        self.layer = layer
        self.variable = variable
    }
}

public enum NetworkError: Error, CustomStringConvertible, Equatable {
    case invalidWidth(layer: String, what: String, value: Int)
    case noLayers
    case shapeMismatch(tensor: String, expected: [Int], count: Int)
    case duplicateLayerName(String)
    case invalidSetting(layer: String, setting: String, reason: String)

    public var description: String {
        switch self {
        case .invalidWidth(let layer, let what, let value):
            "layer \(layer): \(what) must be a positive integer, got \(value)"
        case .noLayers:
            "a network needs at least one layer"
        case .shapeMismatch(let tensor, let expected, let count):
            "\(tensor): expected shape \(expected) (\(expected.reduce(1, *)) values), got \(count) values"
        case .duplicateLayerName(let name):
            "layer name \"\(name)\" is used twice; layer names must be unique"
        case .invalidSetting(let layer, let setting, let reason):
            "layer \(layer): \(setting) \(reason)"
        }
    }
}
