import Foundation
import FormatSupport
import MLPCore
import MLPDocument
import ONNXSupport

// INTERFACE ONLY — the importer is being written (branch onnx-import); this file is replaced, not merged as is.
package enum ONNXImporter {
    package static func matches(head: [UInt8]) -> Bool { false }

    package static func read(path: String, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        throw ModelFileError(file: path, reason: "ONNX import is not built yet")
    }
}
