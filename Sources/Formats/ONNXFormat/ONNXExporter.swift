import FileSupport
import Foundation
import FormatSupport
import MLPCore
import MLPDocument
import ONNXSupport

/// Writes a model document as an ONNX `ModelProto` for inference (docs/onnx.md, "Export").
///
/// - Graph input `input`, `[batch, inputs]` (or `[batch, d1, d2, …]` when the document records a multi-axis input
///   shape, flattened first), `batch` symbolic; graph output `output`, `[batch, units]`. FLOAT for float32 models,
///   DOUBLE when any tensor is float64 (every weight then converted exactly).
/// - Dense: `Gemm` (kernel as stored, `[inputs, units]`, `transB = 0`) or, without a bias, `MatMul`; then the
///   activation with Keras's definition, by the op that has it at the chosen opset or composed.
/// - Weights are initializers with little-endian `raw_data`, or all in `NAME.onnx.data` with external data.
///
/// Refused: an opset outside `supportedOpsets` ("ONNX opset N is not supported…"); a model that needs more than
/// protobuf's 2 GB without external data ("… use --external-data").
package enum ONNXExporter {
    package struct Export {
        package var model: Data
        /// The weights, when exported as external data (`externalDataPath(of:)`).
        package var externalData: Data?
    }

    package static let supportedOpsets = 13...21
    /// Loads in onnxruntime 1.13 and later.
    package static let defaultOpset = 17
    package static let inputName = "input"
    package static let outputName = "output"
    package static let producerName = "mlpconv"
    /// Kept equal to the CLI's version (Sources/mlpconv/Version.swift; a CLI test compares them).
    package static let producerVersion = "0.1.0"
    /// The `metadata_props` key holding the architecture as the native JSON text (schemas/mlpconv-model.schema.json).
    package static let architectureKey = "mlpconv_architecture"
    /// External data offsets are multiples of this (onnx.proto: "SHOULD be multiples of 4096", for mmap).
    package static let externalDataAlignment = 4096
    /// The most a serialized protobuf message may hold.
    package static let protobufLimit = Int(Int32.max)

    /// `model.onnx` → `model.onnx.data`.
    package static func externalDataPath(of path: String) -> String { path + ".data" }

    /// The IR version each opset needs: 8 up to opset 18 (onnxruntime ≥ 1.13 loads it), 9 for 19–20, 10 for 21.
    package static func irVersion(forOpset opset: Int) -> Int64 {
        switch opset {
        case ...18: 8
        case 19...20: 9
        default: 10
        }
    }

    /// The dtype the graph computes in: float64 when any tensor is float64, as the core then runs in Double.
    package static func dtype(of document: ModelDocument) -> Tensor.DType {
        document.weights.contains { $0.tensors.values.contains { $0.dtype == .float64 } } ? .float64 : .float32
    }

    /// The model (and external data) in memory.
    package static func encode(_ document: ModelDocument, file: String, options: SaveOptions) throws(ModelFileError) -> Export {
        var model = Data()
        let externalData = try write(document, file: file, options: options) { bytes throws(ModelFileError) in
            model.append(contentsOf: bytes)
        }
        return Export(model: model, externalData: externalData)
    }

    /// Writes the model to `path` (which must exist: `AtomicFile.replace`'s temporary file) through one buffer,
    /// the initializers' raw data straight from the document's tensors; returns the external data, when
    /// `options.onnxExternalData` asks for it, for the caller to write beside the model.
    package static func write(
        _ document: ModelDocument, toPath path: String, file: String, options: SaveOptions
    ) throws(ModelFileError) -> Data? {
        let out: StreamingFile
        do { out = try StreamingFile(path: path) } catch { throw ModelFileError(file: file, reason: error.reason) }
        let externalData = try write(document, file: file, options: options) { bytes throws(ModelFileError) in
            do throws(FileFailure) { try out.write(bytes) } catch { throw ModelFileError(file: file, reason: error.reason) }
        }
        do { try out.finish() } catch { throw ModelFileError(file: file, reason: error.reason) }
        return externalData
    }

    private static func write(
        _ document: ModelDocument, file: String, options: SaveOptions,
        to sink: (UnsafeRawBufferPointer) throws(ModelFileError) -> Void
    ) throws(ModelFileError) -> Data? {
        let opset = options.onnxOpset ?? defaultOpset
        guard supportedOpsets.contains(opset) else {
            throw ModelFileError(file: file, reason: "ONNX opset \(opset) is not supported: mlpconv exports opsets "
                + "\(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound) (default \(defaultOpset))")
        }
        let architecture = document.architecture
        var builder = ONNXGraphBuilder(dtype: dtype(of: document), opset: opset, file: file)
        var current = inputName
        let inputDims: [Int]
        if let shape = architecture.inputShape, shape.count > 1 {
            inputDims = shape
            let flattenName = architecture.layers.first { $0.kind == .flatten }?.name ?? "flatten"
            current = builder.flatten(current, layer: flattenName)
        } else {
            inputDims = [architecture.inputWidth]
        }
        for (index, layer) in architecture.layers.enumerated() {
            let weights = index < document.weights.count ? document.weights[index] : ModelDocument.LayerWeights()
            current = try builder.layer(layer, weights: weights, width: architecture.inputWidth(ofLayer: index), x: current)
        }
        builder.finish(last: current, input: inputName)

        var graph = Onnx_GraphProto()
        graph.name = graphName(document)
        graph.node = builder.nodes
        graph.input = [valueInfo(inputName, elementType: builder.elementType, dims: inputDims)]
        graph.output = [valueInfo(outputName, elementType: builder.elementType, dims: [architecture.outputWidth])]
        var model = Onnx_ModelProto()
        model.irVersion = irVersion(forOpset: opset)
        var opsetImport = Onnx_OperatorSetIdProto()
        opsetImport.domain = ""
        opsetImport.version = Int64(opset)
        model.opsetImport = [opsetImport]
        model.producerName = producerName
        model.producerVersion = producerVersion
        if let description = document.metadata["description"] { model.docString = description }
        model.metadataProps = metadataProps(document)

        if options.onnxExternalData {
            let location = URL(fileURLWithPath: externalDataPath(of: file)).lastPathComponent
            var data = Data()
            graph.initializer = try builder.initializers.map { initializer throws(ModelFileError) in
                var tensor = initializer.proto
                let offset = try alignedOffset(data.count, file: file)
                data.append(Data(count: offset - data.count))
                initializer.bytes.withUnsafeBytes { data.append(contentsOf: $0) }
                tensor.dataLocation = .external
                tensor.externalData = [entry("location", location), entry("offset", String(offset)),
                                       entry("length", String(initializer.bytes.count))]
                return tensor
            }
            model.graph = graph
            try serialize(model, file: file).withUnsafeBytes { raw in Result { () throws(ModelFileError) in try sink(raw) } }.get()
            return data
        }
        graph.initializer = builder.initializers.map(\.proto)
        model.graph = graph
        let skeleton = try serialize(model, file: file)
        try checkEmbeddedSize(skeletonBytes: skeleton.count, tensorBytes: builder.initializers.map(\.bytes.count), file: file)
        try writeEmbedded(model, initializers: builder.initializers, skeleton: skeleton, file: file, to: sink)
        return nil
    }

    /// The bytes swift-protobuf would give `model` with each initializer's `raw_data` set, written without building
    /// them: protobuf encodes a message as its fields in field-number order, so the model is its fields before
    /// `graph` (7), the graph, then its later fields; the graph its fields before `initializer` (5), each initializer,
    /// then its later fields; an initializer its fields (dims, data_type, name: all below 9) and then `raw_data` (9),
    /// whose bytes go to `sink` straight from the tensor. The pieces are checked to reassemble into `skeleton` (the
    /// model with empty initializers), so a field set elsewhere cannot silently change the bytes.
    private static func writeEmbedded(
        _ model: Onnx_ModelProto, initializers: [(proto: Onnx_TensorProto, bytes: InitializerBytes)], skeleton: Data,
        file: String, to sink: (UnsafeRawBufferPointer) throws(ModelFileError) -> Void
    ) throws(ModelFileError) {
        var modelHead = model
        modelHead.clearGraph()
        modelHead.opsetImport = []
        modelHead.metadataProps = []
        var modelTail = Onnx_ModelProto()
        modelTail.opsetImport = model.opsetImport
        modelTail.metadataProps = model.metadataProps
        var graphHead = Onnx_GraphProto()
        graphHead.node = model.graph.node
        graphHead.name = model.graph.name
        var graphTail = Onnx_GraphProto()
        graphTail.input = model.graph.input
        graphTail.output = model.graph.output
        let encoded: (modelHead: Data, modelTail: Data, graphHead: Data, graphTail: Data, tensors: [Data])
        do {
            encoded = (try ONNXProtobuf.encode(modelHead), try ONNXProtobuf.encode(modelTail),
                       try ONNXProtobuf.encode(graphHead), try ONNXProtobuf.encode(graphTail),
                       try initializers.map { initializer throws(ONNXDecodingFailure) in try ONNXProtobuf.encode(initializer.proto) })
        } catch {
            throw ModelFileError(file: file, reason: error.description)
        }

        func assembled(rawData: Bool) -> (head: [UInt8], initializerHeads: [[UInt8]]) {
            var initializerHeads: [[UInt8]] = []
            var graphLength = encoded.graphHead.count + encoded.graphTail.count
            for (tensor, initializer) in zip(encoded.tensors, initializers) {
                var head = [UInt8]()
                let rawLength = rawData ? initializer.bytes.count : 0
                let tensorLength = tensor.count + (rawData ? 1 + varintSize(rawLength) + rawLength : 0)
                appendField(5, length: tensorLength, to: &head)
                head += tensor
                if rawData { appendField(9, length: rawLength, to: &head) }
                initializerHeads.append(head)
                graphLength += head.count + rawLength
            }
            var head = [UInt8](encoded.modelHead)
            appendField(7, length: graphLength, to: &head)
            head += encoded.graphHead
            return (head, initializerHeads)
        }
        let empty = assembled(rawData: false)
        guard empty.head + empty.initializerHeads.joined() + encoded.graphTail + encoded.modelTail == [UInt8](skeleton) else {
            throw ModelFileError(file: file, reason: "cannot encode the model: its protobuf fields are not the ones the "
                + "streaming writer places (model 1–6, 7 graph, 8 and 14; graph 1–2, 5 initializer, 11–12)")
        }
        let pieces = assembled(rawData: true)
        func emit(_ bytes: some ContiguousBytes) throws(ModelFileError) {
            try bytes.withUnsafeBytes { raw in Result { () throws(ModelFileError) in try sink(raw) } }.get()
        }
        try emit(pieces.head)
        for (head, initializer) in zip(pieces.initializerHeads, initializers) {
            try emit(head)
            try emit(initializer.bytes)
        }
        try emit(encoded.graphTail)
        try emit(encoded.modelTail)
    }

    /// A length-delimited field's tag and length.
    private static func appendField(_ number: Int, length: Int, to bytes: inout [UInt8]) {
        appendVarint(number << 3 | 2, to: &bytes)
        appendVarint(length, to: &bytes)
    }

    private static func appendVarint(_ value: Int, to bytes: inout [UInt8]) {
        var rest = UInt64(value)
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    private static func varintSize(_ value: Int) -> Int {
        var size = 1, rest = UInt64(value)
        while rest >= 0x80 { size += 1; rest >>= 7 }
        return size
    }

    /// Refuses a model whose protobuf would exceed `protobufLimit` with its weights inside. `skeletonBytes` is the
    /// model serialized without the weights' bytes; each tensor adds its bytes plus at most 10 bytes of field tag and
    /// lengths (its `raw_data` field's and the growth of its message's length), and the graph's length may grow by
    /// up to 5.
    package static func checkEmbeddedSize(skeletonBytes: Int, tensorBytes: [Int], file: String) throws(ModelFileError) {
        var total = skeletonBytes + 5
        for bytes in tensorBytes {
            let (sum, overflow) = total.addingReportingOverflow(bytes)
            guard !overflow, sum <= protobufLimit - 10 else {
                throw ModelFileError(file: file, reason: "the model's weights do not fit in one ONNX protobuf (2 GB at most); "
                    + "use --external-data to write them to \(URL(fileURLWithPath: externalDataPath(of: file)).lastPathComponent)")
            }
            total = sum + 10
        }
    }

    /// The next multiple of `externalDataAlignment` at or after `size`.
    static func alignedOffset(_ size: Int, file: String) throws(ModelFileError) -> Int {
        let remainder = size % externalDataAlignment
        let (offset, overflow) = size.addingReportingOverflow(remainder == 0 ? 0 : externalDataAlignment - remainder)
        guard !overflow else { throw ModelFileError(file: file, reason: "the external data is too large to address") }
        return offset
    }

    /// What the export does differently from a plain op per layer at the chosen opset and dtype, one line each,
    /// for the user (`ModelFiles.prepared`). Empty for an unsupported opset, which `encode` refuses.
    package static func notes(for document: ModelDocument, options: SaveOptions) -> [String] {
        let opset = options.onnxOpset ?? defaultOpset
        guard supportedOpsets.contains(opset) else { return [] }
        let double = dtype(of: document) == .float64
        var activations: [Activation] = []
        var layerNormalization = false
        for layer in document.architecture.layers {
            switch layer.kind {
            case .dense(let dense): activations.append(dense.activation)
            case .activation(let activation): activations.append(activation)
            case .layerNormalization: layerNormalization = true
            default: break
            }
        }
        var notes: [String] = []
        let used = Set(activations)
        func composed(_ name: String, _ form: String, op: String, from: Int) {
            if opset < from {
                notes.append("ONNX opset \(opset): \(name) composed as \(form); the \(op) op needs opset \(from) (--opset \(from))")
            }
        }
        if used.contains(.gelu) {
            composed("gelu", "x·(1 + Erf(x/√2))/2", op: "Gelu", from: 20)
            if double {
                notes.append("gelu in float64 uses Erf on DOUBLE, which onnxruntime's CPU provider does not implement; "
                    + "convert with --dtype float32 to run it there")
            }
        }
        if used.contains(.mish), !double { composed("mish", "x·Tanh(Softplus(x))", op: "Mish", from: 18) }
        if used.contains(.hardSiLU), !double { composed("hard_silu", "x·HardSigmoid(x)", op: "HardSwish", from: 14) }
        if layerNormalization, !double {
            composed("layer_normalization", "ReduceMean/Sub/Sqrt/Div", op: "LayerNormalization", from: 17)
        }
        let composedInFloat64 = [Activation.elu, .selu, .leakyReLU, .softplus, .softsign, .hardSigmoid, .hardSiLU, .mish]
            .filter(used.contains).map(\.rawValue) + (layerNormalization ? ["layer_normalization"] : [])
        if double, !composedInFloat64.isEmpty {
            notes.append("float64: \(composedInFloat64.joined(separator: ", ")) composed from elementary ops with float64 "
                + "constants (the ops' float attributes are float32, and onnxruntime has no DOUBLE kernel for some)")
        }
        return notes
    }

    // MARK: Parts

    private static func graphName(_ document: ModelDocument) -> String {
        for key in ["name", "keras_model_name"] { if let name = document.metadata[key], !name.isEmpty { return name } }
        return "mlpconv_model"
    }

    /// The document's metadata as it is, and the architecture as the native JSON text (which wins over a metadata
    /// entry of the same key), sorted by key so that the bytes are reproducible.
    private static func metadataProps(_ document: ModelDocument) -> [Onnx_StringStringEntryProto] {
        var properties = document.metadata
        properties[architectureKey] = DocumentJSON.architectureText(document.architecture)
        return properties.keys.sorted().map { entry($0, properties[$0] ?? "") }
    }

    private static func entry(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
        var entry = Onnx_StringStringEntryProto()
        entry.key = key
        entry.value = value
        return entry
    }

    private static func valueInfo(_ name: String, elementType: Int32, dims: [Int]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "batch"
        shape.dim = [batch] + dims.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            dimension.dimValue = Int64(size)
            return dimension
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = elementType
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }

    private static func serialize(_ model: Onnx_ModelProto, file: String) throws(ModelFileError) -> Data {
        do {
            return try ONNXProtobuf.encode(model)
        } catch {
            throw ModelFileError(file: file, reason: error.description)
        }
    }
}
