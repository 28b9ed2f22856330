import Foundation
import ONNXSupport

/// ONNX graphs built here with the generated message types, for what the fixtures do not cover: each helper appends
/// to a chain whose current value is the last node's first output (or the input).
enum ONNXTestGraphs {
    static func model(inputWidth: Int, inputShape: [Int]? = nil, elementType: Int32 = 1, opset: Int64 = 17) -> Onnx_ModelProto {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "mlpconv-tests"
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.domain = ""
        opsetID.version = opset
        model.opsetImport = [opsetID]
        var input = Onnx_ValueInfoProto()
        input.name = "input"
        input.type = tensorType(elementType, dims: [nil] + (inputShape ?? [inputWidth]))
        model.graph.name = "test"
        model.graph.input = [input]
        return model
    }

    static func tensorType(_ elementType: Int32, dims: [Int?]) -> Onnx_TypeProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = elementType
        tensor.shape.dim = dims.map { value in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let value { dimension.dimValue = Int64(value) } else { dimension.dimParam = "batch" }
            return dimension
        }
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        return type
    }

    static func current(_ model: Onnx_ModelProto) -> String { model.graph.node.last?.output.first ?? "input" }

    /// A float32 initializer with raw little-endian data.
    static func initializer(_ name: String, shape: [Int], values: [Float]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = 1
        tensor.dims = shape.map(Int64.init)
        tensor.rawData = values.withUnsafeBytes { Data($0) }
        return tensor
    }

    static func float64Initializer(_ name: String, shape: [Int], values: [Double]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = 11
        tensor.dims = shape.map(Int64.init)
        tensor.rawData = values.withUnsafeBytes { Data($0) }
        return tensor
    }

    static func attribute(_ name: String, float value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }

    static func attribute(_ name: String, int value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func attribute(_ name: String, string value: String) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .string
        attribute.s = Data(value.utf8)
        return attribute
    }

    /// Appends a node on the current value; `inputs` after it name initializers or earlier values (`nil`: the current
    /// value again).
    @discardableResult
    static func node(_ model: inout Onnx_ModelProto, _ op: String, inputs: [String?] = [], attributes: [Onnx_AttributeProto] = [],
                     first: String? = nil) -> String {
        let index = model.graph.node.count
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = "\(op.lowercased())_\(index)"
        let current = current(model)
        node.input = [first ?? current] + inputs.map { $0 ?? current }
        node.output = ["\(op.lowercased())_\(index)_out"]
        node.attribute = attributes
        model.graph.node.append(node)
        return node.output[0]
    }

    /// A scalar float32 initializer, returning its name.
    @discardableResult
    static func scalar(_ model: inout Onnx_ModelProto, _ name: String, _ value: Float) -> String {
        model.graph.initializer.append(initializer(name, shape: [], values: [value]))
        return name
    }

    /// `Gemm(x, weight, bias)`; `weight` rows as given (`[units, inputs]` with transB, `[inputs, units]` without).
    static func gemm(_ model: inout Onnx_ModelProto, weight: [[Float]], bias: [Float]?, transB: Bool,
                     alpha: Float? = nil, beta: Float? = nil) {
        // The first layer's tensors are "weight" and "bias", as in the generator's hostile files.
        let index = model.graph.node.count
        let weightName = index == 0 ? "weight" : "weight_\(index)", biasName = index == 0 ? "bias" : "bias_\(index)"
        model.graph.initializer.append(initializer(weightName, shape: [weight.count, weight[0].count], values: weight.flatMap { $0 }))
        var inputs: [String?] = [weightName]
        if let bias {
            model.graph.initializer.append(initializer(biasName, shape: [bias.count], values: bias))
            inputs.append(biasName)
        }
        var attributes = [attribute("transB", int: transB ? 1 : 0)]
        if let alpha { attributes.append(attribute("alpha", float: alpha)) }
        if let beta { attributes.append(attribute("beta", float: beta)) }
        node(&model, "Gemm", inputs: inputs, attributes: attributes)
    }

    static func finish(_ model: inout Onnx_ModelProto, outputWidth: Int, elementType: Int32 = 1) {
        var output = Onnx_ValueInfoProto()
        output.name = current(model)
        output.type = tensorType(elementType, dims: [nil, outputWidth])
        model.graph.output = [output]
    }

    /// Moves initializer `index`'s data to `location` (the caller writes the file).
    static func makeExternal(_ model: inout Onnx_ModelProto, initializer index: Int, location: String, offset: Int, length: Int) {
        model.graph.initializer[index].clearRawData()
        model.graph.initializer[index].dataLocation = .external
        model.graph.initializer[index].externalData = [("location", location), ("offset", "\(offset)"), ("length", "\(length)")].map {
            var entry = Onnx_StringStringEntryProto()
            entry.key = $0.0
            entry.value = $0.1
            return entry
        }
    }
}
