import Foundation
import MLPCore
import MLPDocument
import ONNXSupport

/// Builds the nodes and initializers of an exported graph, layer by layer (docs/onnx.md, "Export").
///
/// Names are stable: a node is `<layer>/<Op>` (`_1`, `_2`… when a layer uses an op twice) and its one output tensor
/// has the node's name; a layer's weights are `<layer>.<variable>`; shared scalars are `constant/<label>`. The last
/// tensor becomes the graph output `output` when the graph is assembled.
struct ONNXGraphBuilder {
    let dtype: Tensor.DType
    let opset: Int
    let file: String
    private(set) var nodes: [Onnx_NodeProto] = []
    /// The initializers in creation order, each with its bytes kept apart until the exporter decides where they go.
    private(set) var initializers: [(proto: Onnx_TensorProto, bytes: InitializerBytes)] = []
    private var usedNodeNames: Set<String> = []
    private var initializerNames: Set<String> = []

    init(dtype: Tensor.DType, opset: Int, file: String) {
        self.dtype = dtype
        self.opset = opset
        self.file = file
    }

    var elementType: Int32 {
        Int32((dtype == .float32 ? Onnx_TensorProto.DataType.float : .double).rawValue)
    }

    // MARK: Layers

    /// Appends the nodes computing `layer` in inference form on tensor `x`; returns the layer's output tensor.
    mutating func layer(_ layer: ModelDocument.Layer, weights: ModelDocument.LayerWeights, width: Int, x: String)
        throws(ModelFileError) -> String {
        let name = layer.name
        switch layer.kind {
        case .dense(let dense):
            let kernel = try initializer(layer: name, "kernel", weights)
            var z: String
            if dense.useBias {
                let bias = try initializer(layer: name, "bias", weights)
                // The kernel as stored, [inputs, units]: x·W + b without a transpose.
                z = node("Gemm", [x, kernel, bias], layer: name,
                         attributes: [Self.attribute("transA", int: 0), Self.attribute("transB", int: 0)])
            } else {
                z = node("MatMul", [x, kernel], layer: name)
            }
            z = activation(dense.activation, x: z, layer: name)
            return z
        case .activation(let activation):
            return self.activation(activation, x: x, layer: name)
        case .dropout, .flatten:
            // Dropout is the identity at inference; a Flatten's reshape is done once, at the graph input.
            return x
        case .batchNormalization(let settings):
            return try batchNormalization(name, settings, weights: weights, x: x)
        case .layerNormalization(let settings):
            return try layerNormalization(name, settings, weights: weights, width: width, x: x)
        }
    }

    /// Folded into `x·s + offset` with `s = γ/√(σ² + ε)` and `offset = β − μ·s`, computed in the model's dtype
    /// exactly as the core computes them, so the export is exact (the op's float32 epsilon attribute would not be
    /// for float64 models). The layer's own tensors follow as initializers the graph does not use: the importer
    /// folds them again and, when they give the graph's scale and offset, reads the layer back from them.
    private mutating func batchNormalization(
        _ name: String, _ settings: BatchNormalizationSettings, weights: ModelDocument.LayerWeights, x: String
    ) throws(ModelFileError) -> String {
        let mean = try tensor(layer: name, "moving_mean", weights), variance = try tensor(layer: name, "moving_variance", weights)
        let gamma = settings.scale ? try tensor(layer: name, "gamma", weights) : nil
        let beta = settings.center ? try tensor(layer: name, "beta", weights) : nil
        let scale: Tensor, offset: Tensor
        switch dtype {
        case .float32:
            (scale, offset) = Self.fold(mean: mean.float32Values, variance: variance.float32Values,
                                        gamma: gamma?.float32Values, beta: beta?.float32Values, epsilon: settings.epsilon)
        case .float64:
            (scale, offset) = Self.fold(mean: mean.float64Values, variance: variance.float64Values,
                                        gamma: gamma?.float64Values, beta: beta?.float64Values, epsilon: settings.epsilon)
        }
        let scaled = node("Mul", [x, addInitializer("\(name).scale", scale)], layer: name)
        let result = node("Add", [scaled, addInitializer("\(name).offset", offset)], layer: name)
        for (variable, tensor) in [("moving_mean", mean), ("moving_variance", variance), ("gamma", gamma), ("beta", beta)] {
            if let tensor { _ = addInitializer("\(name).\(variable)", tensor) }
        }
        return result
    }

    static func fold<T: BinaryFloatingPoint & ExportScalar>(
        mean: [T], variance: [T], gamma: [T]?, beta: [T]?, epsilon: Double
    ) -> (scale: Tensor, offset: Tensor) {
        let eps = T(epsilon)
        var scale = [T](), offset = [T]()
        for j in mean.indices {
            let s = 1 / (variance[j] + eps).squareRoot() * (gamma?[j] ?? 1)
            scale.append(s)
            offset.append(-mean[j] * s + (beta?[j] ?? 0))
        }
        return (T.tensor(shape: [mean.count], scale), T.tensor(shape: [mean.count], offset))
    }

    /// The `LayerNormalization` op (opset 17) for float32; composed otherwise, and always for float64, whose epsilon
    /// the op's float32 attribute would round.
    private mutating func layerNormalization(
        _ name: String, _ settings: LayerNormalizationSettings, weights: ModelDocument.LayerWeights, width: Int, x: String
    ) throws(ModelFileError) -> String {
        let gamma = settings.scale ? try initializer(layer: name, "gamma", weights) : nil
        let beta = settings.center ? try initializer(layer: name, "beta", weights) : nil
        if Self.layerNormalizationOpAvailable(dtype: dtype, opset: opset) {
            let scale = gamma ?? addInitializer("\(name).unit_scale", ones(width))
            return node("LayerNormalization", [x, scale] + (beta.map { [$0] } ?? []), layer: name,
                        attributes: [Self.attribute("axis", int: -1), Self.attribute("epsilon", float: Float(settings.epsilon))])
        }
        let mean = reduceMean(x, layer: name)
        let centered = node("Sub", [x, mean], layer: name)
        let variance = reduceMean(node("Mul", [centered, centered], layer: name), layer: name)
        let epsilon = addInitializer("\(name).epsilon", scalar(settings.epsilon))
        let deviation = node("Sqrt", [node("Add", [variance, epsilon], layer: name)], layer: name)
        var y = node("Div", [centered, deviation], layer: name)
        if let gamma { y = node("Mul", [y, gamma], layer: name) }
        if let beta { y = node("Add", [y, beta], layer: name) }
        return y
    }

    static func layerNormalizationOpAvailable(dtype: Tensor.DType, opset: Int) -> Bool {
        dtype == .float32 && opset >= 17
    }

    /// The mean over the last axis, kept as an axis: `axes` is an attribute before opset 18 and an input from it.
    private mutating func reduceMean(_ x: String, layer: String) -> String {
        if opset >= 18 {
            return node("ReduceMean", [x, int64Constant("last_axis", [-1])], layer: layer,
                        attributes: [Self.attribute("keepdims", int: 1)])
        }
        return node("ReduceMean", [x], layer: layer,
                    attributes: [Self.attribute("axes", ints: [-1]), Self.attribute("keepdims", int: 1)])
    }

    // MARK: Activations

    /// Appends `f(x)` with Keras's definition of `activation` (docs/onnx.md, the activation table). Float64 avoids
    /// ops whose float attributes (float32) would round Keras's constants and ops onnxruntime's CPU provider has
    /// no DOUBLE kernel for (Elu, Softplus, Softsign; Mish and HardSwish expand to them).
    mutating func activation(_ activation: Activation, x: String, layer: String) -> String {
        let double = dtype == .float64
        switch activation {
        case .linear: return x
        case .relu: return node("Relu", [x], layer: layer)
        case .sigmoid: return node("Sigmoid", [x], layer: layer)
        case .tanh: return node("Tanh", [x], layer: layer)
        case .softplus: return softplus(x, layer: layer)
        case .softsign where !double: return node("Softsign", [x], layer: layer)
        case .softsign:
            return node("Div", [x, node("Add", [node("Abs", [x], layer: layer), constant("one", 1)], layer: layer)], layer: layer)
        case .exponential: return node("Exp", [x], layer: layer)
        case .softmax: return node("Softmax", [x], layer: layer, attributes: [Self.attribute("axis", int: -1)])
        case .logSoftmax: return node("LogSoftmax", [x], layer: layer, attributes: [Self.attribute("axis", int: -1)])
        case .elu where !double: return node("Elu", [x], layer: layer, attributes: [Self.attribute("alpha", float: 1)])
        case .elu:
            let negative = node("Sub", [node("Exp", [x], layer: layer), constant("one", 1)], layer: layer)
            let positive = node("Greater", [x, constant("zero", 0)], layer: layer)
            return node("Where", [positive, x, negative], layer: layer)
        case .relu6: return node("Clip", [x, constant("zero", 0), constant("six", 6)], layer: layer)
        case .silu: return node("Mul", [x, node("Sigmoid", [x], layer: layer)], layer: layer)
        case .selu where !double:
            return node("Selu", [x], layer: layer, attributes: [Self.attribute("alpha", float: Float(Self.seluAlpha)),
                                                               Self.attribute("gamma", float: Float(Self.seluScale))])
        case .selu:
            // scale·(x > 0 ? x : alpha·(eˣ − 1)), with float64 constants.
            let negative = node("Mul", [constant("selu_alpha", Self.seluAlpha),
                                        node("Sub", [node("Exp", [x], layer: layer), constant("one", 1)], layer: layer)],
                                layer: layer)
            let positive = node("Greater", [x, constant("zero", 0)], layer: layer)
            return node("Mul", [constant("selu_scale", Self.seluScale),
                                node("Where", [positive, x, negative], layer: layer)], layer: layer)
        case .leakyReLU where !double:
            return node("LeakyRelu", [x], layer: layer, attributes: [Self.attribute("alpha", float: 0.2)])
        case .leakyReLU:
            // max(x, 0.2·x) is x for x ≥ 0 and 0.2·x below.
            return node("Max", [x, node("Mul", [x, constant("leaky_relu_slope", 0.2)], layer: layer)], layer: layer)
        case .hardSigmoid:
            return hardSigmoid(x, layer: layer)
        case .hardSiLU where !double && opset >= 14:
            return node("HardSwish", [x], layer: layer)
        case .hardSiLU:
            return node("Mul", [x, hardSigmoid(x, layer: layer)], layer: layer)
        case .gelu where opset >= 20:
            return node("Gelu", [x], layer: layer)
        case .gelu:
            // x·(1 + erf(x/√2))/2, in the core's order of operations.
            let erf = node("Erf", [node("Div", [x, constant("sqrt2", 2.0.squareRoot())], layer: layer)], layer: layer)
            let product = node("Mul", [x, node("Add", [erf, constant("one", 1)], layer: layer)], layer: layer)
            return node("Div", [product, constant("two", 2)], layer: layer)
        case .mish where opset >= 18 && !double:
            return node("Mish", [x], layer: layer)
        case .mish:
            return node("Mul", [x, node("Tanh", [softplus(x, layer: layer)], layer: layer)], layer: layer)
        }
    }

    /// `log(1 + eˣ)`: the op for float32; for float64, which onnxruntime's CPU provider has no Softplus kernel for,
    /// the core's overflow-free form `max(x, 0) + log(1 + e^−|x|)`.
    private mutating func softplus(_ x: String, layer: String) -> String {
        if dtype == .float32 { return node("Softplus", [x], layer: layer) }
        let decay = node("Exp", [node("Neg", [node("Abs", [x], layer: layer)], layer: layer)], layer: layer)
        let logTerm = node("Log", [node("Add", [decay, constant("one", 1)], layer: layer)], layer: layer)
        return node("Add", [node("Relu", [x], layer: layer), logTerm], layer: layer)
    }

    /// `relu6(x + 3)/6`: the `HardSigmoid` op with alpha 1/6, beta 1/2 for float32; for float64 composed as Keras
    /// writes it, since the op's float32 alpha would round 1/6.
    private mutating func hardSigmoid(_ x: String, layer: String) -> String {
        if dtype == .float32 {
            return node("HardSigmoid", [x], layer: layer,
                        attributes: [Self.attribute("alpha", float: 1 / 6), Self.attribute("beta", float: 0.5)])
        }
        let shifted = node("Add", [x, constant("three", 3)], layer: layer)
        let clipped = node("Clip", [shifted, constant("zero", 0), constant("six", 6)], layer: layer)
        return node("Div", [clipped, constant("six", 6)], layer: layer)
    }

    // Keras's SELU constants (as MLPCore's Activation.swift has them).
    static let seluAlpha = 1.67326324235437728481704299167
    static let seluScale = 1.05070098735548049341933498529

    // MARK: Nodes and initializers

    /// Appends a node named `<layer>/<op>` (made unique) whose one output has the same name.
    mutating func node(_ op: String, _ inputs: [String], layer: String, attributes: [Onnx_AttributeProto] = []) -> String {
        var name = "\(layer)/\(op)"
        var suffix = 0
        while usedNodeNames.contains(name) {
            suffix += 1
            name = "\(layer)/\(op)_\(suffix)"
        }
        usedNodeNames.insert(name)
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        node.output = [name]
        node.attribute = attributes
        nodes.append(node)
        return name
    }

    /// A Flatten(axis = 1) node: `[batch, d1, d2, …]` → `[batch, d1·d2·…]`.
    mutating func flatten(_ x: String, layer: String) -> String {
        node("Flatten", [x], layer: layer, attributes: [Self.attribute("axis", int: 1)])
    }

    /// Renames the tensor the last node produces (`last`) to `output`; when no node computes anything (every layer
    /// is the identity at inference), an Identity node produces it.
    mutating func finish(last: String, input: String) {
        if last != input, let index = nodes.lastIndex(where: { $0.output == [last] }), index == nodes.count - 1 {
            nodes[index].output = [ONNXExporter.outputName]
        } else {
            var node = Onnx_NodeProto()
            node.opType = "Identity"
            node.name = "output/Identity"
            node.input = [last]
            node.output = [ONNXExporter.outputName]
            nodes.append(node)
        }
    }

    private func tensor(layer: String, _ variable: String, _ weights: ModelDocument.LayerWeights) throws(ModelFileError) -> Tensor {
        guard let tensor = weights[variable] else {
            throw ModelFileError(file: file, object: "\(layer)/\(variable)", reason: "the layer has no \(variable) tensor")
        }
        return tensor.converted(to: dtype)
    }

    /// The layer's stored tensor `variable` as initializer `<layer>.<variable>`.
    private mutating func initializer(layer: String, _ variable: String, _ weights: ModelDocument.LayerWeights)
        throws(ModelFileError) -> String {
        addInitializer("\(layer).\(variable)", try tensor(layer: layer, variable, weights))
    }

    private mutating func addInitializer(_ name: String, _ tensor: Tensor) -> String {
        let converted = tensor.converted(to: dtype)
        addRaw(name, dims: converted.shape.map(Int64.init), dataType: elementType, bytes: .tensor(converted))
        return name
    }

    /// A shared scalar of the model's dtype, `constant/<label>`.
    private mutating func constant(_ label: String, _ value: Double) -> String {
        let name = "constant/\(label)"
        if !initializerNames.contains(name) { _ = addInitializer(name, scalar(value)) }
        return name
    }

    private mutating func int64Constant(_ label: String, _ values: [Int64]) -> String {
        let name = "constant/\(label)"
        if !initializerNames.contains(name) {
            addRaw(name, dims: [Int64(values.count)], dataType: Int32(Onnx_TensorProto.DataType.int64.rawValue),
                   bytes: .data(values.map(\.littleEndian).withUnsafeBytes { Data($0) }))
        }
        return name
    }

    private mutating func addRaw(_ name: String, dims: [Int64], dataType: Int32, bytes: InitializerBytes) {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = dims
        proto.dataType = dataType
        initializerNames.insert(name)
        initializers.append((proto, bytes))
    }

    private func scalar(_ value: Double) -> Tensor {
        dtype == .float32 ? Float.tensor(shape: [], [Float(value)]) : Double.tensor(shape: [], [value])
    }

    private func ones(_ count: Int) -> Tensor {
        dtype == .float32 ? Float.tensor(shape: [count], [Float](repeating: 1, count: count))
            : Double.tensor(shape: [count], [Double](repeating: 1, count: count))
    }

    static func attribute(_ name: String, int: Int64) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = int
        return attribute
    }

    static func attribute(_ name: String, ints: [Int64]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = ints
        return attribute
    }

    static func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = float
        return attribute
    }
}

/// The two element types a document's tensors hold, so that the folding arithmetic is written once.
protocol ExportScalar {
    static func tensor(shape: [Int], _ values: [Self]) -> Tensor
}

extension Float: ExportScalar {
    static func tensor(shape: [Int], _ values: [Float]) -> Tensor { Tensor(unchecked: shape, storage: .float32(values)) }
}

extension Double: ExportScalar {
    static func tensor(shape: [Int], _ values: [Double]) -> Tensor { Tensor(unchecked: shape, storage: .float64(values)) }
}

/// An initializer's little-endian bytes: the document's own tensor (no copy when the graph keeps its dtype; host
/// order is little-endian on every platform this package builds for) or a small constant's bytes.
enum InitializerBytes: ContiguousBytes {
    case tensor(Tensor)
    case data(Data)

    var count: Int {
        switch self {
        case .tensor(let tensor): tensor.byteCount
        case .data(let data): data.count
        }
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .tensor(let tensor): try tensor.withUnsafeBytes(body)
        case .data(let data): try data.withUnsafeBytes(body)
        }
    }
}
