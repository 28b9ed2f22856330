import FileSupport
import Foundation
import FormatSupport
import MLPCore
import MLPDocument
import ONNXSupport

/// Reads an ONNX model (`ModelProto`) whose graph is an MLP, as torch.onnx.export (TorchScript and dynamo), tf2onnx
/// and mlpconv write them (docs/onnx.md, "Import"). Refused, each with its message naming the file and the object:
/// - bytes that are not a ModelProto: truncated, a length past the end, a wrong wire type (named by field), no graph;
///   nesting deeper than `ONNXProtobuf.maxMessageDepth`; a file over `LoadLimits.maxFileBytes`;
/// - no opset for the default domain, or an opset this reader does not know (over 23);
/// - a tensor with a negative dimension, an element count or byte size that overflows, data whose size is not its
///   dims × its element size (checked before anything is allocated from the dims), an element type other than
///   float32/float64 (float16/bfloat16 widened to float32, said in `onnx_import_notes`), a tensor over
///   `maxTensorBytes` or all of them over `maxTotalBytes`;
/// - external data that is absolute, contains `..`, resolves (symlinks followed) outside the model's folder, is not
///   a regular file, or whose offset or offset + length lies past its end, or whose length disagrees with the dims;
/// - a graph other than one chain from one input to one output (a second input or output, a branch, a weight
///   computed in the graph), an operator outside the default domain or one without a layer in the core (Conv, …),
///   an activation with parameters the core's does not have (LeakyRelu's alpha other than 0.2, HardSigmoid other
///   than 1/6 and 0.5, Gelu's tanh form, …), an element-wise composition that is no core activation;
/// - a graph that does not compute the architecture recorded in `metadata_props` by mlpconv's exporter.
package enum ONNXImporter {
    /// The `metadata_props` key under which mlpconv's exporter records the architecture (the native JSON schema's
    /// `architecture` object).
    package static let architectureKey = ONNXExporter.architectureKey
    /// Metadata the reader adds: what was changed on the way in (widened dtypes, a Gemm scale folded with rounding).
    package static let notesKey = "onnx_import_notes"
    /// Newest default-domain opset whose operators this reader knows.
    package static let newestOpset = 23

    package static func matches(head: [UInt8]) -> Bool { ONNXProtoScan.looksLikeModel(head: head) }

    /// Maps the file rather than reading it, so that each initializer's pages can be given back once converted.
    package static func read(path: String, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        let file: (data: Data, isMapped: Bool)
        do { file = try MappedFile.data(path: path, limit: limits.maxFileBytes) } catch {
            throw ModelFileError(file: path, reason: error.reason)
        }
        return try decode(file.data, file: path, limits: limits, releasingPages: file.isMapped)
    }

    /// `file` names the model in messages and locates external data (beside it). `releasingPages`: `bytes` map the
    /// file (`MappedFile`), and the initializers' pages are given back once converted.
    package static func decode(_ bytes: Data, file: String, limits: LoadLimits, releasingPages: Bool = false)
        throws(ModelFileError) -> ModelDocument {
        guard !bytes.isEmpty else { throw ModelFileError(file: file, reason: "the file is empty (not an ONNX model)") }
        var mismatch: String?
        let outcome = bytes.withUnsafeBytes { ONNXProtoScan.scan($0, strict: false, mismatch: &mismatch) }
        switch outcome {
        case .malformed(let reason), .runsPastEnd(_, let reason):
            throw ModelFileError(file: file, reason: "not a valid ONNX model: \(reason)")
        case .wellFormed(let sawGraph):
            guard sawGraph else {
                throw ModelFileError(file: file, reason: "not an ONNX model: no graph (ModelProto field 7)"
                    + (mismatch.map { ", and \($0)" } ?? ""))
            }
            if let mismatch { throw ModelFileError(file: file, reason: "not a valid ONNX model: \(mismatch)") }
        }
        // The initializers' data stays in `bytes` when the model splits (see ONNXInitializerData); should the
        // stripped model not decode, the whole one is decoded instead, for its usual error.
        let model: Onnx_ModelProto
        var source: ONNXInitializerSource?
        if let split = bytes.withUnsafeBytes({ ONNXInitializerData.split($0) }),
           let stripped = try? ONNXProtobuf.decodeModel(split.stripped) {
            model = stripped
            source = ONNXInitializerSource(bytes: bytes, ranges: split.ranges, releasesPages: releasingPages)
        } else {
            do { model = try ONNXProtobuf.decodeModel(bytes) } catch {
                throw ModelFileError(file: file, reason: "not a valid ONNX model: \(error.description)")
            }
        }
        guard model.hasIrVersion, model.irVersion >= 1 else {
            throw ModelFileError(file: file, object: "ir_version", reason: "missing or not positive (\(model.irVersion))")
        }
        let defaultDomain = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard defaultDomain.count == 1, let opset = Int(exactly: defaultDomain[0].version), opset >= 1 else {
            throw ModelFileError(file: file, object: "opset_import", reason: defaultDomain.isEmpty
                ? "no opset for the default ONNX domain" : "the default domain's opset is given \(defaultDomain.count) times or is not positive")
        }
        guard opset <= newestOpset else {
            throw ModelFileError(file: file, object: "opset_import", reason: "opset \(opset) is newer than the newest this reader knows (\(newestOpset))")
        }
        var properties: [String: String] = [:]
        for entry in model.metadataProps { properties[entry.key] = entry.value }
        var recorded: ModelDocument.Architecture?
        if let text = properties.removeValue(forKey: architectureKey) {
            recorded = try DocumentJSON.readArchitecture(text: text, file: file, object: "metadata_props \(architectureKey)")
        }
        var tensors = ONNXTensorReader(file: file, limits: limits)
        tensors.initializerSource = source
        var reader = ONNXGraphReader(file: file, opset: opset, tensors: tensors)
        // The record says which folded Mul/Add pairs are batch_normalization layers whose statistics the file keeps.
        reader.recordedBatchNormalizations = recorded?.layers.compactMap { layer in
            if case .batchNormalization(let settings) = layer.kind { (layer.name, settings) } else { nil }
        } ?? []
        try reader.read(model.graph)

        let read = ModelDocument.Architecture(inputWidth: reader.inputWidth, inputShape: reader.inputShape, layers: reader.layers)
        var document = ModelDocument(architecture: read, weights: reader.weights)
        if let recorded {
            // mlpconv's own file: its metadata_props are the document's metadata, kept as they are.
            document = try apply(recorded, to: document, file: file)
            document.metadata = properties
        } else {
            document.metadata = properties
            document.metadata["source_format"] = "onnx"
            let producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
            if !producer.isEmpty { document.metadata["onnx_producer"] = producer }
            document.metadata["onnx_opset"] = String(opset)
        }
        if !reader.notes.isEmpty { document.metadata[notesKey] = reader.notes.joined(separator: "; ") }
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        return document
    }

    // MARK: mlpconv's record

    /// What a chain of layers computes, without names, Dropout, Flatten or linear activations: two architectures with
    /// the same steps are the same function of their weights.
    private enum Step: Equatable, CustomStringConvertible {
        case dense(units: Int, bias: Bool)
        case activation(Activation)
        case batchNormalization(epsilon: Float, center: Bool, scale: Bool)
        case layerNormalization(epsilon: Float, center: Bool, scale: Bool)

        var description: String {
            switch self {
            case .dense(let units, let bias): "dense(\(units)\(bias ? "" : ", no bias"))"
            case .activation(let activation): activation.rawValue
            case .batchNormalization: "batch_normalization"
            case .layerNormalization: "layer_normalization"
            }
        }

        static func steps(_ layers: [ModelDocument.Layer]) -> [Step] {
            layers.flatMap { layer -> [Step] in
                switch layer.kind {
                case .dense(let dense):
                    [.dense(units: dense.units, bias: dense.useBias)] + (dense.activation == .linear ? [] : [.activation(dense.activation)])
                case .activation(let activation): activation == .linear ? [] : [.activation(activation)]
                case .batchNormalization(let bn): [.batchNormalization(epsilon: Float(bn.epsilon), center: bn.center, scale: bn.scale)]
                case .layerNormalization(let ln): [.layerNormalization(epsilon: Float(ln.epsilon), center: ln.center, scale: ln.scale)]
                case .dropout, .flatten: []
                }
            }
        }
    }

    /// The recorded architecture with the graph's weights, when the graph computes it (the record keeps what ONNX
    /// has no place for: names, Dropout, initializers, regularizers, training settings).
    private static func apply(_ recorded: ModelDocument.Architecture, to read: ModelDocument, file: String) throws(ModelFileError) -> ModelDocument {
        let object = "metadata_props \(architectureKey)"
        var graphSteps = Step.steps(read.architecture.layers)
        let recordSteps = Step.steps(recorded.layers)
        // A BatchNormalization without scale or offset is exported with ones and zeros: the graph cannot tell.
        for index in graphSteps.indices where index < recordSteps.count {
            if case .batchNormalization(let e, _, _) = graphSteps[index], case .batchNormalization(let r, let c, let s) = recordSteps[index], e == r {
                graphSteps[index] = .batchNormalization(epsilon: e, center: c, scale: s)
            }
            if case .layerNormalization(let e, _, _) = graphSteps[index], case .layerNormalization(let r, let c, let s) = recordSteps[index], e == r {
                graphSteps[index] = .layerNormalization(epsilon: e, center: c, scale: s)
            }
        }
        guard recorded.inputWidth == read.architecture.inputWidth, graphSteps == recordSteps else {
            throw ModelFileError(file: file, object: object, reason: "the graph does not compute the recorded architecture: "
                + "the graph has input width \(read.architecture.inputWidth) and \(graphSteps.map(\.description).joined(separator: ", ")); "
                + "the record \(recorded.inputWidth) and \(recordSteps.map(\.description).joined(separator: ", "))")
        }
        let weighted = read.architecture.layers.indices.filter { !read.weights[$0].tensors.isEmpty }
        var next = weighted.makeIterator()
        var weights: [ModelDocument.LayerWeights] = []
        for (index, layer) in recorded.layers.enumerated() {
            let variables = recorded.variables(ofLayer: index)
            guard !variables.isEmpty else { weights.append(.init()); continue }
            guard let source = next.next() else {
                throw ModelFileError(file: file, object: object, reason: "layer \(layer.name) has no weights in the graph")
            }
            var tensors: [String: Tensor] = [:]
            for variable in variables { tensors[variable.name] = read.weights[source][variable.name] }
            weights.append(.init(tensors: tensors))
        }
        return ModelDocument(architecture: recorded, weights: weights, metadata: read.metadata)
    }
}
