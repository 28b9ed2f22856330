import MLPCore
import JSONSupport
import MLPDocument

/// The parts of a Keras model that its JSON configuration describes, shared by the legacy `.h5` and the `.keras`
/// readers (docs/keras-formats.md). Only known layer classes are built; nothing in a configuration is ever
/// resolved as code (Lambda layers, custom objects and registered names are refused).
package struct KerasModelSpec {
    /// The model's own name (`config.name`), if any.
    package var modelName: String?
    package var inputWidth: Int
    /// The Dense layers, with Activation layers folded in and Dropout layers dropped.
    package var layers: [ModelDocument.Layer]
    /// For each Dense layer, its key under `/layers` in a `.keras` weights file (`dense`, `dense_1`, …).
    package var weightKeys: [String]
    /// Initializers Keras names that mlpconv does not have (kept as text; the layer uses the default).
    package var metadata: [String: String]
    /// Dense layers Keras does not train (`trainable: false`, or the whole model frozen). mlpconv trains every
    /// layer, and Keras keeps no optimizer slots for these, so such a model's training state is not read.
    package var frozenLayers: [String] = []

    /// Why the file's training state cannot be continued by mlpconv, if it cannot.
    package var trainingNotReadReason: String? {
        guard !frozenLayers.isEmpty else { return nil }
        return "not read: layer(s) \(frozenLayers.joined(separator: ", ")) are frozen (trainable: false); mlpconv trains "
            + "every layer, so it could not continue as Keras would"
    }
}

package enum KerasConfig {
    /// Layer classes read besides InputLayer, Dense and Activation.
    package static let identityLayers: Set<String> = ["Dropout"]

    /// Keras's `to_snake_case` (keras/src/utils/naming.py): `RMSprop` → `rm_sprop`, `Dense` → `dense`.
    package static func snakeCase(_ name: String) -> String {
        let chars = Array(name)
        var out = ""
        for (index, char) in chars.enumerated() {
            if char.isUppercase, index > 0 {
                let previous = chars[index - 1]
                let nextIsLower = index + 1 < chars.count && (chars[index + 1].isLowercase || chars[index + 1].isNumber)
                // `(.)([A-Z][a-z0-9]+)` then `([a-z])([A-Z])`
                if nextIsLower || previous.isLowercase, !out.hasSuffix("_") {
                    out.append("_")
                }
            }
            out.append(char)
        }
        return out.lowercased()
    }

    /// A string member, nil when absent or null.
    package static func optionalString(_ object: JSONValue, _ key: String) throws(JSONError) -> String? {
        guard let value = try object.optionalValue(at: key), !value.isNull else { return nil }
        return try value.string()
    }

    /// Refuses objects that name a module outside Keras or a registered (custom) class.
    package static func checkBuiltIn(_ value: JSONValue, modules: Set<String>, what: String) throws(JSONError) {
        if let module = try value.optionalValue(at: "module"), !module.isNull {
            let name = try module.string()
            guard modules.contains(name) else {
                throw module.error(.value, "\(what) from module \"\(name)\" is refused: only Keras's own "
                                   + "\(modules.sorted().joined(separator: ", ")) are read, nothing is imported")
            }
        }
        if let registered = try value.optionalValue(at: "registered_name"), !registered.isNull {
            let name = try registered.string()
            let className = (try? value.optionalValue(at: "class_name")?.string()) ?? nil
            if name != className {
                throw registered.error(.value, "custom object \"\(name)\" is refused: mlpconv never loads custom code")
            }
        }
    }

    /// The model configuration: InputLayer, Dense, Activation and Dropout layers, as a Sequential model or as a
    /// functional one that is a chain (see `checkChain`).
    package static func readModel(_ root: JSONValue, isKeras2: Bool) throws(JSONError) -> KerasModelSpec {
        let classValue = try root.value(at: "class_name")
        let className = try classValue.string()
        // keras.src.engine.*: Keras 2.13–2.15's .keras files.
        try checkBuiltIn(root, modules: ["keras", "keras.models", "keras.src.models.sequential",
                                         "keras.src.models.functional", "keras.src.engine.sequential",
                                         "keras.src.engine.functional"], what: "a model")
        let isFunctional = className == "Functional" || className == "Model"
        guard className == "Sequential" || isFunctional else {
            throw classValue.error(.value, "model class \"\(className)\" is not supported; mlpconv reads Sequential "
                                   + "models and functional models that are a chain of layers")
        }
        let config = try root.object(at: "config")
        let modelName = try optionalString(config, "name")
        var inputWidth: Int?
        var layers: [ModelDocument.Layer] = []
        var weightKeys: [String] = []
        var metadata: [String: String] = [:]
        var usedKeys: [String: Int] = [:]
        /// Whether the last layer kept was a Dense whose activation an Activation layer may replace.
        var lastFoldable = false
        var frozenLayers: [String] = []
        let modelFrozen = try config.optionalValue(at: "trainable").map { value throws(JSONError) in
            value.isNull ? false : try !value.bool()
        } ?? false

        let list = try config.value(at: "layers").array()
        // Classes first: an unsupported layer is named before any other detail (an image input shape) fails.
        for (index, layer) in list.enumerated() {
            let layerClassValue = try layer.value(at: "class_name")
            let layerClass = try layerClassValue.string()
            try checkBuiltIn(layer, modules: ["keras.layers"], what: "a layer")
            guard !["InputLayer", "Dense", "Activation"].contains(layerClass), !identityLayers.contains(layerClass) else {
                continue
            }
            let layerConfig = try? layer.object(at: "config")
            let name = (layerConfig.flatMap { try? optionalString($0, "name") }) ?? "layer \(index)"
            if layerClass == "Lambda" {
                throw layerClassValue.error(.value, "Lambda layer \"\(name)\" is refused: it holds code, which mlpconv never runs")
            }
            throw layerClassValue.error(.value, "layer \"\(name)\" of class \(layerClass) is not supported; mlpconv reads "
                + "Sequential models of InputLayer, Dense, Activation and Dropout layers")
        }
        if isFunctional { try checkChain(config, layers: list) }
        for (index, layer) in list.enumerated() {
            let layerClassValue = try layer.value(at: "class_name")
            let layerClass = try layerClassValue.string()
            try checkBuiltIn(layer, modules: ["keras.layers"], what: "a layer")
            let layerConfig = try layer.object(at: "config")
            let name = try optionalString(layerConfig, "name") ?? "layer \(index)"
            if layerClass != "InputLayer" {
                let base = snakeCase(layerClass)
                if let used = usedKeys[base] {
                    usedKeys[base] = used + 1
                    if layerClass == "Dense" || layerClass == "Dropout" { weightKeys.append("\(base)_\(used + 1)") }
                } else {
                    usedKeys[base] = 0
                    if layerClass == "Dense" || layerClass == "Dropout" { weightKeys.append(base) }
                }
            }
            switch layerClass {
            case "InputLayer":
                guard layers.isEmpty else {
                    throw layerClassValue.error(.value, "InputLayer \"\(name)\" after other layers is not supported")
                }
                inputWidth = try batchWidth(layerConfig) ?? inputWidth
            case "Dense":
                if layers.isEmpty, inputWidth == nil { inputWidth = try batchWidth(layerConfig) }
                layers.append(try readDense(layerConfig, name: name, isKeras2: isKeras2, metadata: &metadata))
                let trainable = try layerConfig.optionalValue(at: "trainable").map { value throws(JSONError) in
                    value.isNull ? true : try value.bool()
                } ?? true
                if modelFrozen || !trainable { frozenLayers.append(name) }
                lastFoldable = layers.last?.dense?.activation == .linear
            case "Activation":
                let activationValue = try layerConfig.value(at: "activation")
                let activation = try readActivation(activationValue, isKeras2: isKeras2)
                if activation == .linear { continue }
                guard lastFoldable, !layers.isEmpty else {
                    throw layerClassValue.error(.value, "Activation layer \"\(name)\" cannot be folded into a preceding "
                        + "Dense layer (it needs one with a linear activation right before it); not supported")
                }
                layers[layers.count - 1].dense?.activation = activation
                lastFoldable = false
            case "Dropout":
                // Kept as a layer: training without it would silently train a different model.
                if let noise = try layerConfig.optionalValue(at: "noise_shape"), !noise.isNull {
                    throw noise.error(.value, "Dropout layer \"\(name)\" has a noise_shape, which is not supported")
                }
                let rate = try layerConfig.value(at: "rate").double()
                let seed = try layerConfig.optionalValue(at: "seed").flatMap { value throws(JSONError) in
                    value.isNull ? nil : Int(try value.int64())
                }
                let kind = LayerKind.dropout(DropoutSettings(rate: rate, seed: seed))
                do { try kind.validate(layer: name) } catch { throw layerConfig.error(.value, error.description) }
                layers.append(ModelDocument.Layer(name: name, kind: kind))
                lastFoldable = false
            case "Lambda":
                throw layerClassValue.error(.value, "Lambda layer \"\(name)\" is refused: it holds code, which mlpconv never runs")
            default:
                throw layerClassValue.error(.value, "layer \"\(name)\" of class \(layerClass) is not supported; mlpconv reads "
                    + "Sequential models of InputLayer, Dense, Activation and Dropout layers")
            }
        }
        if inputWidth == nil, let build = try config.optionalValue(at: "build_input_shape"), !build.isNull {
            inputWidth = try shapeWidth(build)
        }
        if inputWidth == nil, let build = try root.optionalValue(at: "build_config"), build.kind == .object,
           let shape = try build.optionalValue(at: "input_shape"), !shape.isNull {
            inputWidth = try shapeWidth(shape)
        }
        guard !layers.isEmpty else {
            throw config.error(.value, "the model has no Dense layer")
        }
        guard let inputWidth else {
            throw config.error(.missing, "no input shape (no InputLayer, batch_input_shape or build_input_shape)")
        }
        return KerasModelSpec(modelName: modelName, inputWidth: inputWidth, layers: layers, weightKeys: weightKeys,
                              metadata: metadata, frozenLayers: frozenLayers)
    }

    /// A functional model is read when it is a chain, the graph a Sequential model has: one input layer first,
    /// each later layer called exactly once on the output of the layer listed before it, and the last layer the
    /// only output. Anything else (several inputs or outputs, a layer called twice, a skip connection) is refused
    /// with the layer that breaks the chain.
    private static func checkChain(_ config: JSONValue, layers list: [JSONValue]) throws(JSONError) {
        let notChain = "; mlpconv reads functional models that are a chain (one input, one output, each layer called "
            + "once on the output of the layer before it)"
        var names: [String] = []
        for (index, layer) in list.enumerated() {
            var name = try optionalString(layer, "name")
            if name == nil { name = try optionalString(try layer.object(at: "config"), "name") }
            guard let name else {
                throw layer.error(.missing, "layer \(index) of a functional model has no name")
            }
            names.append(name)
        }
        let inputsValue = try config.value(at: "input_layers"), outputsValue = try config.value(at: "output_layers")
        let inputs = try endpointNames(inputsValue), outputs = try endpointNames(outputsValue)
        guard inputs.count == 1 else {
            throw inputsValue.error(.value, "the model has \(inputs.count) inputs (\(inputs.joined(separator: ", ")))" + notChain)
        }
        guard outputs.count == 1 else {
            throw outputsValue.error(.value, "the model has \(outputs.count) outputs (\(outputs.joined(separator: ", ")))" + notChain)
        }
        guard names.count >= 2, names.first == inputs[0], names.last == outputs[0] else {
            throw config.error(.value, "the input \"\(inputs[0])\" and output \"\(outputs[0])\" are not the first and "
                               + "last of the layers [\(names.joined(separator: ", "))]" + notChain)
        }
        for index in list.indices {
            let nodes = try list[index].optionalValue(at: "inbound_nodes").map { value throws(JSONError) in try value.array() } ?? []
            let expected = index == 0 ? 0 : 1
            guard nodes.count == expected else {
                throw list[index].error(.value, index == 0
                    ? "the input layer \"\(names[0])\" is itself called on another layer" + notChain
                    : "layer \"\(names[index])\" is called \(nodes.count) times" + notChain)
            }
            guard let node = nodes.first else { continue }
            var sources: [String] = []
            try collectSources(node, into: &sources)
            guard sources == [names[index - 1]] else {
                throw node.error(.value, "layer \"\(names[index])\" takes its input from [\(sources.joined(separator: ", "))], "
                                 + "not from the layer before it (\"\(names[index - 1])\")" + notChain)
            }
        }
    }

    /// `input_layers` / `output_layers`: `[["name", 0, 0], …]`, or Keras 3's single `["name", 0, 0]`.
    private static func endpointNames(_ value: JSONValue) throws(JSONError) -> [String] {
        let entries = try value.array()
        if let first = entries.first, first.kind == .string { return [try first.string()] }
        var names: [String] = []
        for entry in entries {
            guard let name = try entry.array().first else { throw entry.error(.value, "an empty layer reference") }
            names.append(try name.string())
        }
        return names
    }

    /// The layers a call node reads from. Keras 3: `{"args": [...], "kwargs": {...}}` with `__keras_tensor__`
    /// objects whose `keras_history` starts with the layer name, anywhere in args or kwargs. Keras 2: a list of
    /// `["name", node, tensor, kwargs]`.
    private static func collectSources(_ node: JSONValue, into sources: inout [String]) throws(JSONError) {
        switch node.kind {
        case .object:
            if try optionalString(node, "class_name") == "__keras_tensor__" {
                let history = try node.object(at: "config").value(at: "keras_history").array()
                guard let name = history.first else { throw node.error(.value, "a tensor without its layer") }
                sources.append(try name.string())
                return
            }
            for (_, member) in try node.members() { try collectSources(member, into: &sources) }
        case .array:
            let elements = try node.array()
            if let first = elements.first, first.kind == .string, elements.count >= 3 {
                sources.append(try first.string())  // Keras 2's ["name", node, tensor, kwargs]
                return
            }
            for element in elements { try collectSources(element, into: &sources) }
        default:
            return
        }
    }

    private static func batchWidth(_ layerConfig: JSONValue) throws(JSONError) -> Int? {
        for key in ["batch_shape", "batch_input_shape"] {
            if let shape = try layerConfig.optionalValue(at: key), !shape.isNull { return try shapeWidth(shape) }
        }
        return nil
    }

    /// `[null, n]` → n.
    private static func shapeWidth(_ value: JSONValue) throws(JSONError) -> Int {
        let dims = try value.array()
        guard dims.count == 2, dims[0].isNull || dims[0].kind == .integer else {
            throw value.error(.value, "input shape with \(dims.count) dimensions is not supported; an MLP takes [batch, features]")
        }
        return try dims[1].int(in: 1...(1 << 24))
    }

    private static func readDense(_ config: JSONValue, name: String, isKeras2: Bool,
                                  metadata: inout [String: String]) throws(JSONError) -> ModelDocument.Layer {
        let units = try config.value(at: "units").int(in: 1...(1 << 24))
        var activation = Activation.linear
        if let value = try config.optionalValue(at: "activation"), !value.isNull {
            activation = try readActivation(value, isKeras2: isKeras2)
        }
        var useBias = true
        if let value = try config.optionalValue(at: "use_bias") { useBias = try value.bool() }
        for key in ["kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                    "bias_constraint", "quantization_config"] {
            if let value = try config.optionalValue(at: key), !value.isNull {
                throw value.error(.value, "Dense layer \"\(name)\" uses \(key), which is not supported yet")
            }
        }
        if let lora = try config.optionalValue(at: "lora_rank"), !lora.isNull, try lora.int64() != 0 {
            throw lora.error(.value, "Dense layer \"\(name)\" uses LoRA, which is not supported yet")
        }
        if let dtype = try config.optionalValue(at: "dtype"), !dtype.isNull {
            let dtypeName: String
            if dtype.kind == .string {
                dtypeName = try dtype.string()
            } else {
                try checkBuiltIn(dtype, modules: ["keras", "keras.mixed_precision"], what: "a dtype policy")
                dtypeName = try dtype.object(at: "config").value(at: "name").string()
            }
            guard dtypeName == "float32" || dtypeName == "float64" else {
                throw dtype.error(.value, "Dense layer \"\(name)\" has dtype policy \"\(dtypeName)\"; only float32 and float64 are supported")
            }
        }
        var layer = ModelDocument.Layer(name: name, units: units, activation: activation, useBias: useBias)
        if let value = try config.optionalValue(at: "kernel_initializer") {
            switch try readInitializer(value) {
            case .known(let initializer): layer.dense?.kernelInitializer = initializer
            case .unknown(let text): metadata["keras_kernel_initializer.\(name)"] = text
            }
        }
        if let value = try config.optionalValue(at: "bias_initializer") {
            switch try readInitializer(value) {
            case .known(let initializer): layer.dense?.biasInitializer = initializer
            case .unknown(let text): metadata["keras_bias_initializer.\(name)"] = text
            }
        }
        return layer
    }

    package static func readActivation(_ value: JSONValue, isKeras2: Bool) throws(JSONError) -> Activation {
        guard value.kind == .string else {
            throw value.error(.type, "activation must be a built-in name; custom or serialized activations are refused")
        }
        let name = try value.string()
        if isKeras2, name == "hard_sigmoid" {
            throw value.error(.value, "hard_sigmoid in a Keras 2 file means clip(0.2x + 0.5, 0, 1), which differs from "
                              + "Keras 3's (and mlpconv's) relu6(x + 3)/6; not supported")
        }
        guard let activation = Activation(name: name) else {
            throw value.error(.value, "unknown activation \"\(name)\"; supported: \(Activation.acceptedNames.joined(separator: ", "))")
        }
        return activation
    }

    package enum InitializerName { case known(Initializer), unknown(String) }

    package static func readInitializer(_ value: JSONValue) throws(JSONError) -> InitializerName {
        if value.isNull { return .unknown("null") }
        let className: String
        if value.kind == .string {
            className = try value.string()
        } else {
            try checkBuiltIn(value, modules: ["keras.initializers"], what: "an initializer")
            className = try value.value(at: "class_name").string()
        }
        if let known = Initializer(name: className) ?? Initializer(name: snakeCase(className)) { return .known(known) }
        return .unknown(className)
    }

    /// Optimizer config keys that do not change the update, or only when set (checked below).
    private static let ignoredOptimizerKeys: Set<String> = [
        "name", "jit_compile", "is_legacy_optimizer", "ema_momentum", "ema_overwrite_frequency",
    ]

    /// `{"class_name": "Adam", "config": {...}}` (with or without `module`), Keras 2's `lr` accepted.
    package static func readOptimizer(_ value: JSONValue) throws(JSONError) -> OptimizerConfig {
        // keras.optimizers.experimental: how Keras 2.11–2.15's .keras files name some of the new optimizers.
        try checkBuiltIn(value, modules: ["keras.optimizers", "keras.optimizers.legacy", "keras.optimizers.experimental"],
                         what: "an optimizer")
        let classValue = try value.value(at: "class_name")
        var className = try classValue.string()
        if className.hasPrefix("Custom>") { className.removeFirst("Custom>".count) }
        let kind = try OptimizerKind(kerasClassName: className, at: classValue)
        let config = try value.object(at: "config")
        let allowed = Set(OptimizerConfig(kind).hyperparameters.map(\.key))
        var parsed: [String: Hyperparameter] = [:]
        var schedule: LearningRateSchedule?
        for (rawKey, member) in try config.members() {
            let key = rawKey == "lr" ? "learning_rate" : rawKey
            switch key {
            case _ where ignoredOptimizerKeys.contains(key):
                continue
            case "use_ema":
                if member.kind == .bool, try member.bool() {
                    throw member.error(.value, "use_ema (exponential moving average of weights) is not supported yet")
                }
            case "loss_scale_factor", "gradient_accumulation_steps":
                let isOne = member.kind == .integer ? try member.int64() == 1 : false
                if !member.isNull, !isOne {
                    throw member.error(.value, "\(key) is not supported yet")
                }
            case "decay":
                if !member.isNull, try member.double() != 0 {
                    throw member.error(.value, "Keras 2's learning-rate decay is not supported")
                }
            case "learning_rate" where member.kind == .object:
                schedule = try KerasSchedule.read(member)
            case _ where allowed.contains(key):
                switch member.kind {
                case .null: parsed[key] = .optionalNumber(nil)
                case .bool: parsed[key] = .flag(try member.bool())
                default: parsed[key] = .number(try member.double())
                }
            default:
                throw member.error(.value, "optimizer setting \"\(rawKey)\" is not supported for \(className)")
            }
        }
        do {
            var result = try OptimizerConfig(kind, hyperparameters: parsed)
            result.schedule = schedule
            return result
        } catch {
            throw config.error(.value, error.description)
        }
    }
}

extension KerasConfig {
    /// Where an optimizer's update differs from the Keras 3 rule mlpconv continues with, for the metadata.
    ///
    /// TF 2.0–2.10's optimizers (OptimizerV2, also `tf.keras.optimizers.legacy` up to TF 2.15; their configs
    /// always carry `decay`) put ε outside the square root in two places: Adagrad divides by √acc + ε, RMSprop
    /// without momentum by √den + ε, where Keras 3 (and Keras 2.11+'s new optimizers) use √(acc + ε) and
    /// √(den + ε). Measured on fixtures/keras2: up to 1.7e-5 (scaled) apart after one epoch.
    package static func legacyRuleNote(_ value: JSONValue, config: OptimizerConfig) throws(JSONError) -> String? {
        guard let settings = try value.optionalValue(at: "config"), settings.kind == .object,
              try settings.optionalValue(at: "decay") != nil else { return nil }
        let rule: String
        switch config.kind {
        case .adagrad: rule = "Adagrad divides by sqrt(accumulator) + epsilon"
        case .rmsprop where config.momentum == 0: rule = "RMSprop without momentum divides by sqrt(velocity) + epsilon"
        default: return nil
        }
        return "TF 2.0-2.10 (OptimizerV2) \(rule); mlpconv continues with Keras 3's rule, epsilon inside the "
            + "square root, as Keras 3 does (the two differ by about epsilon/sqrt(v) per step)"
    }

    package static let legacyRuleKey = "keras_optimizer_rule"

    /// The compiled metrics, kept so that writing the model back compiles it with them again: the list's
    /// canonical JSON text ("" for none), see `KerasMetrics`.
    package static func readMetrics(_ compileConfig: JSONValue) throws(JSONError) -> String? {
        try KerasMetrics.read(compileConfig)
    }

    package static let metricsKey = "keras_metrics"

    /// `loss_weights` scale the loss and so every gradient: anything but none or a single 1 is refused.
    package static func checkLossWeights(_ compileConfig: JSONValue) throws(JSONError) {
        guard let value = try compileConfig.optionalValue(at: "loss_weights"), !value.isNull else { return }
        let weights = value.kind == .array ? try value.array() : [value]
        guard weights.count == 1, weights[0].kind != .object, try weights[0].double() == 1 else {
            throw value.error(.value, "loss_weights other than 1 are not supported")
        }
    }

    /// Metadata saying why a compiled Keras model was read without its training state: a loss, optimizer or
    /// setting mlpconv cannot train with (`from_logits`, Nadam, a schedule class it lacks…). The architecture and
    /// weights are read all the same, so such files can be inspected, converted and used for predictions;
    /// `finetune` then asks for a loss and optimizer.
    package static let trainingNotReadKey = "keras_training_state"

    package static func trainingNotReadNote(_ error: ModelFileError) -> String {
        "not read: \(error.object.map { "\($0): " } ?? "")\(error.reason)"
    }
}

extension ModelFileError {
    /// A JSON error inside a Keras configuration stored in `object` (an attribute or a zip member).
    package init(file: String, in object: String, _ error: JSONError) {
        self.init(file: file, object: "\(object) \(error.path)", reason: error.reason)
    }
}
