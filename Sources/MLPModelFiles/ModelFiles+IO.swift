import Foundation
internal import FileSupport
internal import FormatSupport
internal import HDF5Format
internal import JSONFormat
internal import KerasFormat
internal import SafetensorsFormat
internal import TorchFormat
internal import ONNXFormat
import MLPDocument

extension ModelFiles {
    /// Reads a model file of any supported format, detected from its content, and checks it strictly against
    /// its own architecture. `options` supplies what a bare state dict does not hold (its activations), and
    /// whether a file read by libhdf5 is read by a helper process first (`ReadIsolation`; by default it is).
    public static func load(
        _ path: String, limits: LoadLimits = LoadLimits(), options: LoadOptions = LoadOptions()
    ) throws(ModelFileError) -> ModelDocument {
        let kind = try detectKind(at: path)
        try isolate(path, kind: kind, limits: limits, isolation: options.isolation)
        switch kind {
        case .json:
            return try JSONModelCodec.read(path: path, limits: limits)
        case .hdf5:
            // Native or Keras is decided here, by what the file carries: our `format` attribute or Keras's
            // `model_config`. A file with neither is read as native, whose reader says what is missing.
            let opened = try HDF5ModelFile.open(path: path, file: path, limits: limits)
            if !HDF5ModelCodec.isNativeFile(opened.h5) {
                if KerasH5Reader.isKerasFile(opened.h5) {
                    return try KerasH5Reader.read(h5: opened.h5, file: path, fileSize: opened.size, limits: limits)
                }
                try KerasH5Reader.refuseWeightsOnlyFile(opened.h5, file: path)
            }
            return try HDF5ModelCodec.read(h5: opened.h5, file: path, fileSize: opened.size, limits: limits)
        case .zip:
            return try KerasZipReader.read(path: path, limits: limits)
        case .safetensors:
            return try SafetensorsCodec.read(path: path, limits: limits, options: options)
        case .torch:
            return try TorchCheckpointReader.read(path: path, limits: limits, options: options)
        case .onnx:
            return try ONNXImporter.read(path: path, limits: limits)
        }
    }

    /// Writes `document` to `path` atomically: the previous file at `path`, if any, stays intact unless the
    /// complete new file has been written and flushed. An optimizer the format's family has no rule for is
    /// translated or left out first (`prepared(_:for:)`); the returned notes say how, one line each.
    @discardableResult
    public static func save(
        _ document: ModelDocument, to path: String, format: ModelFormat, options: SaveOptions = SaveOptions()
    ) throws(ModelFileError) -> [String] {
        do { try document.validate() } catch { throw ModelFileError(file: path, error) }
        let (document, notes) = prepared(document, for: format, options: options)
        let failure = modelFileFailure(path)
        try AtomicFile.replace(path, failure: failure) { temporaryPath throws(ModelFileError) in
            switch format {
            case .json:
                try JSONModelCodec.write(document, tensors: options.jsonTensors, toPath: temporaryPath, file: path)
            case .h5:
                try HDF5ModelCodec.write(document, toPath: temporaryPath, file: path, options: options)
            case .kerasH5:
                try KerasH5Writer.write(document, toPath: temporaryPath, file: path)
            case .keras:
                try KerasZipWriter.write(document, toPath: temporaryPath, file: path)
            case .onnx:
                // External data goes beside the model, replaced first, as safetensors' optimizer file is.
                if let data = try ONNXExporter.write(document, toPath: temporaryPath, file: path, options: options) {
                    let dataPath = ONNXExporter.externalDataPath(of: path)
                    try AtomicFile.replace(dataPath, failure: modelFileFailure(dataPath)) { siblingPath throws(ModelFileError) in
                        try AtomicFile.write(data, to: siblingPath, failure: modelFileFailure(dataPath))
                    }
                }
            case .pt:
                try TorchCheckpointWriter.write(document, toPath: temporaryPath, file: path)
            case .safetensors:
                // The optimizer file is replaced first, inside the model file's replacement: a failure before the
                // model file is committed leaves at worst a new optimizer file next to the old model, which its
                // digest marks as written for other weights (the reader then ignores it).
                if let digest = try SafetensorsCodec.write(document, toPath: temporaryPath, file: path) {
                    let optimizerPath = SafetensorsCodec.optimizerPath(of: path)
                    try AtomicFile.replace(optimizerPath, failure: modelFileFailure(optimizerPath)) { siblingPath throws(ModelFileError) in
                        try SafetensorsCodec.writeOptimizer(document, digest: digest, toPath: siblingPath, file: optimizerPath)
                    }
                }
            }
        }
        return notes
    }
}
