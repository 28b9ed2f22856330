import MLPCore
import JSONSupport
import MLPDocument

/// The JSON forms of the document's parts that both codecs share: the HDF5 codec stores the architecture and
/// the history as the same JSON text the JSON codec embeds, so one schema validates both.
package enum DocumentJSON {
    package static let architectureKeys: Set<String> = ["input_width", "input_shape", "layers"]
    /// Widths beyond this are refused before anything is allocated for them.
    package static let maxWidth = LoadLimits.maxWidth

    // MARK: Architecture

    package static func write(_ architecture: ModelDocument.Architecture, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("input_width")
        writer.integer(architecture.inputWidth)
        if let shape = architecture.inputShape {
            writer.key("input_shape")
            writer.beginArray(inline: true)
            for dimension in shape { writer.integer(dimension) }
            writer.endArray()
        }
        writer.key("layers")
        writer.beginArray()
        for layer in architecture.layers { write(layer, to: &writer) }
        writer.endArray()
        writer.endObject()
    }

    package static func architectureText(_ architecture: ModelDocument.Architecture) -> String {
        var writer = JSONWriter()
        write(architecture, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    package static func readArchitecture(_ value: JSONValue) throws(JSONError) -> ModelDocument.Architecture {
        try requireKeys(value, allowed: architectureKeys)
        let inputWidth = try width(try value.value(at: "input_width"))
        let layerValues = try value.value(at: "layers").array()
        guard !layerValues.isEmpty else {
            throw try value.value(at: "layers").error(.value, "a model needs at least one layer")
        }
        var layers: [ModelDocument.Layer] = []
        var names = Set<String>()
        for layerValue in layerValues {
            let nameValue = try layerValue.value(at: "name")
            let name = try nameValue.string()
            do { try ModelDocument.checkLayerName(name, object: "") } catch {
                throw nameValue.error(.value, error.reason)
            }
            guard names.insert(name).inserted else {
                throw nameValue.error(.value, "layer name \"\(name)\" is used twice; names must be unique")
            }
            layers.append(try readLayer(layerValue, name: name))
        }
        var inputShape: [Int]?
        if let shapeValue = try value.optionalValue(at: "input_shape") {
            var shape: [Int] = []
            for dimension in try shapeValue.array() { shape.append(try width(dimension)) }
            guard shape.count > 1, shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) == inputWidth else {
                throw shapeValue.error(.value, "expected two or more axes whose product is input_width \(inputWidth), got \(shape)")
            }
            guard case .flatten = layers[0].kind else {
                throw shapeValue.error(.value, "an input of shape \(shape) must be flattened by the first layer (a flatten layer)")
            }
            inputShape = shape
        }
        return ModelDocument.Architecture(inputWidth: inputWidth, inputShape: inputShape, layers: layers)
    }

    /// A width (`input_width`, `units`): a positive integer up to `maxWidth`.
    package static func width(_ value: JSONValue) throws(JSONError) -> Int {
        let found = try value.int64()
        guard found >= 1, found <= maxWidth else {
            throw value.error(.value, found < 1 ? "expected a positive integer, got \(found)"
                                                : "expected a positive integer up to \(maxWidth), got \(found)")
        }
        return Int(found)
    }

    /// Parses a JSON text a format keeps inside its own container (safetensors' `__metadata__` strings, a torch
    /// checkpoint's mlpconv entries) and hands its root to `body`; errors name `object` and the path inside the text.
    package static func parse(
        text: String, file: String, object: String, _ body: (JSONValue) throws(JSONError) -> Void
    ) throws(ModelFileError) {
        do {
            let bytes = Array(text.utf8)
            let document = try bytes.withUnsafeBytes { raw in
                Result { () throws(JSONError) in
                    try JSONDocument.parse(raw, file: file, limits: JSONLimits(maxBytes: 64 << 20, maxDepth: 8))
                }
            }.get()
            try body(document.root)
        } catch {
            throw ModelFileError(file: file, object: "\(object) \(error.path)", reason: error.reason)
        }
    }

    package static func readArchitecture(text: String, file: String, object: String) throws(ModelFileError) -> ModelDocument.Architecture {
        do {
            let document = try JSONDocument.parse(Array(text.utf8), file: file, limits: JSONLimits(maxBytes: 16 << 20, maxDepth: 8))
            return try readArchitecture(document.root)
        } catch {
            throw ModelFileError(file: file, object: "\(object) \(error.path)", reason: error.reason)
        }
    }

    // MARK: History

    /// `[{"epoch": 1, "metrics": {"loss": 0.5, …}}, …]`; non-finite metric values (a diverged loss) are the
    /// strings `"NaN"`, `"Infinity"` and `"-Infinity"`, since JSON has no literals for them.
    package static func write(_ history: [EpochRecord], to writer: inout JSONWriter) {
        writer.beginArray()
        for record in history {
            writer.beginObject(inline: true)
            writer.key("epoch"); writer.integer(record.epoch)
            writer.key("metrics")
            writer.beginObject()
            for key in record.orderedKeys {
                writer.key(key)
                writeMetric(record.metrics[key] ?? .nan, to: &writer)
            }
            writer.endObject()
            writer.endObject()
        }
        writer.endArray()
    }

    package static func historyText(_ history: [EpochRecord]) -> String {
        var writer = JSONWriter()
        write(history, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    package static func writeMetric(_ value: Double, to writer: inout JSONWriter) {
        if value.isFinite { writer.number(value) }
        else if value.isNaN { writer.string("NaN") }
        else { writer.string(value > 0 ? "Infinity" : "-Infinity") }
    }

    package static func readHistory(_ value: JSONValue) throws(JSONError) -> [EpochRecord] {
        var records: [EpochRecord] = []
        for entry in try value.array() {
            try requireKeys(entry, allowed: ["epoch", "metrics"])
            let epoch = try entry.value(at: "epoch").int(in: 1...Int(Int32.max))
            var metrics: [String: Double] = [:]
            for (key, metric) in try entry.object(at: "metrics").members() {
                metrics[key] = try readMetric(metric)
            }
            records.append(EpochRecord(epoch: epoch, metrics: metrics))
        }
        return records
    }

    package static func readHistory(text: String, file: String, object: String) throws(ModelFileError) -> [EpochRecord] {
        do {
            let document = try JSONDocument.parse(Array(text.utf8), file: file, limits: JSONLimits(maxBytes: 64 << 20, maxDepth: 8))
            return try readHistory(document.root)
        } catch {
            throw ModelFileError(file: file, object: "\(object) \(error.path)", reason: error.reason)
        }
    }

    package static func readMetric(_ value: JSONValue) throws(JSONError) -> Double {
        if value.kind == .string {
            switch try value.string() {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            case let other: throw value.error(.value, "expected a number or \"NaN\", \"Infinity\", \"-Infinity\", found \"\(other)\"")
            }
        }
        return try value.double()
    }

    // MARK: Random state

    /// The generator's four state words as 16 hex digits each: JSON numbers cannot hold 64-bit unsigned values
    /// exactly (many readers go through double).
    package static func write(_ state: RandomState, to writer: inout JSONWriter) {
        writer.beginArray(inline: true)
        for word in state.wordArray {
            let digits = String(word, radix: 16)
            writer.string(String(repeating: "0", count: 16 - digits.count) + digits)
        }
        writer.endArray()
    }

    package static func readRandomState(_ value: JSONValue) throws(JSONError) -> RandomState {
        let elements = try value.array()
        guard elements.count == 4 else {
            throw value.error(.value, "expected 4 state words (16 hex digits each), found \(elements.count)")
        }
        var words: [UInt64] = []
        for element in elements {
            let text = try element.string()
            guard text.utf8.count == 16, text.utf8.allSatisfy({ $0.isHexDigit }), let word = UInt64(text, radix: 16) else {
                throw element.error(.value, "expected 16 hex digits, found \(JSONPath.quoted(text))")
            }
            words.append(word)
        }
        guard let state = RandomState(words: words) else {
            throw value.error(.value, "the all-zero state is not a valid xoshiro256** state")
        }
        return state
    }

    // MARK: Optimizer hyperparameters

    /// `{"learning_rate": 0.001, "beta_1": 0.9, …, "amsgrad": false, "clipnorm": null, …}`: exactly the keys that
    /// apply to the optimizer, under Keras's names; `learning_rate` is an object when a schedule is set.
    package static func write(hyperparameters config: OptimizerConfig, to writer: inout JSONWriter) {
        writer.beginObject(inline: true)
        for (key, value) in config.hyperparameters {
            writer.key(key)
            if key == "learning_rate", let schedule = config.schedule {
                write(schedule, to: &writer)  // DocumentJSON+Schedule.swift
                continue
            }
            switch value {
            case .number(let number): writer.number(number)
            case .flag(let flag): writer.bool(flag)
            case .optionalNumber(let number?): writer.number(number)
            case .optionalNumber(nil): writer.null()
            }
        }
        writer.endObject()
    }

    package static func readOptimizerConfig(kind: OptimizerKind, hyperparameters value: JSONValue) throws(JSONError) -> OptimizerConfig {
        var parsed: [String: Hyperparameter] = [:]
        var schedule: LearningRateSchedule?
        for (key, member) in try value.members() {
            if key == "learning_rate", member.kind == .object {
                schedule = try readSchedule(member)
                continue
            }
            switch member.kind {
            case .null: parsed[key] = .optionalNumber(nil)
            case .bool: parsed[key] = .flag(try member.bool())
            default: parsed[key] = .number(try member.double())
            }
        }
        do {
            return try OptimizerConfig(kind, hyperparameters: parsed, schedule: schedule)
        } catch {
            switch error {
            case .unknownHyperparameter(_, let key, _), .invalidHyperparameter(let key, _):
                let target = (try? value.optionalValue(at: key)) ?? nil
                throw (target ?? value).error(.value, error.description)
            default:
                throw value.error(.value, error.description)
            }
        }
    }

    // MARK: Helpers

    /// Refuses keys this version does not know, so a typo (`"unit"`) is an error rather than silently ignored.
    package static func requireKeys(_ value: JSONValue, allowed: Set<String>) throws(JSONError) {
        for key in try value.keys() where !allowed.contains(key) {
            throw value.error(.value, "unknown key \(JSONPath.quoted(key)); expected \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// A name from a closed set (activation, initializer, loss, optimizer); the error lists the accepted names.
    package static func named<T>(
        _ object: JSONValue, _ key: String, _ make: (String) -> T?, _ accepted: [String], what: String, default: T? = nil
    ) throws(JSONError) -> T {
        let member: JSONValue
        if let found = try object.optionalValue(at: key) {
            member = found
        } else if let `default` {
            return `default`
        } else {
            member = try object.value(at: key)  // throws "required key … is missing"
        }
        let name = try member.string()
        guard let result = make(name) else {
            throw member.error(.value, "unknown \(what) \"\(name)\"; supported: \(accepted.joined(separator: ", "))")
        }
        return result
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
