import MLPCore

/// What a reader cannot learn from some files and the caller supplies: a state dict (safetensors without mlpconv's
/// metadata, a bare PyTorch `state_dict`) holds weights but not the functions between them.
public struct LoadOptions: Sendable, Equatable {
    /// One activation per Linear (Dense) layer, in layer order, for files that do not name them. Files that name
    /// their activations (every mlpconv-written file) ignore it.
    public var activations: [Activation]?

    public init(activations: [Activation]? = nil) {
        self.activations = activations
    }
}
