import Foundation
import FormatSupport
import MLPCore
import MLPDocument
import MLPModelFiles
import ONNXFormat
import ONNXSupport
import TestSupport
import Testing

/// The exported graph per layer kind, the model's header fields, metadata and external data (docs/onnx.md, "Export").
@Suite struct ONNXExportGraphTests {
    // MARK: Layers

    @Test func denseWithoutBiasIsMatMulAlone() throws {
        let document = try exportDocument([LayerSpec(3, .relu, name: "hidden", useBias: false), LayerSpec(2, .linear, name: "out")],
                                          inputWidth: 4, seed: 1)
        let model = try exportedModel(document).model
        #expect(opTypes(model) == ["MatMul", "Relu", "Gemm"])
        #expect(model.graph.node.map(\.name) == ["hidden/MatMul", "hidden/Relu", "out/Gemm"])
        #expect(model.graph.node.map(\.output) == [["hidden/MatMul"], ["hidden/Relu"], ["output"]])
        #expect(initializerNames(model) == ["hidden.kernel", "out.kernel", "out.bias"])
        // The kernel as stored, [inputs, units], little-endian raw bytes.
        let kernel = try #require(document.weights[0]["kernel"])
        let stored = try #require(model.graph.initializer.first)
        #expect(stored.dims == [4, 3])
        #expect(stored.rawData == kernel.withUnsafeBytes { Data($0) })
        #expect(stored.floatData.isEmpty)
        try writeInterop("layers_dense_without_bias", document, seed: 2)
    }

    @Test func signatureIsBatchByInputsAndBatchByUnits() throws {
        let model = try exportedModel(try exportDocument([LayerSpec(5, .tanh), LayerSpec(3, .softmax)], inputWidth: 4, seed: 3)).model
        func dims(_ info: Onnx_ValueInfoProto) -> [String] {
            info.type.tensorType.shape.dim.map { dimension in
                switch dimension.value {
                case .dimParam(let name): name
                case .dimValue(let size): String(size)
                case nil: "?"
                }
            }
        }
        #expect(model.graph.input.map(\.name) == ["input"])
        #expect(model.graph.output.map(\.name) == ["output"])
        #expect(dims(model.graph.input[0]) == ["batch", "4"])
        #expect(dims(model.graph.output[0]) == ["batch", "3"])
    }

    @Test(arguments: [Tensor.DType.float32, .float64])
    func batchNormalizationIsFoldedIntoMulAndAdd(_ dtype: Tensor.DType) throws {
        for (center, scale) in [(true, true), (false, true), (true, false), (false, false)] {
            let document = try exportDocument([
                LayerSpec(4, .linear, name: "dense"),
                LayerSpec(.batchNormalization(BatchNormalizationSettings(epsilon: 0.01, center: center, scale: scale)), name: "bn"),
                LayerSpec(.activation(.relu), name: "act"), LayerSpec(2, .sigmoid, name: "out"),
            ], inputWidth: 3, seed: 4, dtype: dtype)
            let model = try exportedModel(document).model
            #expect(opTypes(model) == ["Gemm", "Mul", "Add", "Relu", "Gemm", "Sigmoid"])
            // The layer's own tensors follow the fold, unused by the graph, so that the importer can read the layer back.
            let statistics = ["bn.moving_mean", "bn.moving_variance"] + (scale ? ["bn.gamma"] : []) + (center ? ["bn.beta"] : [])
            #expect(initializerNames(model) == ["dense.kernel", "dense.bias", "bn.scale", "bn.offset"] + statistics + ["out.kernel", "out.bias"])
            #expect(!model.graph.node.flatMap(\.input).contains { statistics.contains($0) })
            for name in statistics {
                let initializer = try #require(model.graph.initializer.first { $0.name == name })
                let tensor = try #require(document.weights[1][String(name.dropFirst("bn.".count))])
                #expect(initializer.dataType == (dtype == .float32 ? 1 : 11), "\(name)")
                #expect(initializer.dims == [4], "\(name)")
                #expect(initializer.rawData == tensor.withUnsafeBytes { Data($0) }, "\(name)")
            }
            try writeInterop("layers_batch_normalization_\(center ? "center" : "nocenter")_\(scale ? "scale" : "noscale")_\(dtype)",
                             document, seed: 5)
            if center && scale {
                // The unused statistics in the external data file too.
                try writeInterop("layers_batch_normalization_external_\(dtype)", document,
                                 options: SaveOptions(onnxExternalData: true), seed: 5)
            }
        }
    }

    @Test func layerNormalizationIsTheOpFromOpset17AndComposedOtherwise() throws {
        let specs = [LayerSpec(4, .linear, name: "dense"), LayerSpec(.layerNormalization(LayerNormalizationSettings(epsilon: 0.01)), name: "ln"),
                     LayerSpec(2, .tanh, name: "out")]
        let float32 = try exportDocument(specs, inputWidth: 3, seed: 6)
        let composedBefore18 = ["Gemm", "ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add", "Gemm", "Tanh"]
        for opset in ONNXExporter.supportedOpsets {
            let model = try exportedModel(float32, options: SaveOptions(onnxOpset: opset)).model
            if opset >= 17 {
                #expect(opTypes(model) == ["Gemm", "LayerNormalization", "Gemm", "Tanh"])
                let node = model.graph.node[1]
                #expect(node.input == ["dense/Gemm", "ln.gamma", "ln.beta"])
                #expect(attribute(node, "axis")?.i == -1)
                #expect(attribute(node, "epsilon")?.f == 0.01)
            } else {
                #expect(opTypes(model) == composedBefore18, "opset \(opset)")
                #expect(attribute(model.graph.node[1], "axes")?.ints == [-1])
            }
            try writeInterop("layers_layer_normalization_float32_opset\(opset)", float32, options: SaveOptions(onnxOpset: opset), seed: 7)
        }
        // Float64 is composed at every opset (the op's epsilon attribute is float32); from opset 18 ReduceMean's
        // axes are an input.
        let float64 = float32.converted(to: .float64)
        let model18 = try exportedModel(float64, options: SaveOptions(onnxOpset: 18)).model
        #expect(opTypes(model18) == composedBefore18)
        #expect(model18.graph.node[1].input == ["dense/Gemm", "constant/last_axis"])
        #expect(attribute(model18.graph.node[1], "axes") == nil)
        for opset in [13, 17, 18] {
            try writeInterop("layers_layer_normalization_float64_opset\(opset)", float64, options: SaveOptions(onnxOpset: opset), seed: 7)
        }
        // Without a scale the op still needs one: ones, named after the layer.
        let unscaled = try exportDocument([LayerSpec(.layerNormalization(LayerNormalizationSettings(center: false, scale: false)), name: "ln"),
                                           LayerSpec(2, .linear, name: "out")], inputWidth: 3, seed: 8)
        let model = try exportedModel(unscaled).model
        #expect(model.graph.node[0].input == ["input", "ln.unit_scale"])
        try writeInterop("layers_layer_normalization_unscaled", unscaled, seed: 9)
    }

    @Test func dropoutFlattenAndActivationLayers() throws {
        let document = try exportDocument([
            LayerSpec(.flatten, name: "flatten"), LayerSpec(5, .relu, name: "dense"), LayerSpec(.dropout(DropoutSettings(rate: 0.5)), name: "drop"),
            LayerSpec(.activation(.softsign), name: "act"), LayerSpec(3, .logSoftmax, name: "out"),
        ], inputWidth: 4, seed: 10)
        let model = try exportedModel(document).model
        #expect(opTypes(model) == ["Gemm", "Relu", "Softsign", "Gemm", "LogSoftmax"])
        try writeInterop("layers_dropout_flatten_activation", document, seed: 11)

        // Nothing computed at all: an Identity produces the output.
        let identity = try exportDocument([LayerSpec(.dropout(DropoutSettings(rate: 0.1)), name: "drop")], inputWidth: 3, seed: 12)
        let identityModel = try exportedModel(identity).model
        #expect(opTypes(identityModel) == ["Identity"])
        #expect(identityModel.graph.node[0].input == ["input"])
        try writeInterop("layers_identity_only", identity, seed: 13)
    }

    @Test func multiAxisInputIsFlattenedFirst() throws {
        let document = try exportDocument([LayerSpec(.flatten, name: "flat"), LayerSpec(2, .sigmoid, name: "out")],
                                          inputWidth: 6, inputShape: [2, 3], seed: 14)
        let model = try exportedModel(document).model
        #expect(opTypes(model) == ["Flatten", "Gemm", "Sigmoid"])
        #expect(model.graph.node[0].name == "flat/Flatten")
        #expect(attribute(model.graph.node[0], "axis")?.i == 1)
        #expect(model.graph.input[0].type.tensorType.shape.dim.map(\.dimValue) == [0, 2, 3])
        #expect(model.graph.input[0].type.tensorType.shape.dim.first?.dimParam == "batch")
    }

    // MARK: Model fields

    @Test func opsetsAndIRVersions() throws {
        let document = try exportDocument([LayerSpec(2, .relu)], inputWidth: 2, seed: 15)
        let expectedIR: [Int: Int64] = [13: 8, 14: 8, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10]
        for opset in 13...21 {
            let model = try exportedModel(document, options: SaveOptions(onnxOpset: opset)).model
            #expect(model.irVersion == expectedIR[opset], "opset \(opset)")
            #expect(model.opsetImport.map(\.domain) == [""])
            #expect(model.opsetImport.map(\.version) == [Int64(opset)])
        }
        #expect(try exportedModel(document).model.opsetImport.map(\.version) == [17])
        #expect(try exportedModel(document).model.irVersion == 8)
        for opset in [12, 22, 0, -1] {
            let error = expectError(ModelFileError.self) { _ = try ONNXExporter.encode(document, file: "m.onnx", options: SaveOptions(onnxOpset: opset)) }
            #expect(error?.description == "m.onnx: ONNX opset \(opset) is not supported: mlpconv exports opsets 13 to 21 (default 17)")
        }
    }

    @Test func producerNameAndMetadata() throws {
        var document = try exportDocument([LayerSpec(3, .relu, name: "hidden"), LayerSpec(2, .softmax, name: "out")], inputWidth: 4, seed: 16)
        document.metadata["keras_model_name"] = "classifier"
        document.metadata["converted_from"] = "model.h5 (hdf5)"
        let model = try exportedModel(document).model
        #expect(model.producerName == "mlpconv")
        #expect(model.producerVersion == ONNXExporter.producerVersion)
        #expect(model.graph.name == "classifier")
        #expect(model.docString == "export test")
        let properties = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        #expect(model.metadataProps.map(\.key) == ["converted_from", "description", "keras_model_name", "mlpconv_architecture"])
        #expect(properties["converted_from"] == "model.h5 (hdf5)")
        let architecture = try DocumentJSON.readArchitecture(text: try #require(properties["mlpconv_architecture"]), file: "m.onnx",
                                                             object: "mlpconv_architecture")
        #expect(architecture == document.architecture)
        document.metadata = [:]
        #expect(try exportedModel(document).model.graph.name == "mlpconv_model")
    }

    // MARK: External data and the 2 GB limit

    @Test func externalDataLayout() throws {
        let document = try exportDocument([LayerSpec(300, .relu, name: "wide"), LayerSpec(.activation(.relu6), name: "act"),
                                           LayerSpec(2, .linear, name: "out", useBias: false)], inputWidth: 5, seed: 17)
        let (model, externalData) = try exportedModel(document, options: SaveOptions(onnxExternalData: true),
                                                      file: "/some/folder/net.onnx")
        let data = try #require(externalData)
        let names = initializerNames(model)
        #expect(names == ["wide.kernel", "wide.bias", "constant/zero", "constant/six", "out.kernel"])
        var end = 0
        for tensor in model.graph.initializer {
            let entries = Dictionary(uniqueKeysWithValues: tensor.externalData.map { ($0.key, $0.value) })
            #expect(tensor.externalData.map(\.key) == ["location", "offset", "length"])
            #expect(tensor.dataLocation == .external)
            #expect(!tensor.hasRawData)
            #expect(entries["location"] == "net.onnx.data")
            let offset = try #require(Int(entries["offset"] ?? "")), length = try #require(Int(entries["length"] ?? ""))
            #expect(offset % 4096 == 0 && offset >= end, "\(tensor.name) at \(offset)")
            end = offset + length
            let expected: Data? = switch tensor.name {
            case "wide.kernel": document.weights[0]["kernel"]?.withUnsafeBytes { Data($0) }
            case "wide.bias": document.weights[0]["bias"]?.withUnsafeBytes { Data($0) }
            case "out.kernel": document.weights[2]["kernel"]?.withUnsafeBytes { Data($0) }
            case "constant/zero": withUnsafeBytes(of: Float(0)) { Data($0) }
            default: withUnsafeBytes(of: Float(6)) { Data($0) }
            }
            #expect(data.subdata(in: offset..<(offset + length)) == expected, "\(tensor.name)")
        }
        #expect(data.count == end)
        try writeInterop("external_data", document, options: SaveOptions(onnxExternalData: true), seed: 18)
    }

    @Test func externalDataThroughTheFacadeGoesBesideTheModel() throws {
        let folder = try TemporaryFolder()
        let document = try exportDocument([LayerSpec(3, .relu)], inputWidth: 2, seed: 19)
        let path = folder.path("model.onnx")
        try ModelFiles.save(document, to: path, format: .onnx, options: SaveOptions(onnxExternalData: true))
        let data = try Data(contentsOf: URL(fileURLWithPath: path + ".data"))
        let model = try ONNXProtobuf.decodeModel(try Data(contentsOf: URL(fileURLWithPath: path)))
        let last = try #require(model.graph.initializer.last?.externalData)
        let offset = Int(last.first { $0.key == "offset" }?.value ?? "") ?? -1, length = Int(last.first { $0.key == "length" }?.value ?? "") ?? -1
        #expect(data.count == offset + length)
    }

    @Test func modelsOverTwoGigabytesNeedExternalData() throws {
        // The check itself, on sizes (a real 2 GB document would need 2 GB of memory here).
        let error = expectError(ModelFileError.self) {
            try ONNXExporter.checkEmbeddedSize(skeletonBytes: 1000, tensorBytes: [1 << 30, 1 << 30], file: "big.onnx")
        }
        #expect(error?.description == "big.onnx: the model's weights do not fit in one ONNX protobuf (2 GB at most); "
            + "use --external-data to write them to big.onnx.data")
        try ONNXExporter.checkEmbeddedSize(skeletonBytes: 1000, tensorBytes: [1 << 30, (1 << 30) - 2000], file: "big.onnx")
        _ = expectError(ModelFileError.self) {
            try ONNXExporter.checkEmbeddedSize(skeletonBytes: 0, tensorBytes: [Int.max - 4, 100], file: "big.onnx")
        }
        // The bound holds for a real model: its serialized size is within what the check assumed.
        let document = try exportDocument([LayerSpec(200, .relu), LayerSpec(100, .relu), LayerSpec(3, .softmax)], inputWidth: 50, seed: 20)
        let embedded = try ONNXExporter.encode(document, file: "m.onnx", options: SaveOptions()).model.count
        let external = try ONNXExporter.encode(document, file: "m.onnx", options: SaveOptions(onnxExternalData: true))
        let weightBytes = document.weights.flatMap(\.tensors.values).map(\.byteCount).reduce(0, +)
        #expect(embedded > weightBytes && embedded < weightBytes + external.model.count + 10 * 16)
    }

    // MARK: Notes

    @Test func notesSayWhatIsComposed() throws {
        let document = try exportDocument([LayerSpec(3, .gelu), LayerSpec(3, .mish), LayerSpec(2, .hardSiLU)], inputWidth: 2, seed: 21)
        #expect(ONNXExporter.notes(for: document, options: SaveOptions()) == [
            "ONNX opset 17: gelu composed as x·(1 + Erf(x/√2))/2; the Gelu op needs opset 20 (--opset 20)",
            "ONNX opset 17: mish composed as x·Tanh(Softplus(x)); the Mish op needs opset 18 (--opset 18)",
        ])
        #expect(ONNXExporter.notes(for: document, options: SaveOptions(onnxOpset: 20)).isEmpty)
        #expect(ONNXExporter.notes(for: document, options: SaveOptions(onnxOpset: 13)).count == 3)
        let float64 = try exportDocument([LayerSpec(3, .leakyReLU), LayerSpec(2, .gelu)], inputWidth: 2, seed: 22, dtype: .float64)
        #expect(ONNXExporter.notes(for: float64, options: SaveOptions(onnxOpset: 21)) == [
            "gelu in float64 uses Erf on DOUBLE, which onnxruntime's CPU provider does not implement; convert with --dtype float32 to run it there",
            "float64: leaky_relu composed from elementary ops with float64 constants (the ops' float attributes are float32, "
                + "and onnxruntime has no DOUBLE kernel for some)",
        ])
    }

    @Test func theFacadeDropsTrainingStateWithANote() throws {
        var model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .gelu), LayerSpec(2, .softmax)], loss: .categoricalCrossentropy,
                                     optimizer: OptimizerConfig(.adam, learningRate: 0.01), seed: 1)
        try model.fit(try Dataset(features: [0, 1, 1, 0], featureWidth: 2, targets: [1, 0, 0, 1], targetWidth: 2), options: FitOptions(epochs: 1))
        let document = ModelDocument(model: model)
        let folder = try TemporaryFolder()
        let notes = try ModelFiles.save(document, to: folder.path("m.onnx"), format: .onnx)
        #expect(notes.count == 2)
        #expect(notes.first?.hasPrefix("training state left out: ONNX holds a model for inference") == true)
        #expect(notes.last?.hasPrefix("ONNX opset 17: gelu composed") == true)
        #expect(ModelFiles.prepared(document, for: .onnx).document.training == nil)
    }
}
