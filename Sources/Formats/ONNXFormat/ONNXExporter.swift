import Foundation
import FormatSupport
import MLPCore
import MLPDocument
import ONNXSupport

// INTERFACE ONLY — the exporter is being written (branch onnx-export); this file is replaced, not merged as is.
package enum ONNXExporter {
    package struct Export {
        package var model: Data
        /// The weights, when exported as external data (`externalDataPath(of:)`).
        package var externalData: Data?
    }

    /// `model.onnx` → `model.onnx.data`.
    package static func externalDataPath(of path: String) -> String { path + ".data" }

    package static func encode(_ document: ModelDocument, file: String, options: SaveOptions) throws(ModelFileError) -> Export {
        throw ModelFileError(file: file, reason: "ONNX export is not built yet")
    }
}
