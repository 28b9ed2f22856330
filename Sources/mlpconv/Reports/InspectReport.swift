import Foundation
import MLPDocument
import MLPModelFiles
import MLPCore

/// What `inspect` shows, computed once and rendered as text or JSON.
struct InspectReport {
    /// A layer as the table shows it: the stored layer, its input width and what follows from its weights.
    struct Row {
        var layer: ModelDocument.Layer
        var inputs: Int
        var weights: ModelDocument.LayerWeights

        var parameters: Int { weights.kernel.count + (weights.bias?.count ?? 0) }

        /// `float32`, or `float32+float64` when kernel and bias differ.
        var dtype: String {
            Set([weights.kernel.dtype] + (weights.bias.map { [$0.dtype] } ?? [])).map(\.rawValue).sorted().joined(separator: "+")
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
            ? zip(document.parameterNames, document.parameterTensors).map { ($0, TensorStats($1)) }
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
        }
    }

    var text: String {
        let format = document.kerasSourceDescription ?? "\(formatName), format version \(ModelDocument.formatVersion)"
        var out = "\(file): \(format), \(formatBytes(bytes))\n\n"
        out += renderTable(
            header: ["layer", "shape", "activation", "bias", "parameters", "dtype"],
            rows: rows.map { row in
                [row.layer.name, "\(row.inputs) → \(row.layer.units)", row.layer.activation.name,
                 row.layer.useBias ? "yes" : "no", row.parameters.formatted(), row.dtype]
            },
            rightAligned: [4])
        let total = document.parameterCount
        let stored = document.parameterTensors.reduce(0) { $0 + $1.byteCount }
        out += "\ninput width \(document.architecture.inputWidth), \(rows.count) layers, \(total.formatted()) parameters (\(formatBytes(stored)))\n"
        if let training = document.training {
            out += "\ntraining state\n"
            out += "  loss        \(training.loss.name)\n"
            let settings = training.optimizer.config.hyperparameters.compactMap { key, value -> String? in
                switch value {
                case .number(let x): "\(key)=\(x)"
                case .flag(let flag): "\(key)=\(flag)"
                case .optionalNumber(let x?): "\(key)=\(x)"
                case .optionalNumber(nil): nil
                }
            }
            out += "  optimizer   \(training.optimizer.config.kind.name) (\(settings.joined(separator: ", ")))\n"
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
            "parameters": .int(document.parameterCount),
            "layers": .array(rows.map { row in
                .object(["name": .string(row.layer.name), "inputs": .int(row.inputs), "units": .int(row.layer.units),
                         "activation": .string(row.layer.activation.name), "use_bias": .bool(row.layer.useBias),
                         "parameters": .int(row.parameters), "dtype": .string(row.dtype)])
            }),
            "metadata": .object(document.metadata.mapValues { .string($0) }),
            "training": .null,
        ]
        if let training = document.training {
            var hyperparameters: [String: JSONOutput] = [:]
            for (key, value) in training.optimizer.config.hyperparameters {
                switch value {
                case .number(let x): hyperparameters[key] = .double(x)
                case .flag(let flag): hyperparameters[key] = .bool(flag)
                case .optionalNumber(let x): hyperparameters[key] = x.map { .double($0) } ?? .null
                }
            }
            result["training"] = .object([
                "loss": .string(training.loss.name),
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
