import FileSupport
import Foundation
import MLPDocument

/// A model file read whole (JSON documents, `.keras` archives), refused before reading when it is over the
/// limit.
package enum ModelFileBytes {
    package static func read(_ path: String, limits: LoadLimits) throws(ModelFileError) -> Data {
        do { return try WholeFile.read(path, limit: limits.maxFileBytes) } catch {
            throw ModelFileError(file: path, reason: error.reason)
        }
    }
}

/// The failures of a file write (FileSupport) as model-file errors under the caller's name for the file.
package func modelFileFailure(_ file: String) -> (FileFailure) -> ModelFileError {
    { failure in ModelFileError(file: file, reason: failure.reason) }
}
