import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import ONNXFormat
import ONNXSupport
import Testing
import TestSupport

/// The exporter writes the model around the initializers' raw data without building the message; swift-protobuf,
/// given the message it decodes from those bytes, must write exactly the same bytes.
struct ONNXStreamedExportTests {
    @Test("the streamed model is the bytes swift-protobuf writes for it", arguments: [Tensor.DType.float32, .float64])
    func streamedBytesAreSwiftProtobufs(dtype: Tensor.DType) throws {
        // Layer normalization composed at opset 13 adds int64 and scalar constants next to the weights.
        let document = try exportDocument([
            LayerSpec(300, .gelu, name: "wide"),
            LayerSpec(.layerNormalization(LayerNormalizationSettings(epsilon: 1e-3, center: true, scale: true)), name: "ln"),
            LayerSpec(7, .linear, name: "out", useBias: false),
        ], inputWidth: 200, seed: 11, dtype: dtype)
        for opset in [13, 17] {
            let folder = try TemporaryFolder()
            let path = folder.path("model.onnx")
            try ModelFiles.save(document, to: path, format: .onnx, options: SaveOptions(onnxOpset: opset))
            let written = try Data(contentsOf: URL(fileURLWithPath: path))
            let decoded = try ONNXProtobuf.decodeModel(written)
            #expect(decoded.graph.initializer.contains { $0.rawData.count == 200 * 300 * dtype.byteSize })
            #expect(try ONNXProtobuf.encode(decoded) == written, "opset \(opset)")
            #expect(try ONNXExporter.encode(document, file: path, options: SaveOptions(onnxOpset: opset)).model == written)
        }
    }
}
