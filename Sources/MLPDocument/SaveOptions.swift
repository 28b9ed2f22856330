/// How JSON files store tensor data.
public enum JSONTensorEncoding: String, Sendable, CaseIterable {
    /// Small tensors (up to `autoArrayLimit` values) as number arrays — readable, diffable — larger ones as base64.
    case auto
    /// Flat row-major arrays of numbers in shortest round-trip form.
    case array
    /// Base64 of the little-endian bytes: compact and fast.
    case base64

    /// The largest tensor `auto` writes as an array.
    public static let autoArrayLimit = 4096
}

public struct SaveOptions: Sendable, Equatable {
    public var jsonTensors: JSONTensorEncoding
    /// HDF5: chunked datasets with shuffle + gzip.
    public var compress: Bool
    /// ONNX: the default-domain opset to export for; nil is the exporter's default (docs/onnx.md).
    public var onnxOpset: Int?
    /// ONNX: the weights in a file beside the model (`NAME.onnx.data`) rather than inside it.
    public var onnxExternalData: Bool

    public init(jsonTensors: JSONTensorEncoding = .auto, compress: Bool = false, onnxOpset: Int? = nil,
                onnxExternalData: Bool = false) {
        self.jsonTensors = jsonTensors
        self.compress = compress
        self.onnxOpset = onnxOpset
        self.onnxExternalData = onnxExternalData
    }
}
