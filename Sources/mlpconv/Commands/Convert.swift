import ArgumentParser
import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
internal import FileSupport

struct Convert: ParsableCommand, JSONFlagHelp {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model file to another format, losslessly unless a flag asks otherwise.",
        discussion: """
            The input format is detected from the file's content. The output format is taken from --to, or else \
            from OUTPUT's extension (.json → json, .h5/.hdf5 → h5, .keras → keras, .safetensors → safetensors, \
            .pt/.pth → pt, a torch.save checkpoint, .onnx → onnx, for inference only). Use --to keras-h5 for Keras's \
            legacy .h5 layout. The output is written atomically: an existing \
            file is replaced only once the new one is complete, and only with --force.
            """)

    @Argument(help: "The model file to read (any supported format).")
    var input: String

    @Argument(help: "The file to write.")
    var output: String

    @Option(help: "Output format: json, h5, keras, keras-h5, safetensors, pt or onnx (default: from OUTPUT's extension).")
    var to: ModelFormat?

    @Option(help: "Store every tensor as float32 or float64 (default: keep each tensor's dtype).")
    var dtype: Tensor.DType?

    @Option(name: .customLong("json-tensors"), help: "JSON tensor data: auto (arrays up to \(JSONTensorEncoding.autoArrayLimit) values, base64 above), array or base64.")
    var jsonTensors: JSONTensorEncoding = .auto

    @Flag(help: "HDF5: compress datasets (shuffle + gzip).")
    var compress = false

    @Option(name: .customLong("opset"), parsing: .unconditional, help: ArgumentHelp(
        "ONNX: the default-domain opset to export for, 13 to 21 (default 17); activations whose op is newer are composed "
            + "from older ops (docs/onnx.md).", valueName: "N"))
    var onnxOpset: Int?

    @Flag(name: .customLong("external-data"), help: "ONNX: write the weights to OUTPUT.data beside the model (needed above 2 GB).")
    var onnxExternalData = false

    @Flag(name: .customLong("drop-optimizer"), help: "Leave out the optimizer and training state (loss, history): architecture, weights and metadata only.")
    var dropOptimizer = false

    @Option(name: .customLong("loss"), help: ArgumentHelp(
        "For a torch checkpoint mlpconv did not write: the loss it was trained with (torch records none), so that its "
            + "optimizer state is kept (CrossEntropyLoss, MSELoss, …).", valueName: "name"))
    var torchLoss: LossArgument?

    @Option(name: .customLong("optimizer"), help: ArgumentHelp(
        "For a torch checkpoint that cannot tell Adam from AdamW (torch before 2.4, with weight decay): torch_adam or torch_adamw.",
        valueName: "kind"))
    var optimizerKind: String?

    @OptionGroup var overwrite: ForceFlag

    @OptionGroup var style: JSONFlag<Convert>

    @OptionGroup var activations: ActivationsOption

    func run() throws {
        guard let format = to ?? ModelFormat(pathExtension: URL(fileURLWithPath: output).pathExtension) else {
            throw CommandError("\(output): cannot tell the output format from the extension; use --to json, h5, keras, keras-h5, safetensors or pt")
        }
        if format != .onnx, onnxOpset != nil || onnxExternalData {
            throw CommandError("--opset and --external-data apply to ONNX output only (--to onnx or a .onnx file)")
        }
        try overwrite.check(output)
        let inputKind = try ModelFiles.detectKind(at: input)
        var loadOptions = try activations.loadOptions
        loadOptions.loss = torchLoss?.loss
        if let optimizerKind {
            guard let kind = OptimizerKind(name: optimizerKind) else {
                throw CommandError("--optimizer: unknown optimizer \"\(optimizerKind)\"; supported: \(OptimizerKind.acceptedNames.joined(separator: ", "))")
            }
            loadOptions.optimizer = kind
        }
        var document = try IsolatedRead.load(input, options: loadOptions)
        if let dtype { document = try wrap(input) { () throws(DocumentError) in try document.checkedConversion(to: dtype) } }
        if dropOptimizer { document.training = nil }
        document.metadata["converted_from"] = "\(URL(fileURLWithPath: input).lastPathComponent) (\(inputKind.rawValue))"
        let options = SaveOptions(jsonTensors: jsonTensors, compress: compress, onnxOpset: onnxOpset,
                                  onnxExternalData: onnxExternalData)
        let notes = try ModelFiles.save(document, to: output, format: format, options: options)
        let written = ModelFiles.prepared(document, for: format, options: options).document

        let bytes = FileStatus.size(of: output) ?? 0
        if style.json {
            printJSON([
                "input": .string(input), "input_format": .string(inputKind.rawValue), "output": .string(output),
                "format": .string(format.rawValue), "bytes": .int(bytes), "parameters": .int(document.parameterCount),
                "training_state": .bool(written.training != nil), "notes": .array(notes.map { .string($0) }),
            ])
        } else {
            for note in notes { FileHandle.standardError.write(Data("mlpconv: \(note)\n".utf8)) }
            let state = written.training != nil ? "with optimizer and training state"
                : document.metadata["keras_training_state"] != nil ? "no training state: the Keras file's was not read (see inspect)"
                : document.metadata["torch_training_state"] != nil ? "no training state: the checkpoint's optimizer state was not read (see inspect; --loss keeps it)"
                : "no training state"
            emit("wrote \(output) (\(format.rawValue), \(formatBytes(bytes)), \(document.parameterCount.formatted()) parameters, \(state)) from \(input) (\(inputKind.rawValue))")
        }
    }
}
