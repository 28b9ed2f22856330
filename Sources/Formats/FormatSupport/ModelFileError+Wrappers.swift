import HDF5Support
import JSONSupport
import MLPDocument

// The one place the wrappers' failures become model-file errors, for every format that reads through them.

extension ModelFileError {
    /// A json-c parse or audit failure: the JSON path, and the line and column where json-c knows them.
    package init(_ error: JSONError) {
        self.init(file: error.file, object: error.path, reason: error.reason
            + (error.line.map { line in " (line \(line), column \(error.column ?? 0))" } ?? ""))
    }

    /// An HDF5 failure, under the caller's name for the file when it has one (a codec may be writing a
    /// temporary path), with `objectPrefix` before the HDF5 path (`model.weights.h5:` inside a `.keras` zip).
    package init(_ error: HDF5Error, file: String? = nil, objectPrefix: String = "") {
        self.init(file: file ?? error.file, object: objectPrefix + error.object, reason: error.failure)
    }
}
