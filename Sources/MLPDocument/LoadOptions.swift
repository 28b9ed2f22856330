import MLPCore

/// What a reader cannot learn from some files and the caller supplies: a state dict (safetensors without mlpconv's
/// metadata, a bare PyTorch `state_dict`) holds weights but not the functions between them, and a torch checkpoint
/// holds its optimizer's state but not the loss it was trained with. And how files that libhdf5 reads are kept
/// from crashing the program (`isolation`).
public struct LoadOptions: Sendable, Equatable {
    /// One activation per Linear (Dense) layer, in layer order, for files that do not name them. Files that name
    /// their activations (every mlpconv-written file) ignore it.
    public var activations: [Activation]?
    /// The loss of a torch checkpoint that mlpconv did not write: with it, the optimizer state becomes a training
    /// record; without it, the state is left out and the metadata says so.
    public var loss: Loss?
    /// The optimizer class when a torch checkpoint cannot tell it (Adam or AdamW from torch before 2.4, with
    /// weight decay); a file that can tell must agree.
    public var optimizer: OptimizerKind?
    /// The model's torch definition, for a state dict that does not record mlpconv's architecture: the expression
    /// that builds its `nn.Sequential` or what `print(model)` shows (docs/torch-formats.md). The tensors must then
    /// be exactly the Sequential's. Not together with `activations`; files that record their architecture ignore it.
    public var sequential: String?
    /// Whether an HDF5 model or a `.keras` archive is first read by a helper process, so that a file crafted to
    /// crash libhdf5 becomes an error rather than a crash of this program. `.inProcess` only for trusted files.
    public var isolation: ReadIsolation

    public init(activations: [Activation]? = nil, loss: Loss? = nil, optimizer: OptimizerKind? = nil,
                sequential: String? = nil, isolation: ReadIsolation = .helperProcess) {
        self.activations = activations
        self.loss = loss
        self.optimizer = optimizer
        self.sequential = sequential
        self.isolation = isolation
    }
}
