/// One layer of a network: its settings, the width it reads, and its weight tensors.
///
/// `weights` follow `kind.variables(inputWidth:)`: a Dense kernel is `[inputWidth, units]` row-major (Keras's
/// layout; PyTorch's `Linear.weight` is its transpose), normalization vectors are `[width]`.
public struct Layer<T: MLPScalar>: Sendable, Equatable {
    public var name: String
    public let kind: LayerKind
    public let inputWidth: Int
    public let variables: [VariableSpec]
    public internal(set) var weights: [[T]]

    /// A layer with the given weights; throws when the settings are invalid or the tensors disagree with them.
    public init(name: String, kind: LayerKind, inputWidth: Int, weights: [[T]]) throws(NetworkError) {
        guard inputWidth > 0 else { throw .invalidWidth(layer: name, what: "input width", value: inputWidth) }
        try kind.validate(layer: name)
        let variables = kind.variables(inputWidth: inputWidth)
        guard weights.count == variables.count else {
            throw .invalidSetting(layer: name, setting: "weights",
                                  reason: "expected \(variables.count) tensors (\(variables.map(\.name).joined(separator: ", "))), got \(weights.count)")
        }
        for (variable, values) in zip(variables, weights) {
            let (count, overflow) = variable.shape.reduce((1, false)) { partial, dimension in
                let (product, o) = partial.0.multipliedReportingOverflow(by: dimension)
                return (product, partial.1 || o)
            }
            guard !overflow, values.count == count else {
                throw .shapeMismatch(tensor: "\(name)/\(variable.name)", expected: variable.shape, count: values.count)
            }
        }
        self.init(unchecked: name, kind: kind, inputWidth: inputWidth, variables: variables, weights: weights)
    }

    /// A freshly initialized layer: a Dense kernel and bias drawn from `random` with their initializers;
    /// normalization scales at 1, offsets and moving means at 0, moving variances at 1 (Keras's defaults).
    public init(name: String, kind: LayerKind, inputWidth: Int, random: inout RandomGenerator) throws(NetworkError) {
        guard inputWidth > 0 else { throw .invalidWidth(layer: name, what: "input width", value: inputWidth) }
        try kind.validate(layer: name)
        if case .dense(let dense) = kind {
            let (count, overflow) = inputWidth.multipliedReportingOverflow(by: dense.units)
            guard !overflow, count <= Int32.max else {
                throw .invalidSetting(layer: name, setting: "units", reason: "\(dense.units) over \(inputWidth) inputs make a kernel "
                                      + "of more than \(Int32.max) weights, the most BLAS can index")
            }
        }
        var weights: [[T]] = []
        for variable in kind.variables(inputWidth: inputWidth) {
            var values = [T](repeating: 0, count: variable.count)
            switch (kind, variable.name) {
            case (.dense(let dense), "kernel"):
                dense.kernelInitializer.fill(&values, fanIn: inputWidth, fanOut: dense.units, random: &random)
            case (.dense(let dense), _):
                dense.biasInitializer.fill(&values, fanIn: inputWidth, fanOut: dense.units, random: &random)
            case (_, "gamma"), (_, "moving_variance"):
                values = [T](repeating: 1, count: variable.count)
            default:
                break
            }
            weights.append(values)
        }
        try self.init(name: name, kind: kind, inputWidth: inputWidth, weights: weights)
    }

    /// A Dense layer with the given weights (`bias` nil: zeros, or none without a bias).
    public static func dense(
        name: String, inputWidth: Int, units: Int, activation: Activation, useBias: Bool = true,
        kernel: [T], bias: [T]? = nil,
        kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros
    ) throws(NetworkError) -> Layer {
        let settings = DenseSettings(units: units, activation: activation, useBias: useBias,
                                     kernelInitializer: kernelInitializer, biasInitializer: biasInitializer)
        let bias = useBias ? (bias ?? [T](repeating: 0, count: max(units, 0))) : nil
        return try Layer(name: name, kind: .dense(settings), inputWidth: inputWidth, weights: [kernel] + (bias.map { [$0] } ?? []))
    }

    init(unchecked name: String, kind: LayerKind, inputWidth: Int, variables: [VariableSpec], weights: [[T]]) {
        self.name = name
        self.kind = kind
        self.inputWidth = inputWidth
        self.variables = variables
        self.weights = weights
    }

    public var outputWidth: Int { kind.outputWidth(inputWidth: inputWidth) }

    public var parameterCount: Int { weights.reduce(0) { $0 + $1.count } }

    /// The tensor called `name` (`kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`), if the
    /// layer has one.
    public subscript(variable name: String) -> [T]? {
        variables.firstIndex { $0.name == name }.map { weights[$0] }
    }
}

/// What a new layer should look like; `Network(inputWidth:layers:random:)` draws its weights.
public struct LayerSpec: Sendable, Equatable {
    public var name: String?
    public var kind: LayerKind

    public init(_ kind: LayerKind, name: String? = nil) {
        self.name = name
        self.kind = kind
    }

    /// A Dense layer.
    public init(
        _ units: Int, _ activation: Activation, name: String? = nil, useBias: Bool = true,
        kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros
    ) {
        self.init(.dense(DenseSettings(units: units, activation: activation, useBias: useBias,
                                       kernelInitializer: kernelInitializer, biasInitializer: biasInitializer)),
                  name: name)
    }
}
