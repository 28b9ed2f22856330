/// Why a model file could not be read or written: the file, the object inside it (a JSON path such as
/// `$.architecture.layers[1].units`, an HDF5 path such as `/weights/dense/kernel`) and the reason.
public struct ModelFileError: Error, CustomStringConvertible, Sendable {
    public var file: String
    /// Nil when the problem is the file as a whole (missing, empty, not a model file).
    public var object: String?
    public var reason: String

    public init(file: String, object: String? = nil, reason: String) {
        self.file = file
        self.object = object
        self.reason = reason
    }

    public var description: String {
        if let object { return "\(file): \(object): \(reason)" }
        return "\(file): \(reason)"
    }
}

extension ModelFileError {
    package init(file: String, _ error: DocumentError) {
        self.init(file: file, object: error.object, reason: error.reason)
    }
}
