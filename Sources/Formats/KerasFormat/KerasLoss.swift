import MLPCore
import JSONSupport
import MLPDocument

// Losses as Keras's compile configuration holds them: a name (`"mse"`, `"categorical_crossentropy"`,
// `"MeanSquaredError"`) or a serialized built-in loss object with its settings.
extension KerasConfig {
    /// A loss as `compile_config`/`training_config` stores it.
    package static func readLoss(_ value: JSONValue) throws(JSONError) -> Loss {
        switch value.kind {
        case .string:
            return Loss(try lossKind(named: try value.string(), at: value))
        case .object:
            try checkBuiltIn(value, modules: ["keras.losses"], what: "a loss")
            let className = try value.value(at: "class_name")
            let kind = try lossKind(named: try className.string(), at: className)
            guard let config = try value.optionalValue(at: "config"), config.kind == .object else { return Loss(kind) }
            return try readLossSettings(config, kind: kind)
        default:
            throw value.error(.type, "expected a loss name (multi-output and custom losses are not supported)")
        }
    }

    /// Keras accepts a loss's function name, its class name and the upper-case aliases (`MSE`, `KLD`).
    private static func lossKind(named name: String, at value: JSONValue) throws(JSONError) -> LossKind {
        guard let kind = LossKind(name: name) ?? LossKind(name: snakeCase(name)), !kind.isTorchOnly else {
            throw value.error(.value, "unknown Keras loss \"\(name)\"; supported: "
                              + LossKind.kerasNames.joined(separator: ", "))
        }
        return kind
    }

    /// A loss object's settings. Those mlpconv computes are read; every other one must be its default, or the loss
    /// would not be the one mlpconv computes (silently training another loss).
    private static func readLossSettings(_ config: JSONValue, kind: LossKind) throws(JSONError) -> Loss {
        var fromLogits = false
        var labelSmoothing = 0.0
        var delta = Loss.defaultDelta
        var members: [String: JSONValue] = [:]
        for (key, member) in try config.members() {
            members[key] = member
            switch key {
            case "name", "dtype":
                continue
            case "reduction":
                // Keras 2's "auto" is sum_over_batch_size inside fit().
                guard !member.isNull else { continue }
                let reduction = try member.string()
                guard reduction == "sum_over_batch_size" || reduction == "auto" else {
                    throw member.error(.value, "loss reduction \"\(reduction)\" is not supported; mlpconv averages over "
                                       + "the batch (sum_over_batch_size)")
                }
            case "from_logits":
                fromLogits = try member.bool()
            case "label_smoothing":
                labelSmoothing = try member.double()
            case "delta":
                delta = try member.double()
            case "axis":
                let axis = try member.int64()
                guard axis == -1 || axis == 1 else {
                    throw member.error(.value, "a loss over axis \(axis) is not supported; mlpconv's is the last")
                }
            case "ignore_class":
                if !member.isNull { throw member.error(.value, "ignore_class is not supported yet") }
            default:
                throw member.error(.value, "loss setting \"\(key)\" is not supported")
            }
        }
        do {
            return try Loss(kind, fromLogits: fromLogits, labelSmoothing: labelSmoothing, delta: delta)
        } catch {
            let key = fromLogits && !kind.acceptsLogits ? "from_logits" : labelSmoothing != 0 ? "label_smoothing" : "delta"
            throw (members[key] ?? config).error(.value, error.description)
        }
    }
}

extension KerasWriting {
    /// The plain name while every setting is its default (what Keras writes for a loss given by name); otherwise
    /// the serialized loss object Keras writes for `keras.losses.BinaryCrossentropy(from_logits=True, …)`, with
    /// `module` and `registered_name` in `.keras` files only, as Keras does.
    ///
    /// Keras 3.15.1's own `Huber.get_config()` leaves `delta` out (a Keras file loses it); it is written here
    /// anyway, and Keras's `Huber.from_config` takes it, so Keras loads the delta mlpconv trained with.
    static func writeLoss(_ loss: Loss, native: Bool, to writer: inout JSONWriter) {
        let className: String
        switch loss.kind {
        case .binaryCrossentropy: className = "BinaryCrossentropy"
        case .categoricalCrossentropy: className = "CategoricalCrossentropy"
        case .sparseCategoricalCrossentropy: className = "SparseCategoricalCrossentropy"
        case .huber: className = "Huber"
        default: className = ""
        }
        guard !loss.hasDefaultSettings, !className.isEmpty else {
            writer.string(loss.name)
            return
        }
        writer.beginObject()
        if native { writer.key("module"); writer.string("keras.losses") }
        writer.key("class_name"); writer.string(className)
        writer.key("config"); writer.beginObject()
        writer.key("name"); writer.string(loss.kind == .huber ? "huber_loss" : loss.name)
        writer.key("reduction"); writer.string("sum_over_batch_size")
        if loss.kind.acceptsLogits { writer.key("from_logits"); writer.bool(loss.fromLogits) }
        switch loss.kind {
        case .binaryCrossentropy, .categoricalCrossentropy:
            writer.key("label_smoothing"); writer.number(loss.labelSmoothing)
            writer.key("axis"); writer.integer(-1)
        case .sparseCategoricalCrossentropy:
            writer.key("ignore_class"); writer.null()
        default:
            writer.key("delta"); writer.number(loss.delta)
        }
        writer.endObject()
        if native { writer.key("registered_name"); writer.null() }
        writer.endObject()
    }
}
