import ArgumentParser
internal import TextSupport
import MLPCore
import MLPModelFiles

struct Evaluate: ParsableCommand, DataOptionHelp, LossOptionHelp, JSONFlagHelp {
    static let configuration = CommandConfiguration(
        abstract: "Compute a model's loss and compiled metrics (else accuracy, for classification losses) on a data file.",
        discussion: """
            The loss is the stored one unless --loss names another (a model without training state needs --loss); \
            --from-logits, --label-smoothing and --huber-delta change its settings. \
            Values are computed in float32, in batches, exactly as training reports them: the loss is Keras's \
            mean over rows. A model compiled with metrics (a Keras file's, kept by every format) reports each \
            one mlpconv computes under its Keras name, and names those it does not; otherwise accuracy is \
            reported for categorical_crossentropy, sparse_categorical_crossentropy and binary_crossentropy.
            """)

    @Argument(help: "The model file (any supported format).")
    var file: String

    static let dataHelp = "Rows with targets: CSV, .npz or HDF5 with datasets x and y."
    @OptionGroup var data: DataOption<Evaluate>

    @OptionGroup var batchSize: ForwardBatchSize

    static let lossHelp = "Evaluate this loss instead of the stored one (required when the model stores none)."
    @OptionGroup var loss: LossOption<Evaluate>

    @OptionGroup var style: JSONFlag<Evaluate>

    @OptionGroup var activations: ActivationsOption

    func run() throws {
        let document = try IsolatedRead.load(file, options: activations.loadOptions)
        let loss = try self.loss.resolve(for: document, file: file)
        let model = try evaluationModel(document, loss: loss, file: file, as: Float.self)
        let dataset = try loadData(data.path, inputWidth: model.network.inputWidth, outputWidth: model.network.outputWidth,
                                   loss: loss, requireTargets: true, header: data.csvHeader.value)
        let compiled = try ModelFiles.compiledMetrics(of: document, file: file)
        let metrics = try wrap(data.path) { () throws(TrainingError) in
            try model.evaluate(dataset, batchSize: batchSize.rows, metrics: compiled?.computed)
        }
        let notComputed = compiled?.notComputed ?? []
        if style.json {
            printJSON([
                "file": .string(file), "data": .string(data.path), "rows": .int(dataset.count), "loss_function": .string(loss.name),
                "loss": .double(metrics["loss"] ?? .nan), "accuracy": metrics["accuracy"].map { .double($0) } ?? .null,
                "metrics": .object(metrics.mapValues { .double($0) }), "metrics_not_computed": notComputedJSON(notComputed),
            ])
        } else {
            let described = EpochRecord(epoch: 0, metrics: metrics).orderedKeys
                .map { "\($0) \(formatMetric(metrics[$0] ?? .nan))" }.joined(separator: ", ")
            emit("\(file) on \(data.path) (\(plural(dataset.count, "row")), \(loss)): \(described)")
            if !notComputed.isEmpty { emit("not computed by mlpconv: " + notComputed.map(\.name).joined(separator: ", ")) }
        }
    }
}
