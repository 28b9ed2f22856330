import ArgumentParser
import MLPDocument
import MLPModelFiles

/// `--activations` and `--sequential` of every command that reads a model: a state dict without mlpconv's metadata
/// (a safetensors file or `.pt` written by torch) holds weights but not the functions between them.
struct ActivationsOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "For a model file that does not name its activations (a safetensors state dict written by torch): one per "
            + "Linear layer, comma-separated, by Keras name or torch module.",
        valueName: "relu,relu,softmax"))
    var activations: String?

    @Option(help: ArgumentHelp(
        "For a torch state dict without mlpconv's metadata: the model's definition, as the code builds it "
            + "(Sequential(Linear(6, 8), BatchNorm1d(8, eps=0.001), ReLU(), Linear(8, 3))) or as print(model) shows it. "
            + "Gives what the tensors do not hold: activations anywhere, normalization settings, Dropout. "
            + "Not with --activations.",
        valueName: "Sequential(…)"))
    var sequential: String?

    var loadOptions: LoadOptions {
        get throws {
            guard let activations else { return LoadOptions(sequential: sequential) }
            guard sequential == nil else {
                throw ValidationError("give --activations or --sequential, not both (--sequential includes the activations)")
            }
            switch ModelFiles.activations(list: activations) {
            case .success(let list): return LoadOptions(activations: list)
            case .failure(let error): throw ValidationError("--activations: \(error.object): \(error.reason)")
            }
        }
    }

    func validate() throws { _ = try loadOptions }
}
