import ArgumentParser
import Foundation
import MLPDataFiles
import MLPDocument
import MLPModelFiles
import MLPCore

struct Finetune: ParsableCommand, DataOptionHelp, LossOptionHelp, JSONFlagHelp {
    static let configuration = CommandConfiguration(
        abstract: "Continue training a stored model on a data file, optimizer state included.",
        discussion: """
            Training continues with the stored optimizer, its state, the stored loss and the stored random \
            generator, so `--epochs 2` gives bit-identical weights and optimizer state to `--epochs 1` run twice \
            in a row on its output. --learning-rate changes the rate and keeps the state (replacing a learning-rate \
            schedule); --lr-schedule sets a schedule, evaluated from the stored step on, or removes one (constant); \
            a different --optimizer starts fresh state (and says so); --loss (with its default settings) or \
            --from-logits, --label-smoothing, --huber-delta change the loss; --seed restarts the generator. OUTPUT may be FILE (resuming in \
            place); another existing file is replaced only with --force, and neither OUTPUT nor --plot may be one of \
            the inputs (compared as files, links followed). Both are checked before training starts; OUTPUT is \
            replaced atomically, and only once training has finished (or at each checkpoint). Each epoch records the loss and \
            the model's compiled metrics (a Keras file's, kept by every format) under Keras's history keys, val_ ones \
            with --validation-split; metrics mlpconv does not compute are named. A model compiled without metrics \
            records accuracy for the cross-entropies.
            """)

    @Argument(help: "The model to train (any supported format).")
    var file: String

    static let dataHelp = "Training data: CSV, .npy/.npz or HDF5 with datasets x and y."
    @OptionGroup var data: DataOption<Finetune>

    @Option(help: "Where to write the trained model (\(modelExtensions); may equal FILE, to resume in place).")
    var output: String

    @Option(parsing: .unconditional, help: "Epochs to train.")
    var epochs: Int = 1

    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Mini-batch size.")
    var batchSize: Int = 32

    @Option(name: .customLong("learning-rate"), parsing: .unconditional, help: "New learning rate (the optimizer state is kept).")
    var learningRate: Double?

    @Option(name: .customLong("lr-schedule"), help: ScheduleSpec.help, transform: ScheduleSpec.init(parsing:))
    var lrSchedule: ScheduleSpec?

    @Option(help: ArgumentHelp(OptimizerSpec.help.abstract + " Another optimizer, or settings, start fresh optimizer state.",
                               valueName: "optimizer"), transform: OptimizerSpec.init(parsing:))
    var optimizer: OptimizerSpec?

    static let lossHelp = "Train with another loss (\(Loss.acceptedNames.joined(separator: ", ")))."
    @OptionGroup var loss: LossOption<Finetune>

    @Option(name: .customLong("validation-split"), parsing: .unconditional, help: "Fraction of the rows (the last ones, as Keras does) held out for validation.")
    var validationSplit: Double = 0

    @Option(parsing: .unconditional, help: "Restart the random generator from this seed instead of continuing the stored one (0 to 2^64 − 1).")
    var seed: UInt64?

    @Flag(name: .customLong("no-shuffle"), help: "Keep the data's row order in every epoch.")
    var noShuffle = false

    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: "Also write OUTPUT every K epochs.")
    var checkpointEvery: Int?

    @Option(help: "Write an SVG of loss (and validation loss and accuracy) per epoch over the model's whole history.")
    var plot: String?

    @Flag(name: .customLong("allow-nonfinite"), help: "Train even if the weights hold NaN or infinite values.")
    var allowNonfinite = false

    @Flag(help: "No output but errors: no progress, notes or summary (--json still prints its summary).")
    var quiet = false

    @OptionGroup var overwrite: ForceFlag

    static let jsonHelp = "Print the summary as JSON on stdout."
    @OptionGroup var style: JSONFlag<Finetune>

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard validationSplit >= 0 && validationSplit < 1 else {
            throw ValidationError("--validation-split must be in [0, 1), got \(validationSplit)")
        }
        if let checkpointEvery, checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1, got \(checkpointEvery)") }
        if let learningRate { try validateLearningRate(learningRate) }
    }

    @OptionGroup var activations: ActivationsOption

    func run() throws {
        // Every file this run writes is checked before the first epoch, not found unwritable after the last.
        var outputs = [PlannedOutput(option: "--output", path: output, mayReplace: file)]
        if let plot { outputs.append(PlannedOutput(option: "--plot", path: plot)) }
        try PlannedOutput.check(outputs, inputs: [("the model", file), ("the training data", data.path)], force: overwrite)
        let inputKind = try ModelFiles.detectKind(at: file)
        let format = try outputFormat(inputKind: inputKind)
        // A torch checkpoint records neither its loss nor (from torch before 2.4) always its optimizer class.
        var loadOptions = try activations.loadOptions
        if loss.loss != nil { loadOptions.loss = try loss.value(over: nil) }
        loadOptions.optimizer = optimizer?.value
        let progress = ProgressReporter(mode: quiet ? .silent : isatty(STDERR_FILENO) != 0 ? .live : .lines, epochs: epochs)
        let document = try progress.phase("loading the model") { try IsolatedRead.load(file, options: loadOptions) }
        var notes: [String] = []
        var model = try makeModel(document, notes: &notes)
        // The stored counters must be able to count every epoch asked for (the core checks each fit's own steps).
        guard !model.training.epochsCompleted.addingReportingOverflow(epochs).overflow else {
            throw CommandError("--epochs \(epochs): the model has completed \(model.training.epochsCompleted) epochs; "
                               + "together they exceed the largest count (\(Int.max))")
        }
        let dataset = try progress.phase("loading the data") {
            try DataFiles.load(
                data.path, inputWidth: model.network.inputWidth, outputWidth: model.network.outputWidth,
                loss: model.training.loss, requireTargets: true, header: data.csvHeader.value, isolation: .thisProgram)
        }
        if !quiet { for note in notes { FileHandle.standardError.write(Data("mlpconv: \(note)\n".utf8)) } }
        let compiled = try ModelFiles.compiledMetrics(of: document, file: file)
        if !quiet, let compiled { notComputedNote(compiled).map { FileHandle.standardError.write(Data("mlpconv: \($0)\n".utf8)) } }
        let before = try progress.phase("evaluating before training") {
            try wrap(data.path) { () throws(TrainingError) in try model.evaluate(dataset, metrics: compiled?.computed) }
        }
        let options = FitOptions(epochs: 1, batchSize: batchSize, shuffle: !noShuffle, validationSplit: validationSplit,
                                 allowNonFiniteWeights: allowNonfinite, metrics: compiled?.computed)
        let start = ContinuousClock.now
        var trainedSamples = 0
        for epoch in 1...epochs {
            progress.startEpoch(epoch, absolute: model.training.epochsCompleted + 1)
            let records = try fitNamingTheModel(&model, dataset, options: options) { event in progress.handle(event) }
            trainedSamples += Int((Double(dataset.count) * (1 - validationSplit)).rounded(.down))
            if let record = records.last { progress.finishEpoch(record, elapsed: ContinuousClock.now - start) }
            if let checkpointEvery, epoch % checkpointEvery == 0, epoch < epochs {
                try progress.phase("writing a checkpoint") { try save(model, document: document, format: format) }
            }
        }
        // The training rate counts the epochs only: the checkpoints written between them are phases of their own.
        let checkpointSeconds = progress.phases.filter { $0.name == "writing a checkpoint" }.reduce(0) { $0 + $1.seconds }
        let elapsed = (ContinuousClock.now - start).seconds - checkpointSeconds
        let saveNotes = try progress.phase("saving") { try save(model, document: document, format: format) }
        if !quiet { for note in saveNotes { FileHandle.standardError.write(Data("mlpconv: \(note)\n".utf8)) } }
        let after = try progress.phase("evaluating after training") { try model.evaluate(dataset, metrics: compiled?.computed) }
        if let plot {
            try progress.phase("plotting") {
                try LossPlot(history: model.training.history, title: URL(fileURLWithPath: output).lastPathComponent).write(to: plot)
            }
        }
        guard style.json || !quiet else { return }
        printSummary(model: model, before: before, after: after, seconds: elapsed, samples: trainedSamples,
                     phases: progress.phases, notComputed: compiled?.notComputed ?? [])
    }

    /// `fit`, with non-finite weights reported as FILE's: the file, the tensor, and how to train anyway.
    private func fitNamingTheModel(_ model: inout Model<Float>, _ dataset: Dataset<Float>, options: FitOptions,
                                   progress: @escaping (TrainingEvent) -> Void) throws -> [EpochRecord] {
        do {
            return try model.fit(dataset, options: options, progress: progress)
        } catch {
            guard case .nonFiniteWeights(let tensor, let count) = error else { throw error }
            throw CommandError("\(file): \(tensor): holds \(count) NaN or infinite values; refusing to train on them "
                               + "(--allow-nonfinite trains anyway)")
        }
    }

    private func outputFormat(inputKind: ModelFileKind) throws -> ModelFormat {
        if let format = ModelFormat(pathExtension: URL(fileURLWithPath: output).pathExtension) { return format }
        if output == file, let format = ModelFormat(kind: inputKind) { return format }
        throw CommandError("\(output): cannot tell the format from the extension; use \(modelExtensions)")
    }

    /// The stored model with the overrides applied; `notes` says what changed from the stored state.
    private func makeModel(_ document: ModelDocument, notes: inout [String]) throws -> Model<Float> {
        var model: Model<Float>
        if let policy = document.metadata["keras_dtype_policy"] {
            notes.append("the Keras file's \(policy) policy computes in half precision; mlpconv trains its float32 "
                         + "variables in float32 (docs/keras-formats.md, dtype policies)")
        }
        if document.training == nil {
            guard let loss = try loss.value(over: nil) else {
                let why = document.metadata["keras_training_state"].map { " (the Keras file's training setup was \($0))" } ?? ""
                throw CommandError("\(file): the model has no loss or optimizer stored\(why); give --loss (and optionally "
                                   + "--optimizer, --learning-rate)")
            }
            let network: Network<Float> = try wrap(file) { () throws(DocumentError) in try document.network() }
            var config = try (optimizer ?? OptimizerSpec(.adam)).config(learningRate: learningRate)
            config.schedule = try lrSchedule?.schedule(initialRate: config.learningRate)
            warnIfNonFinite(config.schedule, quiet: quiet)
            model = try Model(network: network, training: TrainingState(
                loss: loss, optimizer: try Optimizer(config: config, network: network),
                random: RandomGenerator(seed: seed ?? 0).state))
            notes.append("no training state stored: starting \(config.kind.name) with fresh state")
        } else {
            model = try wrap(file) { () throws(DocumentError) in try document.model(seedIfMissing: seed ?? 0) }
            if document.training?.randomState == nil && seed == nil {
                notes.append("no generator state stored: seeding a new one with 0 (use --seed to choose)")
            }
            if let requested = optimizer, requested.value != model.training.optimizer.config.kind || !requested.settings.isEmpty {
                let stored = model.training.optimizer.config.kind.name
                notes.append(requested.value.name == stored
                    ? "optimizer settings changed (\(requested.settings.keys.sorted().joined(separator: ", "))): starting with fresh optimizer state"
                    : "optimizer changed from \(stored) to \(requested.value.name): starting with fresh optimizer state")
                var config = try requested.config(learningRate: learningRate)
                config.schedule = try replacementSchedule(model.training.optimizer.config, initialRate: config.learningRate, notes: &notes)
                try model.replaceOptimizer(config)
            } else if learningRate != nil || lrSchedule != nil {
                var config = model.training.optimizer.config
                let step = model.training.optimizer.state.iterations
                let current = config.schedule.map { Double($0.learningRate(atStep: step, as: Float.self)) } ?? config.learningRate
                let schedule = try replacementSchedule(config, initialRate: learningRate ?? config.learningRate, notes: &notes)
                if let schedule {
                    config.schedule = schedule
                    notes.append("learning rate follows \(schedule.summary) from step \(step)")
                } else {
                    if let old = config.schedule { notes.append("learning-rate schedule \(old.summary) replaced by a constant rate") }
                    config.schedule = nil
                    config.learningRate = learningRate ?? current
                }
                try model.updateOptimizer(config)
            }
            if let loss = try loss.value(over: model.training.loss), loss != model.training.loss {
                notes.append("loss changed from \(model.training.loss) to \(loss)")
                model.replaceLoss(loss)
            }
            if let seed { model.reseed(seed) }
        }
        return model
    }

    /// The schedule the optimizer follows after the overrides: `--lr-schedule`'s (nil for constant), else none when
    /// `--learning-rate` is given, else the stored one (kept across a change of optimizer).
    private func replacementSchedule(_ stored: OptimizerConfig, initialRate: Double,
                                     notes: inout [String]) throws -> LearningRateSchedule? {
        if let lrSchedule {
            let schedule = try lrSchedule.schedule(initialRate: initialRate)
            warnIfNonFinite(schedule, quiet: quiet)
            return schedule
        }
        if learningRate != nil || optimizer?.settings["learning_rate"] != nil { return nil }
        if let schedule = stored.schedule, optimizer?.value.isTorch == true {
            notes.append("the learning-rate schedule \(schedule.summary) is dropped: torch's optimizers follow none")
            return nil
        }
        if let schedule = stored.schedule, optimizer != nil {
            notes.append("the learning-rate schedule \(schedule.summary) is kept; it restarts from step 0 with the fresh state")
        }
        return stored.schedule
    }

    /// Returns how the output format's family holds the optimizer (ModelFiles.prepared), one note per line.
    @discardableResult
    private func save(_ model: Model<Float>, document: ModelDocument, format: ModelFormat) throws -> [String] {
        var trained = ModelDocument(model: model, inputShape: document.architecture.inputShape, metadata: document.metadata)
        trained.metadata["trained_by"] = "mlpconv \(MLPConvVersion.string)"
        trained.metadata["trained_at"] = ISO8601DateFormatter().string(from: Date())
        // Weights keep the precision they were stored in.
        if let dtype = document.variableTensors.first?.dtype, dtype != .float32 { trained = trained.converted(to: dtype) }
        return try ModelFiles.save(trained, to: output, format: format)
    }

    private func printSummary(model: Model<Float>, before: [String: Double], after: [String: Double], seconds: Double, samples: Int,
                              phases: [(name: String, seconds: Double)], notComputed: [CompiledMetrics.NotComputed]) {
        let last = model.training.history.last
        if style.json {
            var object: [String: JSONOutput] = [
                "output": .string(output), "epochs": .int(epochs), "epochs_completed": .int(model.training.epochsCompleted),
                "iterations": .int(model.training.optimizer.state.iterations),
                "before": .object(before.mapValues { .double($0) }), "after": .object(after.mapValues { .double($0) }),
                "seconds": .double(seconds), "samples_per_second": .double(seconds > 0 ? Double(samples) / seconds : 0),
            ]
            if let last { object["last_epoch"] = .object(last.metrics.mapValues { .double($0) }) }
            // Phases can repeat (checkpoints): their times add up.
            object["phase_seconds"] = .object(Dictionary(phases.map { ($0.name, $0.seconds) }, uniquingKeysWith: +).mapValues { .double($0) })
            object["metrics_not_computed"] = notComputedJSON(notComputed)
            printJSON(object)
            return
        }
        func describe(_ metrics: [String: Double]) -> String {
            EpochRecord(epoch: 0, metrics: metrics).orderedKeys.map { "\($0) \(formatMetric(metrics[$0] ?? .nan))" }.joined(separator: ", ")
        }
        emit("trained \(epochs) epoch\(epochs == 1 ? "" : "s") (now \(model.training.epochsCompleted) in all, step \(model.training.optimizer.state.iterations)) in \(String(format: "%.2f", seconds)) s, \(Int(seconds > 0 ? Double(samples) / seconds : 0).formatted()) samples/s")
        emit("before: \(describe(before))")
        emit("after:  \(describe(after))")
        if let last, last.metrics.keys.contains(where: { $0.hasPrefix("val_") }) {
            emit("validation: " + describe(last.metrics.filter { $0.key.hasPrefix("val_") }))
        }
        if !notComputed.isEmpty { emit("not computed by mlpconv: " + notComputed.map(\.name).joined(separator: ", ")) }
        // Repeated phases (checkpoints) are summed, in the order they first ran.
        var totals: [(name: String, seconds: Double)] = []
        for phase in phases {
            if let index = totals.firstIndex(where: { $0.name == phase.name }) {
                totals[index].seconds += phase.seconds
            } else {
                totals.append(phase)
            }
        }
        let fixed = phases.reduce(0) { $0 + $1.seconds }
        emit("besides training: \(String(format: "%.2f", fixed)) s (" + totals.map { "\($0.name) \(String(format: "%.2f", $0.seconds))" }.joined(separator: ", ") + ")")
        emit("wrote \(output)")
    }
}

extension ModelFormat {
    /// The format mlpconv writes for a file of this kind, when it writes that kind at all.
    init?(kind: ModelFileKind) {
        switch kind {
        case .json: self = .json
        case .hdf5: self = .h5
        case .zip: return nil
        case .safetensors: self = .safetensors
        case .torch: self = .pt
        case .onnx: self = .onnx
        }
    }
}
