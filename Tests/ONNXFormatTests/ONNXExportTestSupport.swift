import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import ONNXFormat
import ONNXSupport
import Testing

/// A document with `specs`' layers and weights drawn from `seed`; normalization layers get non-trivial statistics
/// and scales (freshly drawn ones are 0 and 1), so that their export is actually exercised.
func exportDocument(_ specs: [LayerSpec], inputWidth: Int, inputShape: [Int]? = nil, seed: UInt64,
                    dtype: Tensor.DType = .float32) throws -> ModelDocument {
    var random = RandomGenerator(seed: seed)
    let network = try Network<Double>(inputWidth: inputWidth, layers: specs, random: &random)
    var document = ModelDocument(network: network, inputShape: inputShape, metadata: ["description": "export test"])
    for index in document.architecture.layers.indices {
        for variable in document.architecture.variables(ofLayer: index) where variable.name != "kernel" && variable.name != "bias" {
            let values = (0..<variable.count).map { _ in
                let draw = random.nextStandardNormal()
                return variable.name == "moving_variance" ? 0.5 + abs(draw) : draw * 0.5 + (variable.name == "gamma" ? 1 : 0)
            }
            document.weights[index][variable.name] = try Tensor(shape: variable.shape, float64: values)
        }
    }
    return document.converted(to: dtype)
}

/// `rows` rows spread over [−scale, scale]: with a Dense layer's Glorot weights the default reaches relu6's kink at 6
/// and hard_sigmoid's at ±3, while float32 outputs stay small enough for the contract's absolute 1e-6.
func exportInputs(rows: Int, width: Int, seed: UInt64, scale: Double = 4) -> [[Double]] {
    var random = RandomGenerator(seed: seed)
    return (0..<rows).map { _ in (0..<width).map { _ in (random.nextUnitDouble() * 2 - 1) * scale } }
}

/// The exported model, decoded again by swift-protobuf.
func exportedModel(_ document: ModelDocument, options: SaveOptions = SaveOptions(), file: String = "model.onnx") throws
    -> (model: Onnx_ModelProto, externalData: Data?) {
    let export = try ONNXExporter.encode(document, file: file, options: options)
    return (try ONNXProtobuf.decodeModel(export.model), export.externalData)
}

func opTypes(_ model: Onnx_ModelProto) -> [String] { model.graph.node.map(\.opType) }

func initializerNames(_ model: Onnx_ModelProto) -> [String] { model.graph.initializer.map(\.name) }

func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
    node.attribute.first { $0.name == name }
}

/// mlpconv's predictions for `inputs`, in the document's dtype.
func corePredictions(_ document: ModelDocument, _ inputs: [[Double]]) throws -> [[Double]] {
    let width = document.architecture.outputWidth
    let flat: [Double]
    if ONNXExporter.dtype(of: document) == .float64 {
        flat = try document.network(as: Double.self).predict(inputs.flatMap { $0 })
    } else {
        flat = try document.network(as: Float.self).predict(inputs.flatMap { $0 }.map(Float.init)).map(Double.init)
    }
    return (0..<inputs.count).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
}

/// Saves `document` through the façade into `$MLPCONV_INTEROP_DIR/onnx/NAME.onnx` with its expectations
/// (the expectations described at the top of scripts/onnx_interop_check.py, which runs onnxruntime on it). Does nothing when the variable is
/// not set; the structure tests then still check the same exports.
func writeInterop(_ name: String, _ document: ModelDocument, options: SaveOptions = SaveOptions(), rows: Int = 5,
                  seed: UInt64, scale: Double = 4) throws {
    guard let root = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !root.isEmpty else { return }
    let folder = URL(fileURLWithPath: root).appendingPathComponent("onnx")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent(name + ".onnx").path
    try ModelFiles.save(document, to: path, format: .onnx, options: options)
    let inputs = exportInputs(rows: rows, width: document.architecture.inputWidth, seed: seed, scale: scale)
    let float64 = ONNXExporter.dtype(of: document) == .float64
    let opset = options.onnxOpset ?? ONNXExporter.defaultOpset
    // Inputs go through the dtype first, so that the file's inputs are exactly what mlpconv predicted on.
    let typedInputs = float64 ? inputs : inputs.map { $0.map { Double(Float($0)) } }
    let expectation: [String: Any] = [
        "file": name + ".onnx", "dtype": float64 ? "float64" : "float32",
        "ir_version": ONNXExporter.irVersion(forOpset: opset), "opset": opset,
        "input_name": ONNXExporter.inputName, "output_name": ONNXExporter.outputName,
        "inputs": typedInputs, "predictions": try corePredictions(document, typedInputs),
        "tolerance": float64 ? 1e-12 : 1e-6,
    ]
    let data = try JSONSerialization.data(withJSONObject: expectation, options: [.sortedKeys])
    try data.write(to: folder.appendingPathComponent(name + ".expect.json"))
}
