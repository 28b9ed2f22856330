import Foundation
internal import FileSupport
import MLPDocument
import MLPModelFiles
import MLPCore
internal import TextSupport

/// What `inspect` shows, computed once and rendered as text or JSON.
struct InspectReport {
    /// A layer as the table shows it: the stored layer, its input width and what follows from its weights.
    struct Row {
        var layer: ModelDocument.Layer
        var inputs: Int
        var weights: ModelDocument.LayerWeights

        var outputs: Int { layer.kind.outputWidth(inputWidth: inputs) }

        /// Every stored value, moving statistics included.
        var parameters: Int { weights.tensors.values.reduce(0) { $0 + $1.count } }

        /// `float32`, or `float32+float64` when the layer's tensors differ; `—` for a layer without weights.
        var dtype: String {
            let dtypes = Set(weights.tensors.values.map(\.dtype.rawValue)).sorted()
            return dtypes.isEmpty ? "—" : dtypes.joined(separator: "+")
        }

        var activation: String {
            switch layer.kind {
            case .dense(let dense): dense.activation.name
            case .activation(let activation): activation.name
            default: "—"
            }
        }

        var bias: String {
            switch layer.kind {
            case .dense(let dense): dense.useBias ? "yes" : "no"
            case .batchNormalization(let bn): bn.center ? "yes" : "no"
            case .layerNormalization(let ln): ln.center ? "yes" : "no"
            default: "—"
            }
        }

        /// The settings the other columns do not show: `rate 0.3`, `momentum 0.99, epsilon 0.001`,
        /// `kernel_regularizer L2(0.01)`, ….
        var settings: [(String, String)] {
            switch layer.kind {
            case .dense(let dense):
                var list: [(String, String)] = []
                for (key, regularizer) in [("kernel_regularizer", dense.kernelRegularizer), ("bias_regularizer", dense.biasRegularizer),
                                           ("activity_regularizer", dense.activityRegularizer)] {
                    if let regularizer { list.append((key, regularizer.summary)) }
                }
                for (key, constraint) in [("kernel_constraint", dense.kernelConstraint), ("bias_constraint", dense.biasConstraint)] {
                    if let constraint { list.append((key, constraint.summary)) }
                }
                return list
            case .dropout(let dropout):
                return [("rate", formatNumber(dropout.rate))] + (dropout.seed.map { [("seed", String($0))] } ?? [])
            case .batchNormalization(let bn):
                return [("momentum", formatNumber(bn.momentum)), ("epsilon", formatNumber(bn.epsilon)),
                        ("scale", bn.scale ? "yes" : "no")]
            case .layerNormalization(let ln):
                return [("epsilon", formatNumber(ln.epsilon)), ("scale", ln.scale ? "yes" : "no")]
            case .activation, .flatten:
                return []
            }
        }
    }

    let file: String
    let kind: ModelFileKind
    let bytes: Int
    let document: ModelDocument
    let rows: [Row]
    let tensorStats: [(name: String, stats: TensorStats)]?

    init(file: String, kind: ModelFileKind, bytes: Int, document: ModelDocument, includeStats: Bool) {
        self.file = file
        self.kind = kind
        self.bytes = bytes
        self.document = document
        rows = document.architecture.layers.enumerated().map { index, layer in
            Row(layer: layer, inputs: document.architecture.inputWidth(ofLayer: index), weights: document.weights[index])
        }
        tensorStats = includeStats
            ? zip(document.variableNames, document.variableTensors).map { ($0, TensorStats($1)) }
                + (document.training?.optimizer.slots.flatMap { slot in
                    zip(document.parameterNames, slot.tensors).map { ("optimizer/\(slot.name)/\($0)", TensorStats($1)) }
                } ?? [])
            : nil
    }

    var formatName: String {
        switch kind {
        case .hdf5: "mlpconv HDF5"
        case .json: "mlpconv JSON"
        case .zip: "zip"
        case .safetensors: "safetensors"
        case .torch: "PyTorch checkpoint (torch.save)"
        case .onnx: "ONNX"
        }
    }

    var text: String {
        let format = document.kerasSourceDescription ?? "\(formatName), format version \(ModelDocument.formatVersion)"
        var out = "\(file): \(format), \(formatBytes(bytes))\n\n"
        let showSettings = rows.contains { !$0.settings.isEmpty }
        out += renderTable(
            header: ["layer", "type", "shape", "activation", "bias", "parameters", "dtype"] + (showSettings ? ["settings"] : []),
            rows: rows.map { row in
                [row.layer.name, row.layer.kind.typeName, "\(row.inputs) → \(row.outputs)", row.activation, row.bias,
                 row.parameters.formatted(), row.dtype]
                    + (showSettings ? [row.settings.map { "\($0) \($1)" }.joined(separator: ", ")] : [])
            },
            rightAligned: [5])
        let total = document.weightCount, trainable = document.parameterCount
        let stored = document.variableTensors.reduce(0) { $0 + $1.byteCount }
        let input = document.architecture.inputShape.map { "input shape \($0.map(String.init).joined(separator: "×")) (width \(document.architecture.inputWidth))" }
            ?? "input width \(document.architecture.inputWidth)"
        let counts = total == trainable ? "\(total.formatted()) parameters" : "\(total.formatted()) parameters (\(trainable.formatted()) trainable)"
        out += "\n\(input), \(rows.count) layers, \(counts) (\(formatBytes(stored)))\n"
        switch ModelFiles.torchSequential(of: document) {
        case .success(let sequential): out += "torch: \(sequential)\n"
        case .failure(let error): out += "torch: not expressible (\(error.object): \(error.reason))\n"
        }
        if let training = document.training {
            out += "\ntraining state\n"
            out += "  loss        \(training.loss)\n"
            let schedule = training.optimizer.config.schedule
            let settings = training.optimizer.config.hyperparameters.compactMap { key, value -> String? in
                if key == "learning_rate", schedule != nil { return "learning_rate=schedule" }
                let counts: Set<String> = ["ema_overwrite_frequency", "gradient_accumulation_steps", "dynamic_growth_steps"]
                return switch value {
                case .number(let x) where counts.contains(key) && x == x.rounded() && abs(x) < 1e15: "\(key)=\(Int(x))"
                case .optionalNumber(let x?) where counts.contains(key) && x == x.rounded() && abs(x) < 1e15: "\(key)=\(Int(x))"
                case .number(let x): "\(key)=\(x)"
                case .flag(let flag): "\(key)=\(flag)"
                case .optionalNumber(let x?): "\(key)=\(x)"
                case .optionalNumber(nil): nil
                }
            }
            out += "  optimizer   \(training.optimizer.config.kind.name) (\(settings.joined(separator: ", ")))\n"
            if let schedule {
                out += "  schedule    \(schedule.summary)\n"
                out += "  rate now    \(scheduledRate(schedule, training.optimizer.iterations)) at step \(training.optimizer.iterations)"
                    + (schedule.firstNonFiniteStep(through: Int(Int32.max)).map { ", NaN from step \($0) on (Keras's float32 arithmetic)" } ?? "")
                    + "\n"
            }
            if let wrappers = wrapperSummary(training.optimizer) { out += "  wrappers    \(wrappers)\n" }
            let slots = training.optimizer.slots.map(\.name)
            let scalars = training.optimizer.scalars.map { ", \($0.name) \($0.value)" }.joined()
            out += "  state       step \(training.optimizer.iterations), slots: \(slots.isEmpty ? "none" : slots.joined(separator: ", "))\(scalars)\n"
            out += "  epochs      \(training.epochsCompleted)\n"
            if let last = training.history.last {
                out += "  last epoch  " + last.orderedKeys.map { "\($0) \(formatMetric(last.metrics[$0] ?? .nan))" }.joined(separator: ", ") + "\n"
            }
            let losses = training.history.compactMap { $0.metrics["loss"] }
            if losses.count > 1 { out += "  loss        \(sparkline(losses))  (\(formatMetric(losses[0])) → \(formatMetric(losses[losses.count - 1])))\n" }
            out += "  generator   \(training.randomState == nil ? "none stored (a resumed run seeds a new one)" : "state stored")\n"
        } else {
            if let note = document.metadata["keras_training_state"] {
                out += "\nno training state: the Keras file's was \(note)\n"
            } else if let note = document.metadata["safetensors_training_state"] {
                out += "\nno training state: \(note)\n"
            } else {
                out += "\nno training state (no loss or optimizer stored)\n"
            }
        }
        if !document.metadata.isEmpty {
            out += "\nmetadata\n"
            let width = document.metadata.keys.map(\.count).max() ?? 0
            for key in document.metadata.keys.sorted() {
                out += "  " + key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + (document.metadata[key] ?? "") + "\n"
            }
        }
        if let tensorStats {
            out += "\ntensor statistics\n"
            out += renderTable(
                header: ["tensor", "count", "min", "max", "mean", "std", "NaN", "Inf"],
                rows: tensorStats.map { name, s in
                    [name, s.count.formatted(), formatMetric(s.min), formatMetric(s.max), formatMetric(s.mean),
                     formatMetric(s.standardDeviation), String(s.nanCount), String(s.infinityCount)]
                },
                rightAligned: [1, 2, 3, 4, 5, 6, 7])
        }
        return out
    }

    var json: [String: JSONOutput] {
        var result: [String: JSONOutput] = [
            "file": .string(file), "format": .string(kind.rawValue), "format_version": .int(ModelDocument.formatVersion),
            "bytes": .int(bytes), "input_width": .int(document.architecture.inputWidth),
            "input_shape": document.architecture.inputShape.map { .array($0.map { .int($0) }) } ?? .null,
            "parameters": .int(document.weightCount), "trainable_parameters": .int(document.parameterCount),
            "layers": .array(rows.map { row -> JSONOutput in
                var object: [String: JSONOutput] = [
                    "name": .string(row.layer.name), "type": .string(row.layer.kind.typeName), "inputs": .int(row.inputs),
                    "outputs": .int(row.outputs), "parameters": .int(row.parameters), "dtype": .string(row.dtype),
                    "settings": .object(Dictionary(uniqueKeysWithValues: row.settings.map { ($0, .string($1)) })),
                ]
                if case .dense(let dense) = row.layer.kind {
                    object["units"] = .int(dense.units)
                    object["use_bias"] = .bool(dense.useBias)
                }
                if row.activation != "—" { object["activation"] = .string(row.activation) }
                return .object(object)
            }),
            "metadata": .object(document.metadata.mapValues { .string($0) }),
            "training": .null,
        ]
        // Always both keys: the model's torch nn.Sequential, or why torch cannot express it.
        switch ModelFiles.torchSequential(of: document) {
        case .success(let sequential): result["torch"] = .object(["sequential": .string(sequential), "not_expressible": .null])
        case .failure(let error):
            result["torch"] = .object(["sequential": .null, "not_expressible": .string("\(error.object): \(error.reason)")])
        }
        if let training = document.training {
            var hyperparameters: [String: JSONOutput] = [:]
            for (key, value) in training.optimizer.config.hyperparameters {
                if key == "learning_rate", let schedule = training.optimizer.config.schedule {
                    hyperparameters[key] = scheduleJSON(schedule, step: training.optimizer.iterations)
                    continue
                }
                switch value {
                case .number(let x): hyperparameters[key] = .double(x)
                case .flag(let flag): hyperparameters[key] = .bool(flag)
                case .optionalNumber(let x): hyperparameters[key] = x.map { .double($0) } ?? .null
                }
            }
            result["training"] = .object([
                "loss": .string(training.loss.name),
                "loss_settings": .object(lossSettings(training.loss)),
                "optimizer": .object(["name": .string(training.optimizer.config.kind.name),
                                      "hyperparameters": .object(hyperparameters),
                                      "iterations": .int(training.optimizer.iterations),
                                      "slots": .array(training.optimizer.slots.map { .string($0.name) }),
                                      "scalars": .object(Dictionary(uniqueKeysWithValues: training.optimizer.scalars.map {
                                          ($0.name, JSONOutput.double($0.value))
                                      }))]),
                "epochs_completed": .int(training.epochsCompleted),
                "random_state_stored": .bool(training.randomState != nil),
                "history": .array(training.history.map { record in
                    .object(["epoch": .int(record.epoch), "metrics": .object(record.metrics.mapValues { .double($0) })])
                }),
            ])
        }
        if let tensorStats {
            result["stats"] = .array(tensorStats.map { name, s in
                .object(["tensor": .string(name), "count": .int(s.count), "min": .double(s.min), "max": .double(s.max),
                         "mean": .double(s.mean), "std": .double(s.standardDeviation), "nan": .int(s.nanCount),
                         "inf": .int(s.infinityCount)])
            })
        }
        return result
    }
}

/// The rate a schedule gives for the next update, as float32 training uses it (shortest float32 text).
private func scheduledRate(_ schedule: LearningRateSchedule, _ step: Int) -> String {
    let rate = schedule.learningRate(atStep: step, as: Float.self)
    return rate.isFinite ? "\(rate)" : "NaN"
}

/// `{"schedule": kind, <parameters>…, "rate_now": x, "step": n}` for `inspect --json`.
private func scheduleJSON(_ schedule: LearningRateSchedule, step: Int) -> JSONOutput {
    var object: [String: JSONOutput] = ["schedule": .string(schedule.kind.name), "step": .int(step)]
    for (key, value) in schedule.parameters {
        switch value {
        case .number(let x): object[key] = .double(x)
        case .flag(let flag): object[key] = .bool(flag)
        case .optionalNumber(let x): object[key] = x.map { .double($0) } ?? .null
        case .numbers(let list): object[key] = .array(list.map { .double($0) })
        }
    }
    let rate = schedule.learningRate(atStep: step, as: Float.self)
    object["rate_now"] = rate.isFinite ? .double(Double(rate)) : .null
    return .object(object)
}

/// Summary statistics over a tensor's finite values, with the non-finite ones counted apart.
struct TensorStats {
    var count = 0
    var nanCount = 0
    var infinityCount = 0
    var min = Double.nan
    var max = Double.nan
    var mean = Double.nan
    var standardDeviation = Double.nan

    init(_ tensor: Tensor) {
        count = tensor.count
        var finite = 0, sum = 0.0, low = Double.infinity, high = -Double.infinity
        var sumOfSquares = 0.0
        func add(_ x: Double) {
            if x.isNaN { nanCount += 1; return }
            if x.isInfinite { infinityCount += 1; return }
            finite += 1
            sum += x
            sumOfSquares += x * x
            low = Swift.min(low, x)
            high = Swift.max(high, x)
        }
        switch tensor.storage {
        case .float32(let values): for x in values { add(Double(x)) }
        case .float64(let values): for x in values { add(x) }
        }
        guard finite > 0 else { return }
        min = low
        max = high
        mean = sum / Double(finite)
        standardDeviation = (Swift.max(0, sumOfSquares / Double(finite) - mean * mean)).squareRoot()
    }
}

extension ModelDocument {
    /// Where a model read from a Keras file came from, as inspect names it: "Keras 3.15.1 legacy HDF5 (backend jax)",
    /// "Keras 3.15.1 .keras archive". Nil for documents that were not read from a Keras file.
    var kerasSourceDescription: String? {
        let version = metadata["keras_version"].map { "Keras \($0)" } ?? "Keras"
        switch metadata["source_format"] {
        case "keras-h5": return "\(version) legacy HDF5" + (metadata["backend"].map { " (backend \($0))" } ?? "")
        case "keras": return "\(version) .keras archive"
        default: return nil
        }
    }
}

extension Regularizer {
    /// `L2(0.01)`, `L1L2(l1=0.01, l2=0.001)`: Keras's class names.
    var summary: String {
        switch self {
        case .l1(let l1): "L1(\(formatNumber(l1)))"
        case .l2(let l2): "L2(\(formatNumber(l2)))"
        case .l1l2(let l1, let l2): "L1L2(l1=\(formatNumber(l1)), l2=\(formatNumber(l2)))"
        }
    }
}

extension Constraint {
    var summary: String {
        switch self {
        case .nonNeg: "NonNeg"
        case .maxNorm(let maxValue, let axis): "MaxNorm(max_value=\(formatNumber(maxValue)), axis=\(axis))"
        case .unitNorm(let axis): "UnitNorm(axis=\(axis))"
        case .minMaxNorm(let minValue, let maxValue, let rate, let axis):
            "MinMaxNorm(min_value=\(formatNumber(minValue)), max_value=\(formatNumber(maxValue)), rate=\(formatNumber(rate)), axis=\(axis))"
        }
    }
}

/// The settings the loss has (`from_logits`, `label_smoothing`, `delta`, `beta`), at their values, defaults included.
private func lossSettings(_ loss: Loss) -> [String: JSONOutput] {
    var settings: [String: JSONOutput] = [:]
    if loss.kind.acceptsLogits { settings["from_logits"] = .bool(loss.fromLogits) }
    if loss.kind.acceptsLabelSmoothing { settings["label_smoothing"] = .double(loss.labelSmoothing) }
    if loss.kind == .huber { settings["delta"] = .double(loss.delta) }
    if loss.kind == .smoothL1 { settings["beta"] = .double(loss.beta) }
    return settings
}

/// Keras's base-optimizer settings in words (docs/numerics.md, optimizer wrappers), or nil when none is set.
func wrapperSummary(_ optimizer: ModelDocument.OptimizerRecord) -> String? {
    let config = optimizer.config
    var parts: [String] = []
    if config.useEMA {
        parts.append("moving average of the weights (momentum \(config.emaMomentum)), copied into them "
                     + (config.emaOverwriteFrequency.map { "every \($0) updates and " } ?? "") + "at the end of each fit")
    }
    if let steps = config.gradientAccumulationSteps {
        let pending = optimizer.iterations % steps
        parts.append("gradients accumulated over \(steps) steps (\(optimizer.iterations / steps) updates so far, "
                     + "\(pending) step\(pending == 1 ? "" : "s") accumulated)")
    }
    if let factor = config.lossScaleFactor { parts.append("loss scaled by \(factor)") }
    if let scale = config.dynamicLossScale {
        parts.append("dynamic loss scale \(optimizer.scalar("dynamic_scale")) (initial \(scale.initialScale), doubles after "
                     + "\(scale.dynamicGrowthSteps) finite steps, \(Int(optimizer.scalar("step_counter"))) so far; halves and skips the step on a non-finite gradient)")
    }
    return parts.isEmpty ? nil : parts.joined(separator: "; ")
}
