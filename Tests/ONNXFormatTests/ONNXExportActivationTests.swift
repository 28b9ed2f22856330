import Foundation
import MLPCore
import MLPDocument
import ONNXFormat
import ONNXSupport
import Testing

/// One Dense layer per activation: the graph's ops at each opset and dtype (docs/onnx.md, the activation table), and
/// each export written for CI's onnxruntime comparison (scripts/onnx_interop_check.py).
@Suite struct ONNXExportActivationTests {
    /// The ops after the Gemm, by activation, for float32 at the default opset 17.
    static let float32Opset17: [Activation: [String]] = [
        .linear: [], .relu: ["Relu"], .sigmoid: ["Sigmoid"], .tanh: ["Tanh"], .softmax: ["Softmax"], .elu: ["Elu"],
        .selu: ["Selu"], .gelu: ["Div", "Erf", "Add", "Mul", "Div"], .silu: ["Sigmoid", "Mul"],
        .leakyReLU: ["LeakyRelu"], .softplus: ["Softplus"], .softsign: ["Softsign"], .hardSigmoid: ["HardSigmoid"],
        .exponential: ["Exp"], .relu6: ["Clip"], .hardSiLU: ["HardSwish"], .mish: ["Softplus", "Tanh", "Mul"],
        .logSoftmax: ["LogSoftmax"],
    ]

    /// Where another opset or float64 chooses another form.
    static func expectedOps(_ activation: Activation, opset: Int, dtype: Tensor.DType) -> [String] {
        switch (activation, dtype) {
        case (.gelu, _) where opset >= 20: return ["Gelu"]
        case (.mish, .float32) where opset >= 18: return ["Mish"]
        case (.elu, .float64): return ["Exp", "Sub", "Greater", "Where"]
        case (.softplus, .float64): return ["Abs", "Neg", "Exp", "Add", "Log", "Relu", "Add"]
        case (.mish, .float64): return ["Abs", "Neg", "Exp", "Add", "Log", "Relu", "Add", "Tanh", "Mul"]
        case (.softsign, .float64): return ["Abs", "Add", "Div"]
        case (.hardSiLU, .float32) where opset < 14: return ["HardSigmoid", "Mul"]
        case (.selu, .float64): return ["Exp", "Sub", "Mul", "Greater", "Where", "Mul"]
        case (.leakyReLU, .float64): return ["Mul", "Max"]
        case (.hardSigmoid, .float64): return ["Add", "Clip", "Div"]
        case (.hardSiLU, .float64): return ["Add", "Clip", "Div", "Mul"]
        default: return float32Opset17[activation] ?? ["?"]
        }
    }

    static func document(_ activation: Activation, dtype: Tensor.DType) throws -> ModelDocument {
        try exportDocument([LayerSpec(3, activation, name: "dense")], inputWidth: 2,
                           seed: 100 + UInt64(Activation.allCases.firstIndex(of: activation) ?? 0), dtype: dtype)
    }

    /// Exponential's outputs grow fast: smaller inputs keep float32's rounding under the absolute 1e-6.
    static func inputScale(_ activation: Activation) -> Double { activation == .exponential ? 0.25 : 4 }

    @Test(arguments: Activation.allCases)
    func opsAtEveryOpsetAndDtype(_ activation: Activation) throws {
        for dtype in Tensor.DType.allCases {
            let document = try Self.document(activation, dtype: dtype)
            for opset in ONNXExporter.supportedOpsets {
                let model = try exportedModel(document, options: SaveOptions(onnxOpset: opset)).model
                #expect(opTypes(model) == ["Gemm"] + Self.expectedOps(activation, opset: opset, dtype: dtype),
                        "\(activation.rawValue) \(dtype) opset \(opset)")
                #expect(model.graph.node.last?.output == ["output"])
                let elementType = dtype == .float32 ? 1 : 11
                #expect(model.graph.input.first?.type.tensorType.elemType == Int32(elementType))
                #expect(model.graph.output.first?.type.tensorType.elemType == Int32(elementType))
                #expect(model.graph.initializer.allSatisfy { $0.dataType == Int32(elementType) || $0.dataType == 7 })
            }
        }
    }

    @Test(arguments: Activation.allCases)
    func interopFiles(_ activation: Activation) throws {
        let name = activation.rawValue
        let scale = Self.inputScale(activation)
        for opset in [13, 17, 21] {
            try writeInterop("activation_\(name)_float32_opset\(opset)", try Self.document(activation, dtype: .float32),
                             options: SaveOptions(onnxOpset: opset), seed: 7, scale: scale)
        }
        // onnxruntime's CPU provider has no Erf for DOUBLE (docs/onnx.md): a float64 gelu cannot run there.
        if activation != .gelu {
            try writeInterop("activation_\(name)_float64_opset17", try Self.document(activation, dtype: .float64),
                             seed: 7, scale: scale)
        }
    }

    @Test func attributesCarryKerasConstants() throws {
        func node(_ activation: Activation, _ op: String) throws -> Onnx_NodeProto {
            let model = try exportedModel(try Self.document(activation, dtype: .float32)).model
            return try #require(model.graph.node.first { $0.opType == op })
        }
        #expect(attribute(try node(.leakyReLU, "LeakyRelu"), "alpha")?.f == 0.2)
        let hardSigmoid = try node(.hardSigmoid, "HardSigmoid")
        #expect(attribute(hardSigmoid, "alpha")?.f == Float(1.0 / 6.0))
        #expect(attribute(hardSigmoid, "beta")?.f == 0.5)
        let selu = try node(.selu, "Selu")
        #expect(attribute(selu, "alpha")?.f == Float(1.6732632423543772))
        #expect(attribute(selu, "gamma")?.f == Float(1.0507009873554805))
        #expect(attribute(try node(.elu, "Elu"), "alpha")?.f == 1)
        #expect(attribute(try node(.softmax, "Softmax"), "axis")?.i == -1)
        #expect(attribute(try node(.logSoftmax, "LogSoftmax"), "axis")?.i == -1)
        let gemm = try node(.relu, "Gemm")
        #expect(attribute(gemm, "transB")?.i == 0)
        #expect(gemm.input == ["input", "dense.kernel", "dense.bias"])

        let clipModel = try exportedModel(try Self.document(.relu6, dtype: .float64)).model
        let clip = try #require(clipModel.graph.node.first { $0.opType == "Clip" })
        #expect(clip.input.dropFirst() == ["constant/zero", "constant/six"])
        let bounds = clip.input.dropFirst().compactMap { name in clipModel.graph.initializer.first { $0.name == name } }
        #expect(bounds.map { $0.dims.isEmpty } == [true, true])
        #expect(bounds.map { $0.rawData } == [Data(count: 8), withUnsafeBytes(of: Double(6)) { Data($0) }])
    }
}
