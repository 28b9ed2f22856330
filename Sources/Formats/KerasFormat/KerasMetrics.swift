import Foundation
import MLPCore
import JSONSupport
import MLPDocument

/// A Keras model's compiled `metrics` (docs/keras-formats.md, metrics): read from `compile_config` or
/// `training_config`, kept in the metadata as one canonical JSON text, written back so that Keras compiles the same
/// metric classes with the same names and configurations, and resolved into what the core computes.
///
/// The canonical form is Keras 3's `.keras` serialization, compact: strings as they are; metric objects as
/// `{"module": "keras.metrics", "class_name", "config", "registered_name": null}`; metric functions as
/// `{"module": "builtins", "class_name": "function", "config": "<name>", "registered_name": "function"}`. Keras's
/// `.h5` forms are brought to it on reading — an object without `module`, Keras 2's per-output nesting (`[[…]]`),
/// Keras 2's `MeanMetricWrapper` with a metric function `fn` (the class of that function, with its name and
/// settings) — so the text does not depend on the format it came from. A legacy `.h5` has no form for a metric
/// function (Keras writes its name, and reads it back as the metric class of that name); mlpconv does the same and
/// keeps the exact text in its record (`KerasExtras`).
package enum KerasMetrics {
    /// One of Keras's metric classes that the core computes: its kind, default name and the settings it takes
    /// besides `name` and `dtype`.
    struct MetricClass {
        let className: String
        let kind: MetricKind
        let defaultName: String
        let settings: Set<String>
    }

    static let classes: [MetricClass] = [
        .init(className: "BinaryAccuracy", kind: .binaryAccuracy, defaultName: "binary_accuracy", settings: ["threshold"]),
        .init(className: "CategoricalAccuracy", kind: .categoricalAccuracy, defaultName: "categorical_accuracy", settings: []),
        .init(className: "SparseCategoricalAccuracy", kind: .sparseCategoricalAccuracy,
              defaultName: "sparse_categorical_accuracy", settings: []),
        .init(className: "TopKCategoricalAccuracy", kind: .topKCategoricalAccuracy,
              defaultName: "top_k_categorical_accuracy", settings: ["k"]),
        .init(className: "SparseTopKCategoricalAccuracy", kind: .sparseTopKCategoricalAccuracy,
              defaultName: "sparse_top_k_categorical_accuracy", settings: ["k", "from_sorted_ids"]),
        .init(className: "MeanSquaredError", kind: .meanSquaredError, defaultName: "mean_squared_error", settings: []),
        .init(className: "MeanAbsoluteError", kind: .meanAbsoluteError, defaultName: "mean_absolute_error", settings: []),
        .init(className: "MeanAbsolutePercentageError", kind: .meanAbsolutePercentageError,
              defaultName: "mean_absolute_percentage_error", settings: []),
        .init(className: "MeanSquaredLogarithmicError", kind: .meanSquaredLogarithmicError,
              defaultName: "mean_squared_logarithmic_error", settings: []),
        .init(className: "RootMeanSquaredError", kind: .rootMeanSquaredError, defaultName: "root_mean_squared_error",
              settings: []),
        .init(className: "CosineSimilarity", kind: .cosineSimilarity, defaultName: "cosine_similarity", settings: ["axis"]),
        .init(className: "LogCoshError", kind: .logCoshError, defaultName: "logcosh", settings: []),
        .init(className: "BinaryCrossentropy", kind: .binaryCrossentropy, defaultName: "binary_crossentropy",
              settings: ["from_logits", "label_smoothing"]),
        .init(className: "CategoricalCrossentropy", kind: .categoricalCrossentropy, defaultName: "categorical_crossentropy",
              settings: ["from_logits", "label_smoothing", "axis"]),
        .init(className: "SparseCategoricalCrossentropy", kind: .sparseCategoricalCrossentropy,
              defaultName: "sparse_categorical_crossentropy", settings: ["from_logits", "ignore_class", "axis"]),
        .init(className: "KLDivergence", kind: .klDivergence, defaultName: "kl_divergence", settings: []),
        .init(className: "Poisson", kind: .poisson, defaultName: "poisson", settings: []),
        .init(className: "Hinge", kind: .hinge, defaultName: "hinge", settings: []),
        .init(className: "SquaredHinge", kind: .squaredHinge, defaultName: "squared_hinge", settings: []),
        .init(className: "CategoricalHinge", kind: .categoricalHinge, defaultName: "categorical_hinge", settings: []),
    ]

    /// Keras 2's metric functions whose names are not the snake-cased class name.
    static let functionAliases: [String: String] = [
        "log_cosh": "LogCoshError", "logcosh": "LogCoshError", "kullback_leibler_divergence": "KLDivergence",
        "cosine_proximity": "CosineSimilarity",
    ]

    static func metricClass(named name: String) -> MetricClass? {
        if let match = classes.first(where: { $0.className == name }) { return match }
        if let alias = functionAliases[name] { return classes.first { $0.className == alias } }
        guard let kind = MetricKind(name: name), kind != .accuracy else { return nil }
        return classes.first { $0.kind == kind }
    }

    // MARK: Reading

    /// The compiled metrics as canonical text: "" when there are none (null, absent or an empty list).
    /// Refuses objects from outside `keras.metrics` and custom (registered) classes, as every custom object is.
    package static func read(_ compileConfig: JSONValue) throws(JSONError) -> String {
        guard let value = try compileConfig.optionalValue(at: "metrics"), !value.isNull else { return "" }
        return try canonicalText(value)
    }

    /// A `metrics` list in canonical form ("" for an empty list).
    static func canonicalText(_ value: JSONValue) throws(JSONError) -> String {
        guard value.kind == .array else { throw value.error(.type, "metrics must be a list, got \(value.kind)") }
        var entries: [JSONValue] = []
        try flatten(value, into: &entries)
        guard !entries.isEmpty else { return "" }
        var writer = JSONWriter(style: .compact)
        writer.beginArray()
        for entry in entries { try canonical(entry, to: &writer) }
        writer.endArray()
        return String(decoding: writer.finish(), as: UTF8.self)
    }

    /// The metadata's text as parsed entries in canonical form; a text that is not a JSON list is the names joined
    /// by ", " that mlpconv kept before it kept metric objects.
    static func entries(_ text: String) throws(JSONError) -> [JSONValue] {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("[") else {
            var writer = JSONWriter(style: .compact)
            writer.beginArray()
            for name in trimmed.split(separator: ",") {
                let name = name.trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { writer.string(name) }
            }
            writer.endArray()
            return try JSONDocument.parse(writer.finish(), file: KerasConfig.metricsKey).root.array()
        }
        let limits = JSONLimits(maxBytes: 1 << 20, maxDepth: 16)
        let parsed = try JSONDocument.parse(Array(trimmed.utf8), file: KerasConfig.metricsKey, limits: limits)
        let canonical = try canonicalText(parsed.root)
        guard !canonical.isEmpty else { return [] }
        return try JSONDocument.parse(Array(canonical.utf8), file: KerasConfig.metricsKey, limits: limits).root.array()
    }

    /// Keras 2 nests a model's metrics per output (`[["accuracy"]]`); a model with one output has one list.
    private static func flatten(_ value: JSONValue, into entries: inout [JSONValue]) throws(JSONError) {
        for entry in try value.array() {
            if entry.kind == .array { try flatten(entry, into: &entries) } else { entries.append(entry) }
        }
    }

    private static func canonical(_ entry: JSONValue, to writer: inout JSONWriter) throws(JSONError) {
        switch entry.kind {
        case .string:
            let name = try entry.string()
            guard !name.isEmpty else { throw entry.error(.value, "a metric name must not be empty") }
            writer.string(name)
        case .object:
            let classValue = try entry.value(at: "class_name")
            let className = try classValue.string()
            if className == "function" {
                // A metric function, as Keras's .keras writes it: module "builtins", registered name "function".
                let module = try KerasConfig.optionalString(entry, "module")
                let config = try entry.optionalValue(at: "config")
                let name = config?.kind == .string ? try config?.string() : nil
                guard module == "builtins", let name, metricClass(named: name) != nil || name == "accuracy" else {
                    throw entry.error(.value, "metric function \(name ?? "?") from module \"\(module ?? "?")\" is refused: "
                                      + "only Keras's own metric functions are read, mlpconv never loads custom code")
                }
                writer.beginObject()
                writer.key("module"); writer.string("builtins")
                writer.key("class_name"); writer.string("function")
                writer.key("config"); writer.string(name)
                writer.key("registered_name"); writer.string("function")
                writer.endObject()
                return
            }
            try KerasConfig.checkBuiltIn(entry, modules: ["keras.metrics"], what: "a metric")
            let config = try entry.object(at: "config")
            writer.beginObject()
            writer.key("module"); writer.string("keras.metrics")
            if className == "MeanMetricWrapper", let fn = try config.optionalValue(at: "fn") {
                // Keras 2: the class of the wrapped function, with the wrapper's name, dtype and settings.
                let function = try fn.string()
                guard let metric = metricClass(named: function) else {
                    throw fn.error(.value, "metric function \"\(function)\" is not one of Keras's metrics")
                }
                writer.key("class_name"); writer.string(metric.className)
                writer.key("config"); writer.beginObject()
                for (key, member) in try config.members() where key != "fn" {
                    writer.key(key); try copy(member, to: &writer)
                }
                writer.endObject()
            } else {
                writer.key("class_name"); writer.string(className)
                writer.key("config"); try copy(config, to: &writer)
            }
            writer.key("registered_name"); writer.null()
            writer.endObject()
        default:
            throw entry.error(.type, "a metric must be a name or a serialized metric object, got \(entry.kind)")
        }
    }

    /// Any JSON value, member order kept; numbers in their shortest round-trip form.
    static func copy(_ value: JSONValue, to writer: inout JSONWriter) throws(JSONError) {
        switch value.kind {
        case .null: writer.null()
        case .bool: writer.bool(try value.bool())
        case .integer: writer.integer(try value.int64())
        case .number: writer.number(try value.double())
        case .string: writer.string(try value.string())
        case .array:
            writer.beginArray()
            for element in try value.array() { try copy(element, to: &writer) }
            writer.endArray()
        case .object:
            writer.beginObject()
            for (key, member) in try value.members() {
                writer.key(key); try copy(member, to: &writer)
            }
            writer.endObject()
        }
    }

    // MARK: Writing

    /// The metrics to compile with: those the model was read with from a Keras file (the metadata's text), else
    /// `accuracy` when the loss has one — what mlpconv records in the history, so Keras's `fit()` reports the same.
    /// `native` is the `.keras` form; the legacy `.h5` `training_config` leaves out `module` and
    /// `registered_name`, as Keras does.
    package static func write(_ document: ModelDocument, native: Bool, to writer: inout JSONWriter) {
        guard let text = document.metadata[KerasConfig.metricsKey] else {
            if document.training?.loss.accuracyKind != nil {
                writer.beginArray(inline: true); writer.string("accuracy"); writer.endArray()
            } else {
                writer.null()
            }
            return
        }
        // `check` has read the text already (`validate`); a text that fails here writes null.
        do {
            let entries = try entries(text)
            if entries.isEmpty { writer.null(); return }
            var out = JSONWriter(style: .compact)
            out.beginArray()
            for entry in entries {
                if !native, let function = try functionName(entry) {
                    out.string(function)
                } else if entry.kind == .object, !native {
                    out.beginObject()
                    for (key, member) in try entry.members() where key != "module" && key != "registered_name" {
                        out.key(key); try copy(member, to: &out)
                    }
                    out.endObject()
                } else {
                    try copy(entry, to: &out)
                }
            }
            out.endArray()
            writer.raw(out.finish())
        } catch {
            writer.null()
        }
    }

    /// The name of a metric function entry (`{"class_name": "function", "config": name}`), else nil.
    static func functionName(_ entry: JSONValue) throws(JSONError) -> String? {
        guard entry.kind == .object, try KerasConfig.optionalString(entry, "class_name") == "function" else { return nil }
        return try KerasConfig.optionalString(entry, "config")
    }

    /// The metadata's text when a legacy `.h5` cannot hold it (it has metric functions, which `.h5` names), for
    /// mlpconv's record; nil otherwise.
    package static func textLostInH5(_ document: ModelDocument) -> String? {
        guard let text = document.metadata[KerasConfig.metricsKey], let entries = try? entries(text),
              entries.contains(where: { (try? functionName($0)) != nil }) else { return nil }
        return text
    }

    /// The record's text, when what the `.h5` holds is that text with its functions named: then it is the same list.
    package static func recordedText(_ recorded: String, matches fileText: String?) -> Bool {
        guard let fileText, let recordedEntries = try? entries(recorded), let fileEntries = try? entries(fileText),
              recordedEntries.count == fileEntries.count else { return false }
        var named = JSONWriter(style: .compact)
        named.beginArray()
        for entry in recordedEntries {
            if let function = try? functionName(entry) { named.string(function) } else { try? copy(entry, to: &named) }
        }
        named.endArray()
        return String(decoding: named.finish(), as: UTF8.self) == fileText
    }

    /// Checks the metadata's text before a Keras file is written: the same rules as reading a file.
    package static func validate(_ document: ModelDocument, file: String) throws(ModelFileError) {
        guard let text = document.metadata[KerasConfig.metricsKey] else { return }
        do { _ = try entries(text) } catch {
            throw ModelFileError(file: file, object: "metadata \(KerasConfig.metricsKey) \(error.path)", reason: error.reason)
        }
    }
}
