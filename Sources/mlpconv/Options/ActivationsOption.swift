import ArgumentParser
import MLPDocument
import MLPModelFiles

/// `--activations` of every command that reads a model: a state dict without mlpconv's metadata (a safetensors
/// file written by torch) holds weights but not the activations between them.
struct ActivationsOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "For a model file that does not name its activations (a safetensors state dict written by torch): one per "
            + "Linear layer, comma-separated, by Keras name or torch module.",
        valueName: "relu,relu,softmax"))
    var activations: String?

    var loadOptions: LoadOptions {
        get throws {
            guard let activations else { return LoadOptions() }
            switch ModelFiles.activations(list: activations) {
            case .success(let list): return LoadOptions(activations: list)
            case .failure(let error): throw ValidationError("--activations: \(error.object): \(error.reason)")
            }
        }
    }

    func validate() throws { _ = try loadOptions }
}
