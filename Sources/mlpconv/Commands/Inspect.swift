import ArgumentParser
import Foundation
import MLPDocument
import MLPModelFiles
import MLPCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a model file holds: architecture, parameter counts, training state, metadata.",
        discussion: "The format is detected from the file's content. With --stats, per-tensor statistics are added.")

    @Argument(help: "The model file (any supported format).")
    var file: String

    @Flag(help: "Add per-tensor min, max, mean, standard deviation and NaN/Inf counts.")
    var stats = false

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func run() throws {
        let kind = try ModelFiles.detectKind(at: file)
        let document = try IsolatedRead.load(file)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
        let report = InspectReport(file: file, kind: kind, bytes: bytes, document: document, includeStats: stats)
        if json { printJSON(report.json) } else { print(report.text, terminator: "") }
    }
}

/// What `inspect` shows, computed once and rendered as text or JSON.
struct InspectReport {
    struct Row {
        var name: String
        var inputs: Int
        var units: Int
        var activation: String
        var bias: Bool
        var parameters: Int
        var dtype: String
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
            let weights = document.weights[index]
            let dtypes = Set([weights.kernel.dtype] + (weights.bias.map { [$0.dtype] } ?? [])).map(\.rawValue).sorted()
            return Row(name: layer.name, inputs: document.architecture.inputWidth(ofLayer: index), units: layer.units,
                       activation: layer.activation.name, bias: layer.useBias,
                       parameters: weights.kernel.count + (weights.bias?.count ?? 0), dtype: dtypes.joined(separator: "+"))
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
            rows: rows.map { [$0.name, "\($0.inputs) → \($0.units)", $0.activation, $0.bias ? "yes" : "no",
                              $0.parameters.formatted(), $0.dtype] },
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
            out += "  state       step \(training.optimizer.iterations), slots: \(slots.isEmpty ? "none" : slots.joined(separator: ", "))\n"
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
                .object(["name": .string(row.name), "inputs": .int(row.inputs), "units": .int(row.units),
                         "activation": .string(row.activation), "use_bias": .bool(row.bias),
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
                                      "slots": .array(training.optimizer.slots.map { .string($0.name) })]),
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

func formatMetric(_ value: Double) -> String {
    guard value.isFinite else { return value.isNaN ? "NaN" : value > 0 ? "inf" : "-inf" }
    if value != 0 && (abs(value) < 1e-3 || abs(value) >= 1e5) { return String(format: "%.3e", value) }
    return String(format: "%.4f", value)
}

/// One character per value, eight levels between the smallest and largest finite value.
func sparkline(_ values: [Double]) -> String {
    let bars = Array("▁▂▃▄▅▆▇█")
    let finite = values.filter(\.isFinite)
    guard let low = finite.min(), let high = finite.max() else { return String(repeating: "?", count: values.count) }
    return String(values.map { value in
        guard value.isFinite else { return "!" }
        let level = high > low ? Int(((value - low) / (high - low) * 7).rounded()) : 3
        return bars[level]
    })
}

/// A plain text table: columns padded to their widest cell, a rule under the header.
func renderTable(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let widths = header.indices.map { column in
        ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { column, cell in
            let pad = String(repeating: " ", count: widths[column] - cell.count)
            return rightAligned.contains(column) ? pad + cell : cell + pad
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
    }
    return line(header) + line(widths.map { String(repeating: "─", count: $0) }) + rows.map(line).joined()
}
