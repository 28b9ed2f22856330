/// Why a file could not be read or written, without naming the file: the caller wraps it in its own error type
/// (a model-file or data-file error) under its own name for the file.
package struct FileFailure: Error, CustomStringConvertible, Sendable {
    package var reason: String

    package init(_ reason: String) {
        self.reason = reason
    }

    package var description: String { reason }
}
