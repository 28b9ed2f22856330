import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
@testable import ONNXFormat
import ONNXSupport
import Testing
import TestSupport

/// Graphs built here for the forms the fixtures do not cover. Expected values are written out by hand from ONNX's
/// operator definitions (Gemm is α·A·B′ + β·C), never computed by the reader.
struct ONNXImportGraphTests {
    private func load(_ model: Onnx_ModelProto, limits: LoadLimits = LoadLimits()) throws -> ModelDocument {
        let folder = try TemporaryFolder()
        let path = try folder.write("model.onnx", [UInt8](try ONNXProtobuf.encode(model)))
        return try ModelFiles.load(path, limits: limits)
    }

    private func refusal(_ model: Onnx_ModelProto) throws -> String? {
        let folder = try TemporaryFolder()
        let path = try folder.write("model.onnx", [UInt8](try ONNXProtobuf.encode(model)))
        return expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }.map { "\($0.object ?? "-"): \($0.reason)" }
    }

    /// `[batch, 2]` → a first layer of 3 units, as `Gemm` with the weight rows given.
    private func twoToThree(alpha: Float? = nil, beta: Float? = nil) -> Onnx_ModelProto {
        var model = ONNXTestGraphs.model(inputWidth: 2)
        ONNXTestGraphs.gemm(&model, weight: [[1, 2], [3, 4], [5, 6]], bias: [0.5, -0.5, 1], transB: true, alpha: alpha, beta: beta)
        return model
    }

    @Test func gemmAlphaBetaFoldIntoTheWeights() throws {
        var model = twoToThree(alpha: 0.25, beta: 4)
        ONNXTestGraphs.finish(&model, outputWidth: 3)
        let document = try load(model)
        #expect(document.weights[0]["kernel"]?.float32Values == [0.25, 0.75, 1.25, 0.5, 1, 1.5])
        #expect(document.weights[0]["bias"]?.float32Values == [2, -2, 4])
        #expect(document.metadata[ONNXImporter.notesKey] == nil)

        // 0.1 is not a power of two: the products round, and the metadata says so.
        var rounded = twoToThree(alpha: 0.1)
        ONNXTestGraphs.finish(&rounded, outputWidth: 3)
        let note = try load(rounded).metadata[ONNXImporter.notesKey]
        #expect(note?.hasPrefix("graph node 0 \"gemm_0\" (Gemm): alpha 0.10000000149011612 folded into the weights, rounding some of them") == true, "\(String(describing: note))")
    }

    @Test func matMulAddIsADenseLayerWithBias() throws {
        var model = ONNXTestGraphs.model(inputWidth: 2)
        model.graph.initializer.append(ONNXTestGraphs.initializer("w", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
        model.graph.initializer.append(ONNXTestGraphs.initializer("b", shape: [1, 3], values: [7, 8, 9]))
        ONNXTestGraphs.node(&model, "MatMul", inputs: ["w"])
        // The bias first, the data second: Add is commutative.
        ONNXTestGraphs.node(&model, "Add", inputs: [nil], first: "b")
        ONNXTestGraphs.node(&model, "Relu")
        ONNXTestGraphs.finish(&model, outputWidth: 3)
        let document = try load(model)
        #expect(document.architecture.layers.map(\.kind) == [.dense(DenseSettings(units: 3, activation: .relu))])
        #expect(document.weights[0]["kernel"]?.float32Values == [1, 2, 3, 4, 5, 6])
        #expect(document.weights[0]["bias"]?.float32Values == [7, 8, 9])
    }

    @Test func composedActivationsAreRecognised() throws {
        // x·HardSigmoid(x) → hard_silu; Clip(x, 0, 6) with attributes (opset 6) → relu6; x·Sigmoid(x) → silu.
        var model = ONNXTestGraphs.model(inputWidth: 2, opset: 6)
        ONNXTestGraphs.gemm(&model, weight: [[1, 2], [3, 4], [5, 6]], bias: nil, transB: true)
        let gemm = ONNXTestGraphs.current(model)
        ONNXTestGraphs.node(&model, "HardSigmoid", attributes: [ONNXTestGraphs.attribute("alpha", float: 1.0 / 6), ONNXTestGraphs.attribute("beta", float: 0.5)])
        ONNXTestGraphs.node(&model, "Mul", inputs: [gemm])
        ONNXTestGraphs.gemm(&model, weight: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], bias: nil, transB: false)
        ONNXTestGraphs.node(&model, "Clip", attributes: [ONNXTestGraphs.attribute("min", float: 0), ONNXTestGraphs.attribute("max", float: 6)])
        ONNXTestGraphs.gemm(&model, weight: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], bias: nil, transB: false)
        let third = ONNXTestGraphs.current(model)
        ONNXTestGraphs.node(&model, "Sigmoid")
        ONNXTestGraphs.node(&model, "Mul", inputs: [third])
        ONNXTestGraphs.finish(&model, outputWidth: 3)
        let document = try load(model)
        #expect(document.architecture.layers.compactMap(\.dense?.activation) == [.hardSiLU, .relu6, .silu])
    }

    @Test("activation parameters the core does not have are refused naming them", arguments: [
        ("LeakyRelu", [ONNXTestGraphs.attribute("alpha", float: 0.3)], "alpha 0.3: the core's leaky_relu has slope 0.2 (Keras's); other slopes have no activation"),
        ("Elu", [ONNXTestGraphs.attribute("alpha", float: 2)], "alpha 2.0: the core's elu has alpha 1"),
        ("Gelu", [ONNXTestGraphs.attribute("approximate", string: "tanh")], "approximate 'tanh': the core's gelu is the exact erf form (Keras's default); it has no tanh form"),
        ("Selu", [ONNXTestGraphs.attribute("alpha", float: 1.5)], "alpha 1.5, gamma 1.050701: the core's selu has Keras's constants (1.6732632, 1.0507010)"),
    ])
    func activationParameters(op: String, attributes: [Onnx_AttributeProto], reason: String) throws {
        var model = twoToThree()
        ONNXTestGraphs.node(&model, op, attributes: attributes)
        ONNXTestGraphs.finish(&model, outputWidth: 3)
        #expect(try refusal(model) == "graph node 1 \"\(op.lowercased())_1\" (\(op)): \(reason)")
    }

    @Test func shapesThatAreNotAChainAreRefused() throws {
        var transposed = ONNXTestGraphs.model(inputWidth: 2)
        ONNXTestGraphs.gemm(&transposed, weight: [[1, 2, 3], [4, 5, 6]], bias: nil, transB: false)
        transposed.graph.node[0].attribute.append(ONNXTestGraphs.attribute("transA", int: 1))
        ONNXTestGraphs.finish(&transposed, outputWidth: 3)
        #expect(try refusal(transposed) == "graph node 0 \"gemm_0\" (Gemm): transA=1 on the data input: the core's Dense layer multiplies the rows [batch, features] as they are")

        var vectorScale = twoToThree()
        vectorScale.graph.initializer.append(ONNXTestGraphs.initializer("scale", shape: [3], values: [1, 2, 3]))
        ONNXTestGraphs.node(&vectorScale, "Relu")
        ONNXTestGraphs.node(&vectorScale, "Mul", inputs: ["scale"])
        ONNXTestGraphs.finish(&vectorScale, outputWidth: 3)
        #expect(try refusal(vectorScale) == "graph node 2 \"mul_2\" (Mul): initializer scale has shape [3]: a per-feature scale or offset (a BatchNormalization folded by its exporter), which the core has no layer for and whose statistics are not in the file")

        var wrongWidth = twoToThree()
        ONNXTestGraphs.gemm(&wrongWidth, weight: [[1, 2], [3, 4]], bias: nil, transB: false)
        ONNXTestGraphs.finish(&wrongWidth, outputWidth: 2)
        #expect(try refusal(wrongWidth) == "graph node 1 \"gemm_1\" (Gemm): its weight B ([2, 2]) takes 2 inputs; the data has 3 features")

        var integerInput = ONNXTestGraphs.model(inputWidth: 2, elementType: 7)
        ONNXTestGraphs.gemm(&integerInput, weight: [[1, 2]], bias: nil, transB: true)
        ONNXTestGraphs.finish(&integerInput, outputWidth: 1)
        #expect(try refusal(integerInput) == "graph.input \"input\": element type int64 is not supported (mlpconv reads float32 and float64 models)")
    }

    @Test func longElementwiseChainsAreCapped() throws {
        // 100,000 Relu nodes in a row: refused at the 65th, before any tree deep enough to matter is built.
        var model = twoToThree()
        var previous = ONNXTestGraphs.current(model)
        model.graph.node += (1...100_000).map { index in
            var node = Onnx_NodeProto()
            node.opType = "Relu"
            node.name = "relu_\(index)"
            node.input = [previous]
            previous = "relu_\(index)_out"
            node.output = [previous]
            return node
        }
        ONNXTestGraphs.finish(&model, outputWidth: 3)
        #expect(try refusal(model) == "graph node 65 \"relu_65\" (Relu): more than 64 element-wise operators between two layers: no activation the core has")
    }

    @Test func float16ModelsAreWidenedToFloat32() throws {
        var model = ONNXTestGraphs.model(inputWidth: 2, elementType: 10)
        var weight = Onnx_TensorProto()
        weight.name = "w"
        weight.dataType = 10
        weight.dims = [2, 1]
        // 1.5 and −0.25 in binary16.
        weight.rawData = Data([0x00, 0x3E, 0x00, 0xB4])
        model.graph.initializer.append(weight)
        ONNXTestGraphs.node(&model, "MatMul", inputs: ["w"])
        ONNXTestGraphs.finish(&model, outputWidth: 1, elementType: 10)
        let document = try load(model)
        #expect(document.weights[0]["kernel"] == (try Tensor(shape: [2, 1], float32: [1.5, -0.25])))
        #expect(document.metadata[ONNXImporter.notesKey]
                == "the float16 model is read as float32 (weights widened exactly; the core computes in float32 or float64); 1 float16 tensor widened to float32")
    }

    @Test func theRecordedArchitectureGivesNamesAndIsChecked() throws {
        var model = twoToThree()
        ONNXTestGraphs.node(&model, "Relu")
        ONNXTestGraphs.finish(&model, outputWidth: 3)
        let architecture = #"{"input_width": 2, "layers": [{"type": "dense", "name": "hidden", "units": 3, "activation": "linear"}, {"type": "activation", "name": "act", "activation": "relu"}, {"type": "dropout", "name": "drop", "rate": 0.25}]}"#
        var entry = Onnx_StringStringEntryProto()
        entry.key = ONNXImporter.architectureKey
        entry.value = architecture
        model.metadataProps = [entry]
        let document = try load(model)
        #expect(document.architecture.layers.map(\.name) == ["hidden", "act", "drop"])
        #expect(document.weights[0]["kernel"]?.float32Values == [1, 3, 5, 2, 4, 6])

        model.metadataProps[0].value = architecture.replacingOccurrences(of: "\"relu\"", with: "\"tanh\"")
        #expect(try refusal(model) == "metadata_props mlpconv_architecture: the graph does not compute the recorded architecture: "
            + "the graph has input width 2 and dense(3), relu; the record 2 and dense(3), tanh")
    }
}
