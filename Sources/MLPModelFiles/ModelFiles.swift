import Foundation
import MLPDocument
internal import HDF5Support
internal import SafetensorsFormat
internal import TorchFormat
internal import ONNXFormat
internal import ZipSupport

/// The formats a model file can be in, by content.
public enum ModelFileKind: String, Sendable, CaseIterable {
    /// An HDF5 file: mlpconv's native layout or a Keras `.h5`.
    case hdf5
    /// A JSON document (mlpconv's JSON model format).
    case json
    /// A zip archive (a Keras `.keras` file).
    case zip
    /// A safetensors file (huggingface/safetensors), written by torch or mlpconv.
    case safetensors
    /// A `torch.save` file: a zip whose first member is `<name>/data.pkl` (or the legacy pre-zip format, which is
    /// recognised only to be refused with a message that says what it is).
    case torch
    /// An ONNX model (a protobuf `ModelProto`; no magic number, recognised by its first fields, after every format
    /// that has a signature).
    case onnx
}

/// The formats mlpconv writes.
public enum ModelFormat: String, Sendable, CaseIterable {
    case json
    /// mlpconv's native HDF5 layout.
    case h5
    /// Keras's legacy `.h5` layout, as Keras 3 writes it.
    case kerasH5 = "keras-h5"
    /// Keras 3's native `.keras` zip.
    case keras
    /// A `.safetensors` state dict of the model's torch `nn.Sequential`, with a sibling `NAME.optimizer.safetensors`
    /// for the optimizer state.
    case safetensors
    /// A `torch.save` training checkpoint (`model_state_dict`, `optimizer_state_dict` in torch.optim's layout, `epoch`).
    case pt
    /// An ONNX model for inference (onnxruntime and others): architecture and weights, no training state.
    case onnx

    /// The format an output path's extension names, if any: `.json` → json, `.h5`/`.hdf5` → h5 (mlpconv's own
    /// layout; Keras's needs `--to keras-h5`), `.keras` → keras, `.safetensors` → safetensors, `.pt`/`.pth` → pt.
    public init?(pathExtension: String) {
        switch pathExtension.lowercased() {
        case "json": self = .json
        case "h5", "hdf5": self = .h5
        case "keras": self = .keras
        case "safetensors": self = .safetensors
        case "pt", "pth": self = .pt
        case "onnx": self = .onnx
        default: return nil
        }
    }
}

/// Loading and saving model documents: format detection by content, dispatch to a codec, atomic writes.
public enum ModelFiles {
    /// Identifies a file by its first bytes, not its name.
    public static func detectKind(at path: String) throws(ModelFileError) -> ModelFileKind {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelFileError(file: path, reason: FileManager.default.fileExists(atPath: path)
                                 ? "cannot open the file for reading" : "no such file")
        }
        defer { try? handle.close() }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ModelFileError(file: path, reason: "is a directory, not a model file")
        }
        let head = [UInt8]((try? handle.read(upToCount: 4096)) ?? Data())
        guard !head.isEmpty else { throw ModelFileError(file: path, reason: "not a model file (the file is empty)") }
        if head.starts(with: HDF5Signature.bytes) { return .hdf5 }
        if TorchCheckpointReader.matches(head: head) { return .torch }
        if ZipSignature.starts(head) { return .zip }
        // Before JSON: a header length whose low byte is `{` or whitespace must not be taken for JSON text.
        if SafetensorsCodec.matches(head: head) { return .safetensors }
        for offset in HDF5Signature.userBlockOffsets(upTo: 1 << 20) {
            if (try? handle.seek(toOffset: UInt64(offset))) != nil,
               let block = try? handle.read(upToCount: 8), [UInt8](block) == HDF5Signature.bytes {
                return .hdf5
            }
        }
        // JSON: optional UTF-8 BOM, whitespace, then an object.
        var index = head.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while index < head.count, [0x20, 0x09, 0x0A, 0x0D].contains(head[index]) { index += 1 }
        if index < head.count, head[index] == UInt8(ascii: "{") { return .json }
        if ONNXImporter.matches(head: head) { return .onnx }
        throw ModelFileError(file: path, reason: "not a model file (neither HDF5, JSON, safetensors, ONNX nor a zip archive; starts with \(describe(head.prefix(8))))")
    }

    private static func describe(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { byte in
            (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : String(format: "\\x%02x", byte)
        }.joined()
    }
}
