import Foundation
import FormatSupport
import MLPCore
import MLPDocument
import ONNXSupport

/// Reads an ONNX graph as a chain of the core's layers (docs/onnx.md, "Import"). Nodes are taken in the graph's
/// order (ONNX requires a topological one): each value is either a point on the data path, a constant (initializer
/// or Constant node), or an element-wise expression of the current point that becomes an activation when a layer
/// or the graph's output consumes it. Anything that is not a chain — a second use of an earlier point, a weight
/// computed in the graph, an operator the core has no layer for — is refused naming the node.
struct ONNXGraphReader {
    let file: String
    let opset: Int
    var tensors: ONNXTensorReader
    /// The model's element type: the data input's (float16 and bfloat16 inputs are read as float32).
    var dtype: Tensor.DType = .float32

    private(set) var layers: [ModelDocument.Layer] = []
    private(set) var weights: [ModelDocument.LayerWeights] = []
    private(set) var inputWidth = 0
    private(set) var inputShape: [Int]?
    /// Notes for the metadata (alpha/beta folded with rounding, widened dtypes).
    private(set) var notes: [String] = []
    private(set) var widened: [String: Int] = [:]
    /// The batch_normalization layers mlpconv's exporter recorded (`metadata_props`), in order: the k-th folded
    /// `Mul`/`Add` pair is read as the k-th of them when its stored statistics give the pair's scale and offset.
    var recordedBatchNormalizations: [(name: String, settings: BatchNormalizationSettings)] = []

    private enum Value {
        case point(Int)
        case constant(ONNXConstant, origin: String)
        case expression(ONNXExpression, over: Int, origin: String)
    }

    private var values: [String: Value] = [:]
    /// The current point on the data path; earlier points may not be used again.
    private var head = 0
    /// The per-sample shape at the head: one axis after a Flatten or a Dense layer.
    private var headShape: [Int] = []
    /// The layer whose output the head is, when it is a Dense layer with nothing applied after it yet: a following
    /// Add of a vector becomes its bias (MatMul + Add), a following activation its activation.
    private var openDense: Int?
    private var denseBiasOpen = false

    init(file: String, opset: Int, tensors: ONNXTensorReader) {
        self.file = file
        self.opset = opset
        self.tensors = tensors
    }

    // MARK: The graph

    mutating func read(_ graph: Onnx_GraphProto) throws(ModelFileError) {
        guard graph.sparseInitializer.isEmpty else {
            throw ModelFileError(file: file, object: "graph", reason: "sparse initializers are not supported")
        }
        for (index, initializer) in graph.initializer.enumerated() {
            let object = initializer.name.isEmpty ? "initializer \(index)" : "initializer \(initializer.name)"
            guard !initializer.name.isEmpty else { throw ModelFileError(file: file, object: object, reason: "has no name") }
            let constant = try tensors.read(initializer, object: object, initializer: index)
            guard values.updateValue(.constant(constant, origin: object), forKey: initializer.name) == nil else {
                throw ModelFileError(file: file, object: object, reason: "the name is used by another initializer")
            }
        }
        try readInput(graph)
        var index = 0
        while index < graph.node.count {
            if index + 1 < graph.node.count, try foldedBatchNormalization(graph.node[index], then: graph.node[index + 1], index: index) {
                index += 2
                continue
            }
            try read(graph.node[index], index: index)
            index += 1
        }
        try readOutput(graph)
        if !widened.isEmpty {
            notes.append(widened.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key) tensor\($0.value == 1 ? "" : "s") widened to float32" }
                .joined(separator: ", "))
        }
    }

    /// The one graph input that is not an initializer (before IR 4, initializers were listed as inputs too).
    private mutating func readInput(_ graph: Onnx_GraphProto) throws(ModelFileError) {
        let inputs = graph.input.filter { values[$0.name] == nil }
        guard inputs.count == 1 else {
            let names = inputs.map { "\"\($0.name)\"" }.joined(separator: ", ")
            throw ModelFileError(file: file, object: "graph.input", reason: inputs.isEmpty
                ? "no data input (every input is an initializer)"
                : "\(inputs.count) data inputs (\(names)): an MLP has one")
        }
        let input = inputs[0]
        let object = "graph.input \"\(input.name)\""
        guard case .tensorType(let type)? = input.type.value else {
            throw ModelFileError(file: file, object: object, reason: "is not a tensor")
        }
        switch type.elemType {
        case 1: dtype = .float32
        case 11: dtype = .float64
        case 10, 16:
            dtype = .float32
            notes.append("the \(ONNXTensorReader.typeName(type.elemType)) model is read as float32 (weights widened exactly; the core computes in float32 or float64)")
        default:
            throw ModelFileError(file: file, object: object, reason: "element type \(ONNXTensorReader.typeName(type.elemType)) "
                + "is not supported (mlpconv reads float32 and float64 models)")
        }
        guard type.hasShape, type.shape.dim.count >= 2 else {
            throw ModelFileError(file: file, object: object, reason: type.hasShape
                ? "has \(type.shape.dim.count) axes; an MLP's input is [batch, features] (or [batch, …] flattened first)"
                : "has no shape, so its width is unknown")
        }
        var shape: [Int] = []
        for (axis, dimension) in type.shape.dim.enumerated().dropFirst() {
            guard case .dimValue(let value)? = dimension.value, value > 0, value <= 1 << 31 else {
                throw ModelFileError(file: file, object: object, reason: "axis \(axis) has no fixed positive size (\(describe(dimension)))")
            }
            shape.append(Int(value))
        }
        let width = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard width < 1 << 31 else { throw ModelFileError(file: file, object: object, reason: "\(shape) holds too many features") }
        inputWidth = width
        headShape = shape
        if shape.count > 1 { inputShape = shape }
        values[input.name] = .point(0)
    }

    private func describe(_ dimension: Onnx_TensorShapeProto.Dimension) -> String {
        switch dimension.value {
        case .dimValue(let value)?: "\(value)"
        case .dimParam(let name)?: "symbolic \"\(name)\""
        case nil: "unknown"
        }
    }

    private mutating func readOutput(_ graph: Onnx_GraphProto) throws(ModelFileError) {
        guard graph.output.count == 1 else {
            throw ModelFileError(file: file, object: "graph.output", reason: "\(graph.output.count) outputs: an MLP has one")
        }
        let name = graph.output[0].name
        let object = "graph.output \"\(name)\""
        switch values[name] {
        case .point(let point)?:
            try requireHead(point, object: object)
        case .expression(let expression, let over, let origin)?:
            try requireHead(over, object: object)
            try applyActivation(of: expression, object: origin)
        case .constant?:
            throw ModelFileError(file: file, object: object, reason: "is a constant, not computed from the input")
        case nil:
            throw ModelFileError(file: file, object: object, reason: "no node produces it")
        }
        guard !layers.isEmpty else { throw ModelFileError(file: file, object: object, reason: "the graph has no layers") }
        guard headShape.count == 1 else {
            throw ModelFileError(file: file, object: object, reason: "has per-sample shape \(headShape); an MLP's output is [batch, units]")
        }
    }

    // MARK: Nodes

    private mutating func read(_ node: Onnx_NodeProto, index: Int) throws(ModelFileError) {
        let object = node.name.isEmpty ? "graph node \(index) (\(node.opType))" : "graph node \(index) \"\(node.name)\" (\(node.opType))"
        let fail = { [file] (reason: String) in ModelFileError(file: file, object: object, reason: reason) }
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw fail("operator \(node.domain).\(node.opType) is unknown (not in the default ONNX domain)")
        }
        let attributes = try Attributes(node, fail: fail)
        let op = node.opType
        if op == "Add", try addsBias(node, fail: fail) { return }
        switch op {
        case "Constant":
            try define(node, 0, .constant(try constant(of: node, attributes: attributes, object: object), origin: object), fail: fail)
        case "Identity":
            try define(node, 0, try input(node, 0, fail: fail), fail: fail)
        case "Dropout":
            // Inference: the identity. A training_mode input must be a constant false; the mask output unused.
            if node.input.count > 2, !node.input[2].isEmpty {
                guard case .constant(let training, _)? = values[node.input[2]], training.scalar == 0 else {
                    throw fail("training_mode is not a constant false")
                }
            }
            try define(node, 0, try input(node, 0, fail: fail), fail: fail)
        case "Cast":
            let target = try attributes.int("to") ?? 0
            let sameType = (target == 1 && dtype == .float32) || (target == 11 && dtype == .float64)
            guard sameType else { throw fail("casts to \(ONNXTensorReader.typeName(Int32(truncatingIfNeeded: target))): the model computes in \(dtype.rawValue)") }
            try define(node, 0, try input(node, 0, fail: fail), fail: fail)
        case "Flatten":
            try flatten(node, axis: try attributes.int("axis") ?? 1, object: object, fail: fail)
        case "Reshape":
            try reshape(node, allowZero: try attributes.int("allowzero") ?? 0, object: object, fail: fail)
        case "Gemm":
            try gemm(node, attributes, object: object, fail: fail)
        case "MatMul":
            try matMul(node, object: object, fail: fail)
        case "BatchNormalization":
            try batchNormalization(node, attributes, object: object, fail: fail)
        case "LayerNormalization":
            try layerNormalization(node, attributes, object: object, fail: fail)
        case "Softmax", "LogSoftmax":
            let axis = try attributes.int("axis") ?? (opset >= 13 ? -1 : 1)
            guard axis == -1 || axis == 1 else { throw fail("axis \(axis): the core's \(op) is over the features (axis −1 or 1 of [batch, features])") }
            _ = try dataPoint(node, 0, object: object, fail: fail)
            try requireFlat(fail: fail)
            try applyActivation(op == "Softmax" ? .softmax : .logSoftmax, object: object)
            try define(node, 0, .point(head), fail: fail)
        default:
            guard let arity = ONNXExpression.arity[op] else {
                let why = ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "LSTM", "GRU", "RNN", "Attention"]
                    .contains(op) ? "mlpconv reads MLPs (dense layers) only" : "not an operator mlpconv reads"
                throw fail("operator \(op): \(why)")
            }
            try elementwise(node, op: op, arity: arity, attributes: attributes, object: object, fail: fail)
        }
    }

    /// Binds output `position` of the node; further outputs (a Dropout's mask, BatchNormalization's statistics)
    /// must not be used, which an unknown name then guarantees.
    private mutating func define(_ node: Onnx_NodeProto, _ position: Int, _ value: Value, fail: (String) -> ModelFileError) throws(ModelFileError) {
        guard node.output.count > position, !node.output[position].isEmpty else { throw fail("has no output") }
        guard values.updateValue(value, forKey: node.output[position]) == nil else {
            throw fail("output \"\(node.output[position])\" is produced twice")
        }
    }

    private func input(_ node: Onnx_NodeProto, _ position: Int, fail: (String) -> ModelFileError) throws(ModelFileError) -> Value {
        guard node.input.count > position, !node.input[position].isEmpty else { throw fail("input \(position) is missing") }
        guard let value = values[node.input[position]] else {
            throw fail("input \"\(node.input[position])\" is produced by no earlier node, initializer or graph input")
        }
        return value
    }

    private func constantInput(_ node: Onnx_NodeProto, _ position: Int, role: String, fail: (String) -> ModelFileError) throws(ModelFileError) -> ONNXConstant? {
        guard node.input.count > position, !node.input[position].isEmpty else { return nil }
        guard case .constant(let constant, _) = try input(node, position, fail: fail) else {
            throw fail("its \(role) (\"\(node.input[position])\") is computed from the input, not stored: not a layer the core has")
        }
        return constant
    }

    private func requireHead(_ point: Int, object: String) throws(ModelFileError) {
        guard point == head else {
            throw ModelFileError(file: file, object: object, reason: "uses a value the data path has already passed: a branch "
                + "(a skip connection or a second path), not a chain of layers")
        }
    }

    private func requireFlat(fail: (String) -> ModelFileError) throws(ModelFileError) {
        guard headShape.count == 1 else { throw fail("applies to a [batch, \(headShape.map(String.init).joined(separator: ", "))] tensor; flatten it first") }
    }

    /// The node's data input as the current point, turning a pending expression into its activation first.
    private mutating func dataPoint(_ node: Onnx_NodeProto, _ position: Int, object: String,
                                    fail: (String) -> ModelFileError) throws(ModelFileError) -> Int {
        switch try input(node, position, fail: fail) {
        case .point(let point):
            try requireHead(point, object: object)
            return point
        case .expression(let expression, let over, let origin):
            try requireHead(over, object: object)
            try applyActivation(of: expression, object: origin)
            return head
        case .constant(_, let origin):
            throw fail("its data input is \(origin), a constant: the layer's input must come from the graph's input")
        }
    }

    // MARK: Layers

    private mutating func append(_ kind: LayerKind, _ tensors: [String: Tensor] = [:]) {
        let stem = kind.typeName
        let used = layers.filter { $0.kind.typeName == stem }.count
        layers.append(.init(name: used == 0 ? stem : "\(stem)_\(used)", kind: kind))
        weights.append(.init(tensors: tensors))
        head += 1
        openDense = nil
        denseBiasOpen = false
    }

    private mutating func applyActivation(of expression: ONNXExpression, object: String) throws(ModelFileError) {
        switch expression.identify() {
        case .activation(let activation):
            try applyActivation(activation, object: object)
        case .geluTanh:
            throw ModelFileError(file: file, object: object, reason: "gelu's tanh approximation (\(expression.operators.joined(separator: ", "))): "
                + "the core's gelu is the exact erf form (Keras's default) and it has no tanh form")
        case .none:
            let branch = expression.inputUses > 1 && !expression.operators.contains { ["Sigmoid", "Tanh", "Erf", "HardSigmoid", "Softplus"].contains($0) }
            throw ModelFileError(file: file, object: object, reason: "the element-wise computation \(expression.operators.joined(separator: ", ")) "
                + (branch ? "combines a value with itself along two paths: a branch (skip connection), not a chain of layers"
                          : "is not one of the core's activations (compared with each at fixed points)"))
        }
    }

    private mutating func applyActivation(_ activation: Activation, object: String) throws(ModelFileError) {
        guard headShape.count == 1 else {
            throw ModelFileError(file: file, object: object, reason: "an activation on a [batch, \(headShape)] tensor; flatten it first")
        }
        if let dense = openDense, case .dense(var settings) = layers[dense].kind {
            settings.activation = activation
            layers[dense].kind = .dense(settings)
            head += 1
            openDense = nil
            denseBiasOpen = false
        } else if activation != .linear {
            append(.activation(activation))
        } else {
            head += 1
        }
    }

    private mutating func addDense(kernel: Tensor, bias: Tensor?) {
        let units = kernel.shape[1]
        append(.dense(DenseSettings(units: units, activation: .linear, useBias: bias != nil)),
               bias.map { ["kernel": kernel, "bias": $0] } ?? ["kernel": kernel])
        openDense = layers.count - 1
        denseBiasOpen = bias == nil
        headShape = [units]
    }

    /// A weight in the model's dtype as a document tensor; `transposed` swaps a 2-D tensor's axes.
    private mutating func weight(_ constant: ONNXConstant, shape: [Int], transposed: Bool = false, role: String,
                                 fail: (String) -> ModelFileError) throws(ModelFileError) -> Tensor {
        guard constant.isFloatingPoint else { throw fail("its \(role) is \(constant.dtypeName), not floating point") }
        let stored: Tensor.DType = if case .float64 = constant.values { .float64 } else { .float32 }
        guard stored == dtype else { throw fail("its \(role) is \(stored.rawValue) in a \(dtype.rawValue) model") }
        if let from = constant.widenedFrom { widened[from, default: 0] += 1 }
        guard transposed else {
            guard let tensor = constant.tensor(shape: shape) else { throw fail("its \(role) is not floating point") }
            return tensor
        }
        let rows = constant.shape[0], columns = constant.shape[1]
        func swap<T>(_ values: [T]) -> [T] {
            (0..<columns * rows).map { index in values[(index % rows) * columns + index / rows] }
        }
        switch constant.values {
        case .float32(let values): return Tensor(unchecked: [columns, rows], storage: .float32(swap(values)))
        case .float64(let values): return Tensor(unchecked: [columns, rows], storage: .float64(swap(values)))
        case .int64: throw fail("its \(role) is not floating point")
        }
    }

    /// A per-unit vector from a constant that broadcasts to `[batch, units]`: `[units]`, `[1, units]`, or one value.
    private func vector(_ constant: ONNXConstant, units: Int, role: String, fail: (String) -> ModelFileError) throws(ModelFileError) -> ONNXConstant {
        let trimmed = Array(constant.shape.drop { $0 == 1 })
        if constant.count == 1 {
            var copy = constant
            copy.shape = [units]
            switch constant.values {
            case .float32(let values): copy.values = .float32(Array(repeating: values[0], count: units))
            case .float64(let values): copy.values = .float64(Array(repeating: values[0], count: units))
            case .int64: throw fail("its \(role) is not floating point")
            }
            return copy
        }
        guard trimmed == [units], constant.shape.count <= 2 else {
            throw fail("its \(role) has shape \(constant.shape); a layer of \(units) units needs [\(units)] (or [1, \(units)])")
        }
        var copy = constant
        copy.shape = [units]
        return copy
    }

    private mutating func gemm(_ node: Onnx_NodeProto, _ attributes: Attributes, object: String, fail: (String) -> ModelFileError) throws(ModelFileError) {
        if case .constant? = values[node.input.first ?? ""], node.input.count > 1, case .point? = values[node.input[1]] {
            throw fail("the data is Gemm's B input (A·x): the core's Dense layer computes x·W")
        }
        guard (try attributes.int("transA") ?? 0) == 0 else {
            throw fail("transA=1 on the data input: the core's Dense layer multiplies the rows [batch, features] as they are")
        }
        let transB = (try attributes.int("transB") ?? 0) != 0
        let alpha = Double(try attributes.float("alpha") ?? 1), beta = Double(try attributes.float("beta") ?? 1)
        _ = try dataPoint(node, 0, object: object, fail: fail)
        try requireFlat(fail: fail)
        guard let b = try constantInput(node, 1, role: "weight B", fail: fail) else { throw fail("input 1 (B) is missing") }
        guard b.shape.count == 2 else { throw fail("its weight B has shape \(b.shape); a Dense kernel is 2-D") }
        let inputs = transB ? b.shape[1] : b.shape[0], units = transB ? b.shape[0] : b.shape[1]
        guard inputs == headShape[0], units > 0 else {
            throw fail("its weight B (\(b.shape)\(transB ? ", transB=1" : "")) takes \(inputs) inputs; the data has \(headShape[0]) features")
        }
        var kernel = try weight(b, shape: [inputs, units], transposed: transB, role: "weight B", fail: fail)
        var bias: Tensor?
        if let c = try constantInput(node, 2, role: "bias C", fail: fail) {
            let vector = try vector(c, units: units, role: "bias C", fail: fail)
            bias = try weight(vector, shape: [units], role: "bias C", fail: fail)
        }
        if alpha != 1 { kernel = scaled(kernel, by: alpha, name: "alpha", object: object) }
        if beta != 1, let unscaled = bias { bias = scaled(unscaled, by: beta, name: "beta", object: object) }
        addDense(kernel: kernel, bias: bias)
        try define(node, 0, .point(head), fail: fail)
    }

    /// `tensor × factor`, noting when a product rounds (Gemm computes α·(A·B); the core (α·B)·A).
    private mutating func scaled(_ tensor: Tensor, by factor: Double, name: String, object: String) -> Tensor {
        var exact = true
        let result: Tensor
        switch tensor.storage {
        case .float32(let values):
            result = Tensor(unchecked: tensor.shape, storage: .float32(values.map { value in
                let product = Double(value) * factor
                if Double(Float(product)) != product { exact = false }
                return Float(product)
            }))
        case .float64(let values):
            result = Tensor(unchecked: tensor.shape, storage: .float64(values.map { value in
                let product = value * factor
                if product / factor != value { exact = false }
                return product
            }))
        }
        if !exact { notes.append("\(object): \(name) \(factor) folded into the weights, rounding some of them") }
        return result
    }

    private mutating func matMul(_ node: Onnx_NodeProto, object: String, fail: (String) -> ModelFileError) throws(ModelFileError) {
        if case .constant? = values[node.input.first ?? ""], node.input.count > 1, case .point? = values[node.input[1]] {
            throw fail("the data is MatMul's second input (W·x): the core's Dense layer computes x·W")
        }
        _ = try dataPoint(node, 0, object: object, fail: fail)
        try requireFlat(fail: fail)
        guard let b = try constantInput(node, 1, role: "weight", fail: fail) else { throw fail("input 1 is missing") }
        guard b.shape.count == 2, b.shape[0] == headShape[0], b.shape[1] > 0 else {
            throw fail("its weight has shape \(b.shape); the data has \(headShape[0]) features, so it must be [\(headShape[0]), units]")
        }
        addDense(kernel: try weight(b, shape: b.shape, role: "weight", fail: fail), bias: nil)
        try define(node, 0, .point(head), fail: fail)
    }

    /// `Add(x, c)` right after a Dense layer without bias, `c` a constant per unit: the layer's bias.
    private mutating func addsBias(_ node: Onnx_NodeProto, fail: (String) -> ModelFileError) throws(ModelFileError) -> Bool {
        guard denseBiasOpen, let dense = openDense, node.input.count == 2 else { return false }
        let first = values[node.input[0]], second = values[node.input[1]]
        let constant: ONNXConstant
        if case .point(let point)? = first, point == head, case .constant(let c, _)? = second {
            constant = c
        } else if case .point(let point)? = second, point == head, case .constant(let c, _)? = first {
            constant = c
        } else {
            return false
        }
        guard case .dense(var settings) = layers[dense].kind else { return false }
        let vector = try vector(constant, units: settings.units, role: "bias", fail: fail)
        let bias = try weight(vector, shape: [settings.units], role: "bias", fail: fail)
        settings.useBias = true
        layers[dense].kind = .dense(settings)
        weights[dense]["bias"] = bias
        denseBiasOpen = false
        head += 1
        try define(node, 0, .point(head), fail: fail)
        return true
    }

    private mutating func batchNormalization(_ node: Onnx_NodeProto, _ attributes: Attributes, object: String, fail: (String) -> ModelFileError) throws(ModelFileError) {
        guard (try attributes.int("training_mode") ?? 0) == 0 else { throw fail("training_mode=1: only the inference form is a layer the core reads") }
        guard node.output.dropFirst().allSatisfy(\.isEmpty) else { throw fail("outputs running statistics: the training form") }
        _ = try dataPoint(node, 0, object: object, fail: fail)
        try requireFlat(fail: fail)
        let width = headShape[0]
        var tensors: [String: Tensor] = [:]
        for (position, name) in [(1, "gamma"), (2, "beta"), (3, "moving_mean"), (4, "moving_variance")] {
            let role = ["scale", "bias B", "mean", "var"][position - 1]
            guard let constant = try constantInput(node, position, role: role, fail: fail) else { throw fail("input \(position) (\(role)) is missing") }
            guard constant.shape == [width] else { throw fail("its \(role) has shape \(constant.shape); the data has \(width) features") }
            tensors[name] = try weight(constant, shape: [width], role: role, fail: fail)
        }
        let epsilon = Self.decimal(try attributes.float("epsilon") ?? 1e-5)
        let momentum = Self.decimal(try attributes.float("momentum") ?? 0.9)
        append(.batchNormalization(BatchNormalizationSettings(momentum: momentum, epsilon: epsilon)), tensors)
        try define(node, 0, .point(head), fail: fail)
    }

    /// `Mul(x, P.scale)` then `Add(·, P.offset)`, as mlpconv's exporter folds the recorded batch_normalization
    /// layer P: read as P when P is the next recorded BatchNormalization and its stored `P.moving_mean`,
    /// `P.moving_variance` (and `P.gamma`, `P.beta` as its settings say), folded by the exporter's own arithmetic,
    /// give the graph's scale and offset bit for bit. False when the Mul names no recorded layer (the pair is then
    /// read as any other element-wise node, and refused); a throw when it names one but does not match it.
    private mutating func foldedBatchNormalization(_ mul: Onnx_NodeProto, then add: Onnx_NodeProto, index: Int) throws(ModelFileError) -> Bool {
        let suffix = ".scale"
        guard mul.opType == "Mul", mul.domain.isEmpty || mul.domain == "ai.onnx", mul.input.count == 2, mul.output.count == 1,
              mul.input[1].hasSuffix(suffix), case .constant? = values[mul.input[1]] else { return false }
        let name = String(mul.input[1].dropLast(suffix.count))
        guard let recordIndex = recordedBatchNormalizations.firstIndex(where: { $0.name == name }) else { return false }
        let object = mul.name.isEmpty ? "graph node \(index) (Mul)" : "graph node \(index) \"\(mul.name)\" (Mul)"
        let fail = { [file] (reason: String) in ModelFileError(file: file, object: object, reason: reason) }
        let readSoFar = layers.filter { if case .batchNormalization = $0.kind { true } else { false } }.count
        guard recordIndex == readSoFar else {
            throw fail("scales by \(name).scale, the fold of recorded batch_normalization layer \(name), where the record has "
                + (readSoFar < recordedBatchNormalizations.count ? "layer \(recordedBatchNormalizations[readSoFar].name)" : "no further one"))
        }
        guard add.opType == "Add", add.domain.isEmpty || add.domain == "ai.onnx", add.input == [mul.output[0], "\(name).offset"] else {
            throw fail("scales by \(name).scale but is not followed by Add(·, \(name).offset): not the fold of batch_normalization layer \(name)")
        }
        let settings = recordedBatchNormalizations[recordIndex].settings
        _ = try dataPoint(mul, 0, object: object, fail: fail)
        try requireFlat(fail: fail)
        let width = headShape[0]
        func stored(_ variable: String) throws(ModelFileError) -> Tensor {
            try storedVector("\(name).\(variable)", layer: name, width: width, fail: fail)
        }
        let mean = try stored("moving_mean"), variance = try stored("moving_variance")
        let gamma = settings.scale ? try stored("gamma") : nil, beta = settings.center ? try stored("beta") : nil
        let folded: (scale: Tensor, offset: Tensor)
        switch dtype {
        case .float32:
            folded = ONNXGraphBuilder.fold(mean: mean.float32Values, variance: variance.float32Values,
                                           gamma: gamma?.float32Values, beta: beta?.float32Values, epsilon: settings.epsilon)
        case .float64:
            folded = ONNXGraphBuilder.fold(mean: mean.float64Values, variance: variance.float64Values,
                                           gamma: gamma?.float64Values, beta: beta?.float64Values, epsilon: settings.epsilon)
        }
        for (variable, expected) in [("scale", folded.scale), ("offset", folded.offset)] {
            guard Self.sameBits(try stored(variable), expected) else {
                throw fail("the stored statistics do not give the graph's \(variable): initializer \(name).\(variable) differs from "
                    + "\(name).moving_mean, \(name).moving_variance\(settings.scale ? ", \(name).gamma" : "")\(settings.center ? ", \(name).beta" : "") "
                    + "folded with epsilon \(settings.epsilon)")
            }
        }
        let input = head
        var tensors = ["moving_mean": mean, "moving_variance": variance]
        tensors["gamma"] = gamma
        tensors["beta"] = beta
        append(.batchNormalization(settings), tensors)
        // The product alone is a point the data path has passed: any other use of it is a branch.
        try define(mul, 0, .point(input), fail: fail)
        try define(add, 0, .point(head), fail: fail)
        return true
    }

    /// Initializer `initializer` of batch_normalization layer `layer`, `[width]` in the model's dtype.
    private mutating func storedVector(_ initializer: String, layer: String, width: Int, fail: (String) -> ModelFileError) throws(ModelFileError) -> Tensor {
        guard case .constant(let constant, let origin)? = values[initializer] else {
            throw fail("initializer \(initializer) is missing: the statistics of batch_normalization layer \(layer) are not in the file")
        }
        let file = file
        let failHere = { (reason: String) in ModelFileError(file: file, object: origin, reason: reason) }
        guard constant.shape == [width] else { throw failHere("has shape \(constant.shape); batch_normalization layer \(layer) has \(width) features") }
        return try weight(constant, shape: [width], role: "value", fail: failHere)
    }

    private static func sameBits(_ a: Tensor, _ b: Tensor) -> Bool {
        switch (a.storage, b.storage) {
        case (.float32(let x), .float32(let y)): a.shape == b.shape && x.map(\.bitPattern) == y.map(\.bitPattern)
        case (.float64(let x), .float64(let y)): a.shape == b.shape && x.map(\.bitPattern) == y.map(\.bitPattern)
        default: false
        }
    }

    private mutating func layerNormalization(_ node: Onnx_NodeProto, _ attributes: Attributes, object: String, fail: (String) -> ModelFileError) throws(ModelFileError) {
        let axis = try attributes.int("axis") ?? -1
        guard axis == -1 || axis == 1 else { throw fail("axis \(axis): the core normalizes each row over its features (axis −1 or 1)") }
        guard node.output.dropFirst().allSatisfy(\.isEmpty) else { throw fail("outputs its mean or inverse deviation, which the core does not") }
        _ = try dataPoint(node, 0, object: object, fail: fail)
        try requireFlat(fail: fail)
        let width = headShape[0]
        var tensors: [String: Tensor] = [:]
        for (position, name, role) in [(1, "gamma", "scale"), (2, "beta", "bias B")] {
            guard let constant = try constantInput(node, position, role: role, fail: fail) else {
                if position == 1 { throw fail("input 1 (scale) is missing") }
                continue
            }
            let vector = try vector(constant, units: width, role: role, fail: fail)
            tensors[name] = try weight(vector, shape: [width], role: role, fail: fail)
        }
        let epsilon = Self.decimal(try attributes.float("epsilon") ?? 1e-5)
        append(.layerNormalization(LayerNormalizationSettings(epsilon: epsilon, center: tensors["beta"] != nil, scale: true)), tensors)
        try define(node, 0, .point(head), fail: fail)
    }

    /// A float32 attribute as the shortest decimal that rounds to it (1e-05, not 9.99999974737875e-06): the value the
    /// exporter was given.
    static func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

    private mutating func flatten(_ node: Onnx_NodeProto, axis: Int, object: String, fail: (String) -> ModelFileError) throws(ModelFileError) {
        let point = try dataPoint(node, 0, object: object, fail: fail)
        if headShape.count > 1 {
            guard axis == 1 else { throw fail("axis \(axis): only flattening each sample (axis 1) keeps the batch") }
            try flattenInput(at: point, fail: fail)
        } else {
            guard axis == 1 || axis == -1 else { throw fail("axis \(axis) on [batch, features] does not keep the rows") }
        }
        try define(node, 0, .point(head), fail: fail)
    }

    /// Flattening the per-sample axes is the document's Flatten layer, which must be the first layer.
    private mutating func flattenInput(at point: Int, fail: (String) -> ModelFileError) throws(ModelFileError) {
        guard point == 0, layers.isEmpty else { throw fail("flattens a value in the middle of the model; only the input may have several axes") }
        append(.flatten)
        headShape = [inputWidth]
    }

    private mutating func reshape(_ node: Onnx_NodeProto, allowZero: Int, object: String, fail: (String) -> ModelFileError) throws(ModelFileError) {
        let point = try dataPoint(node, 0, object: object, fail: fail)
        guard let shape = try constantInput(node, 1, role: "shape", fail: fail), !shape.isFloatingPoint, shape.shape.count == 1 else {
            throw fail("the target shape is not a constant list of integers")
        }
        let target = (0..<shape.count).map { Int(shape.double(at: $0)) }
        let width = headShape.reduce(1, *)
        // [batch, features]: the batch as −1 (inferred) or 0 (copied, unless allowzero), the features as −1 or the width.
        let batchKept = target.count == 2 && (target[0] == -1 || (target[0] == 0 && allowZero == 0))
        let rowsKept = target.count == 2 && (target[1] == width || (target[1] == -1 && target[0] != -1))
        guard batchKept, rowsKept else {
            throw fail("reshapes to \(target)\(allowZero != 0 ? " (allowzero)" : ""): only [batch, features] rows — [-1, \(width)] or [0, -1] — are a no-op or a Flatten")
        }
        if headShape.count > 1 { try flattenInput(at: point, fail: fail) }
        try define(node, 0, .point(head), fail: fail)
    }

    // MARK: Element-wise nodes

    private mutating func elementwise(
        _ node: Onnx_NodeProto, op: String, arity: Int, attributes: Attributes, object: String, fail: (String) -> ModelFileError
    ) throws(ModelFileError) {
        var operands: [ONNXExpression] = []
        var base: Int?
        var parameters: [Double] = []
        let used = op == "Clip" ? 1 : arity
        guard node.input.count >= used else { throw fail("has \(node.input.count) inputs, \(op) takes \(arity)") }
        var fromData = false
        for position in 0..<used {
            if case .constant = try input(node, position, fail: fail) { continue }
            fromData = true
        }
        guard fromData else {
            throw fail("computes from \(node.input.prefix(used).map { "\"\($0)\"" }.joined(separator: ", ")) alone: "
                + "a weight computed in the graph, not stored (mlpconv reads stored weights)")
        }
        for position in 0..<used {
            switch try input(node, position, fail: fail) {
            case .point(let point):
                try requireHead(point, object: object)
                base = point
                operands.append(.input)
            case .expression(let expression, let over, _):
                try requireHead(over, object: object)
                base = over
                operands.append(expression)
            case .constant(let constant, let origin):
                guard let scalar = constant.scalar else {
                    let affine = ["Mul", "Add", "Sub", "Div"].contains(op)
                        ? ": a per-feature scale or offset (a BatchNormalization folded by its exporter), which the core has no layer for and whose statistics are not in the file"
                        : ": an element-wise \(op) with a tensor of weights is not an activation"
                    throw fail("\(origin) has shape \(constant.shape)\(affine)")
                }
                operands.append(.constant(scalar))
            }
        }
        guard let base else { throw fail("has no input from the data path") }
        switch op {
        case "LeakyRelu":
            let alpha = try attributes.float("alpha") ?? 0.01
            guard alpha == Float(0.2) else { throw fail("alpha \(alpha): the core's leaky_relu has slope 0.2 (Keras's); other slopes have no activation") }
            parameters = [Double(alpha)]
        case "Elu":
            let alpha = try attributes.float("alpha") ?? 1
            guard alpha == 1 else { throw fail("alpha \(alpha): the core's elu has alpha 1") }
            parameters = [1]
        case "Selu":
            let alpha = try attributes.float("alpha") ?? 1.67326319217681884765625, gamma = try attributes.float("gamma") ?? 1.05070102214813232421875
            guard alpha == Float(1.67326324235437728481704299167), gamma == Float(1.05070098735548049341933498529) else {
                throw fail("alpha \(alpha), gamma \(gamma): the core's selu has Keras's constants (1.6732632, 1.0507010)")
            }
            parameters = [Double(alpha), Double(gamma)]
        case "HardSigmoid":
            let alpha = try attributes.float("alpha") ?? 0.2, beta = try attributes.float("beta") ?? 0.5
            guard alpha == Float(1.0 / 6.0), beta == 0.5 else {
                throw fail("alpha \(alpha), beta \(beta): the core's hard_sigmoid is Keras 3's relu6(x + 3)/6 (alpha 1/6, beta 0.5)")
            }
            parameters = [Double(alpha), Double(beta)]
        case "Gelu":
            let approximate = try attributes.string("approximate") ?? "none"
            guard approximate == "none" else {
                throw fail("approximate '\(approximate)': the core's gelu is the exact erf form (Keras's default); it has no \(approximate) form")
            }
        case "Clip":
            parameters = try clipBounds(node, attributes, fail: fail)
        default:
            guard attributes.names.isEmpty || ["Softplus"].contains(op) else {
                throw fail("has attributes (\(attributes.names.sorted().joined(separator: ", "))) mlpconv does not read for \(op)")
            }
        }
        let expression = ONNXExpression.apply(op: op, operands: operands, parameters: parameters)
        guard expression.operatorCount <= ONNXExpression.maxOperators else {
            throw fail("more than \(ONNXExpression.maxOperators) element-wise operators between two layers: no activation the core has")
        }
        try define(node, 0, .expression(expression, over: base, origin: object), fail: fail)
    }

    /// Clip's bounds: attributes before opset 11, constant inputs from 11 on; a missing bound is unbounded.
    private func clipBounds(_ node: Onnx_NodeProto, _ attributes: Attributes, fail: (String) -> ModelFileError) throws(ModelFileError) -> [Double] {
        if opset < 11 {
            return [Double(try attributes.float("min") ?? -.infinity), Double(try attributes.float("max") ?? .infinity)]
        }
        var bounds: [Double] = [-.infinity, .infinity]
        for position in 1...2 {
            guard let constant = try constantInput(node, position, role: position == 1 ? "min" : "max", fail: fail) else { continue }
            guard let value = constant.scalar else { throw fail("its \(position == 1 ? "min" : "max") is not one value") }
            bounds[position - 1] = value
        }
        return bounds
    }

    private mutating func constant(of node: Onnx_NodeProto, attributes: Attributes, object: String) throws(ModelFileError) -> ONNXConstant {
        if let tensor = try attributes.tensor("value") { return try tensors.read(tensor, object: object + " value") }
        if let value = try attributes.float("value_float") { return ONNXConstant(shape: [], values: .float32([value])) }
        if let values = try attributes.floats("value_floats") { return ONNXConstant(shape: [values.count], values: .float32(values)) }
        if let value = try attributes.int("value_int") { return ONNXConstant(shape: [], values: .int64([Int64(value)])) }
        if let values = try attributes.ints("value_ints") { return ONNXConstant(shape: [values.count], values: .int64(values)) }
        throw ModelFileError(file: file, object: object, reason: "holds no value mlpconv reads (value, value_float(s) or value_int(s))")
    }
}

/// A node's attributes by name, each checked for the type its reader expects.
struct Attributes {
    private var byName: [String: Onnx_AttributeProto] = [:]
    private let fail: (String) -> ModelFileError

    init(_ node: Onnx_NodeProto, fail: @escaping (String) -> ModelFileError) throws(ModelFileError) {
        self.fail = fail
        for attribute in node.attribute {
            guard byName.updateValue(attribute, forKey: attribute.name) == nil else { throw fail("attribute \(attribute.name) is given twice") }
            guard attribute.refAttrName.isEmpty else { throw fail("attribute \(attribute.name) refers to a function's attribute") }
        }
    }

    var names: [String] { Array(byName.keys) }

    private func value<T>(_ name: String, _ type: Onnx_AttributeProto.AttributeType, _ kind: String,
                          _ read: (Onnx_AttributeProto) -> T?) throws(ModelFileError) -> T? {
        guard let attribute = byName[name] else { return nil }
        // Files before IR 2 leave `type` unset; then the field that is set decides.
        guard attribute.type == type || attribute.type == .undefined, let value = read(attribute) else {
            throw fail("attribute \(name) is not \(kind)")
        }
        return value
    }

    func float(_ name: String) throws(ModelFileError) -> Float? { try value(name, .float, "a float") { $0.hasF ? $0.f : nil } }
    func int(_ name: String) throws(ModelFileError) -> Int? { try value(name, .int, "an integer") { $0.hasI ? Int(exactly: $0.i) : nil } }
    func string(_ name: String) throws(ModelFileError) -> String? {
        try value(name, .string, "UTF-8 text") { $0.hasS ? String(data: $0.s, encoding: .utf8) : nil }
    }
    func tensor(_ name: String) throws(ModelFileError) -> Onnx_TensorProto? { try value(name, .tensor, "a tensor") { $0.hasT ? $0.t : nil } }
    func floats(_ name: String) throws(ModelFileError) -> [Float]? { try value(name, .floats, "a list of floats") { $0.floats } }
    func ints(_ name: String) throws(ModelFileError) -> [Int64]? { try value(name, .ints, "a list of integers") { $0.ints } }
}
