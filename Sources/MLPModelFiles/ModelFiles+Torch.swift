import MLPCore
import MLPDocument
internal import FormatSupport
internal import SafetensorsFormat

extension ModelFiles {
    /// The Python expression of the document's torch `nn.Sequential` (`Sequential(Linear(4, 8), ReLU(), …)`), the
    /// model whose `state_dict()` the torch formats write; or the reason torch cannot express it (naming the layer).
    public static func torchSequential(of document: ModelDocument) -> Result<String, DocumentError> {
        Result { () throws(DocumentError) in try TorchModules.plan(of: document.architecture).sequential }
    }

    /// Parses `--activations`: comma-separated Keras names (`relu`, `linear`) or torch modules (`ReLU`, `GELU`,
    /// `Identity`, `LeakyReLU(negative_slope=0.2)`).
    public static func activations(list: String) -> Result<[Activation], DocumentError> {
        TorchModules.activations(list: list)
    }

    /// The sibling file a `.safetensors` model keeps its optimizer state in.
    public static func safetensorsOptimizerPath(of path: String) -> String {
        SafetensorsCodec.optimizerPath(of: path)
    }
}
