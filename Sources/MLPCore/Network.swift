/// A fully connected layer in the notes' convention: row vectors, `z = x @ W + b`, `y = f(z)`.
///
/// `kernel` is `[inputWidth, units]` row-major — Keras's `kernel` layout (PyTorch's `Linear.weight` is its
/// transpose); `bias` is `[units]`, or empty when `useBias` is false.
public struct Dense<T: MLPScalar>: Sendable, Equatable {
    public var name: String
    public let inputWidth: Int
    public let units: Int
    public var activation: Activation
    public let useBias: Bool
    public var kernelInitializer: Initializer
    public var biasInitializer: Initializer
    public var kernel: [T]
    public var bias: [T]

    /// A layer with the given weights; throws when their sizes disagree with the shape.
    public init(
        name: String, inputWidth: Int, units: Int, activation: Activation, useBias: Bool = true,
        kernel: [T], bias: [T]? = nil,
        kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros
    ) throws(NetworkError) {
        guard inputWidth > 0 else { throw .invalidWidth(layer: name, what: "input width", value: inputWidth) }
        guard units > 0 else { throw .invalidWidth(layer: name, what: "units", value: units) }
        let (kernelCount, overflow) = inputWidth.multipliedReportingOverflow(by: units)
        guard !overflow, kernel.count == kernelCount else {
            throw .shapeMismatch(tensor: "\(name)/kernel", expected: [inputWidth, units], count: kernel.count)
        }
        let bias = bias ?? (useBias ? [T](repeating: 0, count: units) : [])
        guard bias.count == (useBias ? units : 0) else {
            throw .shapeMismatch(tensor: "\(name)/bias", expected: useBias ? [units] : [0], count: bias.count)
        }
        self.init(
            unchecked: name, inputWidth: inputWidth, units: units, activation: activation, useBias: useBias,
            kernel: kernel, bias: bias, kernelInitializer: kernelInitializer, biasInitializer: biasInitializer)
    }

    /// A freshly initialized layer.
    public init(
        name: String, inputWidth: Int, units: Int, activation: Activation, useBias: Bool = true,
        kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros,
        random: inout RandomGenerator
    ) throws(NetworkError) {
        guard inputWidth > 0 else { throw .invalidWidth(layer: name, what: "input width", value: inputWidth) }
        guard units > 0 else { throw .invalidWidth(layer: name, what: "units", value: units) }
        let (count, overflow) = inputWidth.multipliedReportingOverflow(by: units)
        guard !overflow else { throw .invalidWidth(layer: name, what: "units", value: units) }
        var kernel = [T](repeating: 0, count: count)
        kernelInitializer.fill(&kernel, fanIn: inputWidth, fanOut: units, random: &random)
        var bias = [T](repeating: 0, count: useBias ? units : 0)
        biasInitializer.fill(&bias, fanIn: inputWidth, fanOut: units, random: &random)
        try self.init(
            name: name, inputWidth: inputWidth, units: units, activation: activation, useBias: useBias,
            kernel: kernel, bias: bias, kernelInitializer: kernelInitializer, biasInitializer: biasInitializer)
    }

    public var parameterCount: Int { kernel.count + bias.count }
}

/// What a new layer should look like; `Network(inputWidth:layers:random:)` draws its weights.
public struct LayerSpec: Sendable, Equatable {
    public var name: String?
    public var units: Int
    public var activation: Activation
    public var useBias: Bool
    public var kernelInitializer: Initializer
    public var biasInitializer: Initializer

    public init(
        _ units: Int, _ activation: Activation, name: String? = nil, useBias: Bool = true,
        kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros
    ) {
        self.name = name
        self.units = units
        self.activation = activation
        self.useBias = useBias
        self.kernelInitializer = kernelInitializer
        self.biasInitializer = biasInitializer
    }
}

/// An input width and an ordered list of Dense layers, each reading the previous one's output.
public struct Network<T: MLPScalar>: Sendable, Equatable {
    public let inputWidth: Int
    public private(set) var layers: [Dense<T>]

    /// Checks that the layers chain (each layer's input width is the previous output width) and that layer
    /// names are unique (they name the tensors in model files).
    public init(inputWidth: Int, layers: [Dense<T>]) throws(NetworkError) {
        guard inputWidth > 0 else { throw .invalidWidth(layer: "input", what: "input width", value: inputWidth) }
        guard !layers.isEmpty else { throw .noLayers }
        var width = inputWidth
        var names = Set<String>()
        for layer in layers {
            guard layer.inputWidth == width else {
                throw .shapeMismatch(tensor: "\(layer.name)/kernel", expected: [width, layer.units], count: layer.kernel.count)
            }
            guard names.insert(layer.name).inserted else { throw .duplicateLayerName(layer.name) }
            width = layer.units
        }
        self.inputWidth = inputWidth
        self.layers = layers
    }

    /// A new network whose weights are drawn from `random` with each layer's initializers. Unnamed layers are
    /// called `dense`, `dense_1`, … as Keras names them.
    public init(inputWidth: Int, layers specs: [LayerSpec], random: inout RandomGenerator) throws(NetworkError) {
        var layers: [Dense<T>] = []
        var width = inputWidth
        for (index, spec) in specs.enumerated() {
            let name = spec.name ?? (index == 0 ? "dense" : "dense_\(index)")
            layers.append(try Dense(
                name: name, inputWidth: width, units: spec.units, activation: spec.activation, useBias: spec.useBias,
                kernelInitializer: spec.kernelInitializer, biasInitializer: spec.biasInitializer, random: &random))
            width = spec.units
        }
        try self.init(inputWidth: inputWidth, layers: layers)
    }

    /// The same network in another precision (Float ⇄ Double), for gradient checks.
    public init<U: MLPScalar>(converting other: Network<U>) {
        inputWidth = other.inputWidth
        layers = other.layers.map { layer in
            Dense<T>(
                unchecked: layer.name, inputWidth: layer.inputWidth, units: layer.units, activation: layer.activation,
                useBias: layer.useBias, kernel: layer.kernel.map { T($0) }, bias: layer.bias.map { T($0) },
                kernelInitializer: layer.kernelInitializer, biasInitializer: layer.biasInitializer)
        }
    }

    public var outputWidth: Int { layers[layers.count - 1].units }

    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// The trainable tensors in Keras's order: each layer's kernel, then its bias.
    public var parameters: [ParameterID] {
        layers.indices.flatMap { index in
            layers[index].useBias ? [ParameterID(layer: index, kind: .kernel), ParameterID(layer: index, kind: .bias)]
                : [ParameterID(layer: index, kind: .kernel)]
        }
    }

    /// `layerName/kernel` or `layerName/bias` — the name used in reports and files.
    public func name(of parameter: ParameterID) -> String {
        "\(layers[parameter.layer].name)/\(parameter.kind.rawValue)"
    }

    public func shape(of parameter: ParameterID) -> [Int] {
        let layer = layers[parameter.layer]
        return parameter.kind == .kernel ? [layer.inputWidth, layer.units] : [layer.units]
    }

    public subscript(parameter: ParameterID) -> [T] {
        get { parameter.kind == .kernel ? layers[parameter.layer].kernel : layers[parameter.layer].bias }
        set {
            precondition(newValue.count == self[parameter].count, "replacing \(name(of: parameter)) with a different size")
            if parameter.kind == .kernel { layers[parameter.layer].kernel = newValue } else { layers[parameter.layer].bias = newValue }
        }
    }

    /// In-place access to one parameter tensor's storage, without copying it.
    mutating func withMutableValues<R>(
        of parameter: ParameterID, _ body: (UnsafeMutableBufferPointer<T>) throws -> R
    ) rethrows -> R {
        switch parameter.kind {
        case .kernel: try layers[parameter.layer].kernel.withUnsafeMutableBufferPointer { try body($0) }
        case .bias: try layers[parameter.layer].bias.withUnsafeMutableBufferPointer { try body($0) }
        }
    }

    /// Renames a layer; names must stay unique.
    public mutating func renameLayer(_ index: Int, to name: String) throws(NetworkError) {
        guard !layers.enumerated().contains(where: { $0.offset != index && $0.element.name == name }) else {
            throw .duplicateLayerName(name)
        }
        layers[index].name = name
    }
}

extension Dense {
    init(
        unchecked name: String, inputWidth: Int, units: Int, activation: Activation, useBias: Bool,
        kernel: [T], bias: [T], kernelInitializer: Initializer, biasInitializer: Initializer
    ) {
        self.name = name
        self.inputWidth = inputWidth
        self.units = units
        self.activation = activation
        self.useBias = useBias
        self.kernel = kernel
        self.bias = bias
        self.kernelInitializer = kernelInitializer
        self.biasInitializer = biasInitializer
    }
}

/// One trainable tensor: a layer's kernel or bias.
public struct ParameterID: Hashable, Sendable {
    public enum Kind: String, Sendable { case kernel, bias }
    public let layer: Int
    public let kind: Kind

    public init(layer: Int, kind: Kind) {
        self.layer = layer
        self.kind = kind
    }
}

public enum NetworkError: Error, CustomStringConvertible, Equatable {
    case invalidWidth(layer: String, what: String, value: Int)
    case noLayers
    case shapeMismatch(tensor: String, expected: [Int], count: Int)
    case duplicateLayerName(String)

    public var description: String {
        switch self {
        case .invalidWidth(let layer, let what, let value):
            "layer \(layer): \(what) must be a positive integer, got \(value)"
        case .noLayers:
            "a network needs at least one Dense layer"
        case .shapeMismatch(let tensor, let expected, let count):
            "\(tensor): expected shape \(expected) (\(expected.reduce(1, *)) values), got \(count) values"
        case .duplicateLayerName(let name):
            "layer name \"\(name)\" is used twice; layer names must be unique"
        }
    }
}
