import MLPCore
import JSONSupport
import MLPDocument

/// The native schema's layer objects. A Dense layer has no `type` key (files from before other layer types
/// existed stay byte-identical); every other layer names its type:
///
///     {"name": "dense", "units": 8, "activation": "relu", "use_bias": true, "kernel_initializer": …,
///      "bias_initializer": …, "kernel_regularizer": {"l2": 0.01}, "kernel_constraint": {"name": "max_norm", …}}
///     {"type": "batch_normalization", "name": "bn", "momentum": 0.99, "epsilon": 0.001, "center": true, "scale": true}
///     {"type": "layer_normalization", "name": "ln", "epsilon": 0.001, "center": true, "scale": true}
///     {"type": "dropout", "name": "dropout", "rate": 0.3, "seed": 7}
///     {"type": "activation", "name": "activation", "activation": "relu"}
///     {"type": "flatten", "name": "flatten"}
extension DocumentJSON {
    package static let denseKeys: Set<String> = [
        "name", "units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
        "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint",
    ]

    package static func write(_ layer: ModelDocument.Layer, to writer: inout JSONWriter) {
        writer.beginObject(inline: true)
        if case .dense = layer.kind {} else { writer.key("type"); writer.string(layer.kind.typeName) }
        writer.key("name"); writer.string(layer.name)
        switch layer.kind {
        case .dense(let dense):
            writer.key("units"); writer.integer(dense.units)
            writer.key("activation"); writer.string(dense.activation.name)
            writer.key("use_bias"); writer.bool(dense.useBias)
            writer.key("kernel_initializer"); writer.string(dense.kernelInitializer.name)
            writer.key("bias_initializer"); writer.string(dense.biasInitializer.name)
            for (key, regularizer) in [("kernel_regularizer", dense.kernelRegularizer), ("bias_regularizer", dense.biasRegularizer),
                                       ("activity_regularizer", dense.activityRegularizer)] {
                if let regularizer { writer.key(key); write(regularizer, to: &writer) }
            }
            for (key, constraint) in [("kernel_constraint", dense.kernelConstraint), ("bias_constraint", dense.biasConstraint)] {
                if let constraint { writer.key(key); write(constraint, to: &writer) }
            }
        case .activation(let activation):
            writer.key("activation"); writer.string(activation.name)
        case .dropout(let dropout):
            writer.key("rate"); writer.number(dropout.rate)
            if let seed = dropout.seed { writer.key("seed"); writer.integer(seed) }
        case .batchNormalization(let bn):
            writer.key("momentum"); writer.number(bn.momentum)
            writer.key("epsilon"); writer.number(bn.epsilon)
            writer.key("center"); writer.bool(bn.center)
            writer.key("scale"); writer.bool(bn.scale)
            // Only when set, so files of Keras-style layers read as before in older readers.
            if bn.unbiasedMovingVariance { writer.key("unbiased_moving_variance"); writer.bool(true) }
        case .layerNormalization(let ln):
            writer.key("epsilon"); writer.number(ln.epsilon)
            writer.key("center"); writer.bool(ln.center)
            writer.key("scale"); writer.bool(ln.scale)
        case .flatten:
            break
        }
        writer.endObject()
    }

    /// `{"l1": x}`, `{"l2": x}` or `{"l1": x, "l2": y}` (L1L2).
    package static func write(_ regularizer: Regularizer, to writer: inout JSONWriter) {
        writer.beginObject(inline: true)
        switch regularizer {
        case .l1(let l1): writer.key("l1"); writer.number(l1)
        case .l2(let l2): writer.key("l2"); writer.number(l2)
        case .l1l2(let l1, let l2):
            writer.key("l1"); writer.number(l1)
            writer.key("l2"); writer.number(l2)
        }
        writer.endObject()
    }

    package static func write(_ constraint: Constraint, to writer: inout JSONWriter) {
        writer.beginObject(inline: true)
        writer.key("name"); writer.string(constraint.name)
        switch constraint {
        case .nonNeg: break
        case .maxNorm(let maxValue, let axis):
            writer.key("max_value"); writer.number(maxValue)
            writer.key("axis"); writer.integer(axis)
        case .unitNorm(let axis):
            writer.key("axis"); writer.integer(axis)
        case .minMaxNorm(let minValue, let maxValue, let rate, let axis):
            writer.key("min_value"); writer.number(minValue)
            writer.key("max_value"); writer.number(maxValue)
            writer.key("rate"); writer.number(rate)
            writer.key("axis"); writer.integer(axis)
        }
        writer.endObject()
    }

    package static func readLayer(_ value: JSONValue, name: String) throws(JSONError) -> ModelDocument.Layer {
        let type = try value.optionalValue(at: "type")
        let typeName = try type?.string() ?? "dense"
        func keys(_ extra: Set<String>) throws(JSONError) { try requireKeys(value, allowed: extra.union(["type", "name"])) }
        func number(_ key: String, default fallback: Double) throws(JSONError) -> Double {
            try value.optionalValue(at: key)?.double() ?? fallback
        }
        func flag(_ key: String, default fallback: Bool) throws(JSONError) -> Bool {
            try value.optionalValue(at: key)?.bool() ?? fallback
        }
        let kind: LayerKind
        switch typeName {
        case "dense":
            try requireKeys(value, allowed: denseKeys.union(["type"]))
            kind = .dense(DenseSettings(
                units: try width(try value.value(at: "units")),
                activation: try named(value, "activation", Activation.init(name:), Activation.acceptedNames, what: "activation"),
                useBias: try flag("use_bias", default: true),
                kernelInitializer: try named(value, "kernel_initializer", Initializer.init(name:), Initializer.acceptedNames,
                                             what: "initializer", default: .glorotUniform),
                biasInitializer: try named(value, "bias_initializer", Initializer.init(name:), Initializer.acceptedNames,
                                           what: "initializer", default: .zeros),
                kernelRegularizer: try value.optionalValue(at: "kernel_regularizer").map(readRegularizer),
                biasRegularizer: try value.optionalValue(at: "bias_regularizer").map(readRegularizer),
                activityRegularizer: try value.optionalValue(at: "activity_regularizer").map(readRegularizer),
                kernelConstraint: try value.optionalValue(at: "kernel_constraint").map(readConstraint),
                biasConstraint: try value.optionalValue(at: "bias_constraint").map(readConstraint)))
        case "activation":
            try keys(["activation"])
            kind = .activation(try named(value, "activation", Activation.init(name:), Activation.acceptedNames, what: "activation"))
        case "dropout":
            try keys(["rate", "seed"])
            let seed = try value.optionalValue(at: "seed")
            kind = .dropout(DropoutSettings(rate: try value.value(at: "rate").double(),
                                            seed: try seed.flatMap { s throws(JSONError) in s.isNull ? nil : Int(try s.int64()) }))
        case "batch_normalization":
            try keys(["momentum", "epsilon", "center", "scale", "unbiased_moving_variance"])
            kind = .batchNormalization(BatchNormalizationSettings(
                momentum: try number("momentum", default: 0.99), epsilon: try number("epsilon", default: 1e-3),
                center: try flag("center", default: true), scale: try flag("scale", default: true),
                unbiasedMovingVariance: try flag("unbiased_moving_variance", default: false)))
        case "layer_normalization":
            try keys(["epsilon", "center", "scale"])
            kind = .layerNormalization(LayerNormalizationSettings(
                epsilon: try number("epsilon", default: 1e-3), center: try flag("center", default: true),
                scale: try flag("scale", default: true)))
        case "flatten":
            try keys([])
            kind = .flatten
        default:
            throw (type ?? value).error(.value, "unknown layer type \"\(typeName)\"; supported: \(LayerKind.typeNames.joined(separator: ", "))")
        }
        do { try kind.validate(layer: name) } catch {
            if case .invalidSetting(_, let setting, let reason) = error, let member = try value.optionalValue(at: setting) {
                throw member.error(.value, "\(setting) \(reason)")
            }
            throw value.error(.value, error.description)
        }
        return ModelDocument.Layer(name: name, kind: kind)
    }

    package static func readRegularizer(_ value: JSONValue) throws(JSONError) -> Regularizer {
        try requireKeys(value, allowed: ["l1", "l2"])
        let l1 = try value.optionalValue(at: "l1")?.double(), l2 = try value.optionalValue(at: "l2")?.double()
        switch (l1, l2) {
        case (let l1?, let l2?): return .l1l2(l1: l1, l2: l2)
        case (let l1?, nil): return .l1(l1)
        case (nil, let l2?): return .l2(l2)
        case (nil, nil): throw value.error(.value, "a regularizer needs l1, l2 or both")
        }
    }

    package static func readConstraint(_ value: JSONValue) throws(JSONError) -> Constraint {
        let nameValue = try value.value(at: "name")
        let name = try nameValue.string()
        func number(_ key: String, default fallback: Double) throws(JSONError) -> Double {
            try value.optionalValue(at: key)?.double() ?? fallback
        }
        func axis() throws(JSONError) -> Int { try value.optionalValue(at: "axis")?.int(in: -2...1) ?? 0 }
        switch name {
        case "non_neg":
            try requireKeys(value, allowed: ["name"])
            return .nonNeg
        case "max_norm":
            try requireKeys(value, allowed: ["name", "max_value", "axis"])
            return .maxNorm(maxValue: try number("max_value", default: 2), axis: try axis())
        case "unit_norm":
            try requireKeys(value, allowed: ["name", "axis"])
            return .unitNorm(axis: try axis())
        case "min_max_norm":
            try requireKeys(value, allowed: ["name", "min_value", "max_value", "rate", "axis"])
            return .minMaxNorm(minValue: try number("min_value", default: 0), maxValue: try number("max_value", default: 1),
                               rate: try number("rate", default: 1), axis: try axis())
        default:
            throw nameValue.error(.value, "unknown constraint \"\(name)\"; supported: \(Constraint.names.joined(separator: ", "))")
        }
    }
}

extension Constraint {
    /// The native schema's names for the four constraints.
    package var name: String {
        switch self {
        case .maxNorm: "max_norm"
        case .nonNeg: "non_neg"
        case .unitNorm: "unit_norm"
        case .minMaxNorm: "min_max_norm"
        }
    }

    package static let names = ["max_norm", "non_neg", "unit_norm", "min_max_norm"]
}
