import MLPCore
import JSONSupport
import MLPDocument

/// One layer of a Keras model configuration as an mlpconv layer kind (docs/keras-formats.md, layers). Settings
/// that would make mlpconv compute something else than Keras (a regularized BatchNormalization, RMS scaling, a
/// channels-first Flatten…) are refused naming the layer and the setting, never dropped.
extension KerasConfig {
    /// The layer classes read; InputLayer is the model's input, every other one becomes a layer.
    package static let layerClasses: Set<String> = [
        "InputLayer", "Dense", "Activation", "Dropout", "BatchNormalization", "LayerNormalization", "Flatten",
    ]

    /// The layer kind of a Keras layer configuration. `sampleRank` is the number of axes of the layer's input per
    /// sample (1 for flat rows).
    static func readLayerKind(_ className: String, _ config: JSONValue, name: String, sampleRank: Int, isKeras2: Bool,
                              metadata: inout [String: String]) throws(JSONError) -> LayerKind {
        let kind: LayerKind
        switch className {
        case "Dense":
            kind = .dense(try readDense(config, name: name, isKeras2: isKeras2, metadata: &metadata))
        case "Activation":
            kind = .activation(try readActivation(try config.value(at: "activation"), isKeras2: isKeras2))
        case "Dropout":
            if let noise = try config.optionalValue(at: "noise_shape"), !noise.isNull {
                throw noise.error(.value, "Dropout layer \"\(name)\" has a noise_shape, which is not supported")
            }
            let seed = try config.optionalValue(at: "seed").flatMap { value throws(JSONError) in
                value.isNull ? nil : Int(try value.int64())
            }
            kind = .dropout(DropoutSettings(rate: try config.value(at: "rate").double(), seed: seed))
        case "BatchNormalization":
            try checkLastAxis(config, name: name, className: className)
            try refuseSet(config, name: name, className: className, keys: [
                "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", "renorm_clipping",
                "virtual_batch_size", "adjustment"])
            if let renorm = try config.optionalValue(at: "renorm"), renorm.kind == .bool, try renorm.bool() {
                throw renorm.error(.value, "BatchNormalization layer \"\(name)\" uses batch renormalization, which is not supported")
            }
            kind = .batchNormalization(BatchNormalizationSettings(
                momentum: try number(config, "momentum", default: 0.99), epsilon: try number(config, "epsilon", default: 1e-3),
                center: try flag(config, "center", default: true), scale: try flag(config, "scale", default: true)))
        case "LayerNormalization":
            try checkLastAxis(config, name: name, className: className)
            try refuseSet(config, name: name, className: className, keys: [
                "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"])
            if let rms = try config.optionalValue(at: "rms_scaling"), rms.kind == .bool, try rms.bool() {
                throw rms.error(.value, "LayerNormalization layer \"\(name)\" uses rms_scaling, which is not supported")
            }
            kind = .layerNormalization(LayerNormalizationSettings(
                epsilon: try number(config, "epsilon", default: 1e-3), center: try flag(config, "center", default: true),
                scale: try flag(config, "scale", default: true)))
        case "Flatten":
            // channels_first moves the first axis last before flattening: another order than row-major.
            if sampleRank > 1, try optionalString(config, "data_format") == "channels_first" {
                throw config.error(.value, "Flatten layer \"\(name)\" is channels_first, which reorders the input; "
                                   + "only channels_last (row-major) flattening is supported")
            }
            kind = .flatten
        default:
            throw config.error(.value, "layer \"\(name)\" of class \(className) is not supported")
        }
        do { try kind.validate(layer: name) } catch { throw config.error(.value, error.description) }
        return kind
    }

    /// Normalizations are read over the last (feature) axis only: Keras's `axis` is -1, or 1 for flat rows, as a
    /// number or a one-element list.
    private static func checkLastAxis(_ config: JSONValue, name: String, className: String) throws(JSONError) {
        guard let value = try config.optionalValue(at: "axis"), !value.isNull else { return }
        let axes = value.kind == .array ? try value.array() : [value]
        var numbers: [Int64] = []
        for axis in axes where axis.kind == .integer { numbers.append(try axis.int64()) }
        guard numbers.count == axes.count, numbers.count == 1, [-1, 1].contains(numbers[0]) else {
            let shown = numbers.count == axes.count ? numbers.map(String.init).joined(separator: ", ") : "(not integers)"
            throw value.error(.value, "\(className) layer \"\(name)\" normalizes over axis \(shown); only the feature "
                              + "axis (-1) of [batch, features] rows is supported")
        }
    }

    /// Refuses any of `keys` that is set (not absent, not null).
    private static func refuseSet(_ config: JSONValue, name: String, className: String, keys: [String]) throws(JSONError) {
        for key in keys {
            if let value = try config.optionalValue(at: key), !value.isNull {
                throw value.error(.value, "\(className) layer \"\(name)\" uses \(key), which is not supported")
            }
        }
    }

    private static func number(_ config: JSONValue?, _ key: String, default fallback: Double) throws(JSONError) -> Double {
        guard let value = try config?.optionalValue(at: key), !value.isNull else { return fallback }
        return try value.double()
    }

    private static func flag(_ config: JSONValue, _ key: String, default fallback: Bool) throws(JSONError) -> Bool {
        guard let value = try config.optionalValue(at: key), !value.isNull else { return fallback }
        return try value.bool()
    }

    static func readDense(_ config: JSONValue, name: String, isKeras2: Bool,
                          metadata: inout [String: String]) throws(JSONError) -> DenseSettings {
        var dense = DenseSettings(units: try config.value(at: "units").int(in: 1...(1 << 24)))
        if let value = try config.optionalValue(at: "activation"), !value.isNull {
            dense.activation = try readActivation(value, isKeras2: isKeras2)
        }
        if let value = try config.optionalValue(at: "use_bias") { dense.useBias = try value.bool() }
        if let value = try config.optionalValue(at: "quantization_config"), !value.isNull {
            throw value.error(.value, "Dense layer \"\(name)\" is quantized, which is not supported")
        }
        if let lora = try config.optionalValue(at: "lora_rank"), !lora.isNull, try lora.int64() != 0 {
            throw lora.error(.value, "Dense layer \"\(name)\" uses LoRA, which is not supported yet")
        }
        dense.kernelRegularizer = try readRegularizer(config, "kernel_regularizer")
        dense.biasRegularizer = try readRegularizer(config, "bias_regularizer")
        dense.activityRegularizer = try readRegularizer(config, "activity_regularizer")
        dense.kernelConstraint = try readConstraint(config, "kernel_constraint")
        dense.biasConstraint = try readConstraint(config, "bias_constraint")
        if let value = try config.optionalValue(at: "kernel_initializer") {
            switch try readInitializer(value) {
            case .known(let initializer): dense.kernelInitializer = initializer
            case .unknown(let text): metadata["keras_kernel_initializer.\(name)"] = text
            }
        }
        if let value = try config.optionalValue(at: "bias_initializer") {
            switch try readInitializer(value) {
            case .known(let initializer): dense.biasInitializer = initializer
            case .unknown(let text): metadata["keras_bias_initializer.\(name)"] = text
            }
        }
        return dense
    }

    /// `{"class_name": "L1L2", "config": {"l1": …, "l2": …}}` (Keras 3 adds `module: keras.regularizers`).
    private static func readRegularizer(_ config: JSONValue, _ key: String) throws(JSONError) -> Regularizer? {
        guard let value = try config.optionalValue(at: key), !value.isNull else { return nil }
        let (className, settings) = try serializedObject(value, module: "keras.regularizers", what: "a regularizer")
        func factor(_ name: String) throws(JSONError) -> Double { try number(settings, name, default: 0) }
        switch className {
        case "L1", "l1": return .l1(try factor("l1"))
        case "L2", "l2": return .l2(try factor("l2"))
        case "L1L2", "l1_l2": return .l1l2(l1: try factor("l1"), l2: try factor("l2"))
        default:
            throw value.error(.value, "regularizer \(className) is not supported; supported: L1, L2, L1L2")
        }
    }

    /// MaxNorm, NonNeg, UnitNorm and MinMaxNorm with Keras's defaults for absent settings.
    private static func readConstraint(_ config: JSONValue, _ key: String) throws(JSONError) -> Constraint? {
        guard let value = try config.optionalValue(at: key), !value.isNull else { return nil }
        let (className, settings) = try serializedObject(value, module: "keras.constraints", what: "a constraint")
        func axis() throws(JSONError) -> Int {
            guard let axis = try settings?.optionalValue(at: "axis"), !axis.isNull else { return 0 }
            return try axis.int(in: -2...1)
        }
        switch className {
        case "MaxNorm", "max_norm": return .maxNorm(maxValue: try number(settings, "max_value", default: 2), axis: try axis())
        case "NonNeg", "non_neg": return .nonNeg
        case "UnitNorm", "unit_norm": return .unitNorm(axis: try axis())
        case "MinMaxNorm", "min_max_norm":
            return .minMaxNorm(minValue: try number(settings, "min_value", default: 0),
                               maxValue: try number(settings, "max_value", default: 1),
                               rate: try number(settings, "rate", default: 1), axis: try axis())
        default:
            throw value.error(.value, "constraint \(className) is not supported; supported: MaxNorm, NonNeg, UnitNorm, MinMaxNorm")
        }
    }

    /// A serialized Keras object's class name and config (nil when absent, or for a bare name).
    private static func serializedObject(_ value: JSONValue, module: String,
                                         what: String) throws(JSONError) -> (String, JSONValue?) {
        if value.kind == .string { return (try value.string(), nil) }
        try checkBuiltIn(value, modules: [module], what: what)
        let className = try value.value(at: "class_name").string()
        guard let config = try value.optionalValue(at: "config"), !config.isNull else { return (className, nil) }
        guard config.kind == .object else { throw config.error(.type, "expected an object") }
        return (className, config)
    }

    /// The layer's dtype policy name (`float32`, `float64`, `mixed_float16`, `mixed_bfloat16`), nil when the
    /// configuration names none. Other policies (quantized ones, float16 variables) are refused.
    static func readDTypePolicy(_ config: JSONValue, name: String) throws(JSONError) -> String? {
        guard let dtype = try config.optionalValue(at: "dtype"), !dtype.isNull else { return nil }
        let policy: String
        if dtype.kind == .string {
            policy = try dtype.string()
        } else {
            try checkBuiltIn(dtype, modules: ["keras", "keras.mixed_precision", "keras.src.dtype_policies.dtype_policy"],
                             what: "a dtype policy")
            let className = try dtype.value(at: "class_name").string()
            guard ["DTypePolicy", "Policy", "FloatDTypePolicy"].contains(className) else {
                throw dtype.error(.value, "layer \"\(name)\" has dtype policy \(className), which is not supported")
            }
            policy = try dtype.object(at: "config").value(at: "name").string()
        }
        guard supportedPolicies.contains(policy) else {
            throw dtype.error(.value, "layer \"\(name)\" has dtype policy \"\(policy)\"; supported: "
                              + supportedPolicies.joined(separator: ", "))
        }
        return policy
    }

    package static let supportedPolicies = ["float32", "float64", "mixed_float16", "mixed_bfloat16"]

    /// Metadata naming a mixed-precision policy, so that writing the model back declares it again. mlpconv keeps
    /// the float32 variables and computes in float32 (docs/keras-formats.md, dtype policies).
    package static let dtypePolicyKey = "keras_dtype_policy"
}
