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
    /// The input's shape per sample when it has more than one axis (the model then starts with a Flatten).
    package var inputShape: [Int]?
    /// Every layer after the input, in order, each as the layer kind of its Keras class.
    package var layers: [ModelDocument.Layer]
    /// Initializers Keras names that mlpconv does not have (kept as text; the layer uses the default), and a
    /// mixed-precision policy.
    package var metadata: [String: String]
    /// Layers with weights that Keras does not train (`trainable: false`, or the whole model frozen). mlpconv
    /// trains every layer, and Keras keeps no optimizer slots for these (and runs a frozen BatchNormalization in
    /// inference mode), so such a model's training state is not read.
    package var frozenLayers: [String] = []

    /// Why the file's training state cannot be continued by mlpconv, if it cannot.
    package var trainingNotReadReason: String? {
        guard !frozenLayers.isEmpty else { return nil }
        return "not read: layer(s) \(frozenLayers.joined(separator: ", ")) are frozen (trainable: false); mlpconv trains "
            + "every layer, so it could not continue as Keras would"
    }
}

package enum KerasConfig {
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

    /// The model configuration, a Sequential model or a functional one that is a chain (see `checkChain`), each
    /// layer read as the layer kind of its class (`readLayerKind`).
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
        var inputShape: [Int]?
        var layers: [ModelDocument.Layer] = []
        var metadata: [String: String] = [:]
        var frozenLayers: [String] = []
        var policies: [(layer: String, policy: String)] = []
        let modelFrozen = try config.optionalValue(at: "trainable").map { value throws(JSONError) in
            value.isNull ? false : try !value.bool()
        } ?? false

        let list = try config.value(at: "layers").array()
        // Classes first: an unsupported layer is named before any other detail (an image input shape) fails.
        for (index, layer) in list.enumerated() {
            let layerClassValue = try layer.value(at: "class_name")
            let layerClass = try layerClassValue.string()
            try checkBuiltIn(layer, modules: ["keras.layers"], what: "a layer")
            guard !layerClasses.contains(layerClass) else { continue }
            let layerConfig = try? layer.object(at: "config")
            let name = (layerConfig.flatMap { try? optionalString($0, "name") }) ?? "layer \(index)"
            if layerClass == "Lambda" {
                throw layerClassValue.error(.value, "Lambda layer \"\(name)\" is refused: it holds code, which mlpconv never runs")
            }
            throw layerClassValue.error(.value, "layer \"\(name)\" of class \(layerClass) is not supported; mlpconv reads "
                + "models of \(layerClasses.subtracting(["InputLayer"]).sorted().joined(separator: ", ")) layers")
        }
        if isFunctional { try checkChain(config, layers: list) }
        var names: Set<String> = []
        for (index, layer) in list.enumerated() {
            let layerClass = try layer.value(at: "class_name").string()
            let layerConfig = try layer.object(at: "config")
            let name = try optionalString(layerConfig, "name") ?? "layer \(index)"
            // Keras gives every layer its own name, and weights are found by it.
            guard names.insert(name).inserted else {
                throw try layerConfig.value(at: "name").error(.value, "layer name \"\(name)\" is used twice; Keras names layers uniquely")
            }
            if layerClass == "InputLayer" {
                guard layers.isEmpty else {
                    throw layerConfig.error(.value, "InputLayer \"\(name)\" after other layers is not supported")
                }
                inputShape = try batchShape(layerConfig) ?? inputShape
                continue
            }
            // The name becomes the weights' path in every format (HDF5 groups, JSON keys, state-dict prefixes).
            do throws(DocumentError) { try ModelDocument.checkLayerName(name, object: "") } catch {
                throw try layerConfig.value(at: "name").error(.value, error.reason)
            }
            // The shape must be known here, before the first layer is read against it: a model built without an
            // input layer (tf.keras's `model.build(shape)`) has it only in its build configuration.
            if layers.isEmpty, inputShape == nil {
                inputShape = try batchShape(layerConfig)
                if inputShape == nil { inputShape = try buildShape(root, config) }
            }
            // Axes per sample of this layer's input: only the model's input can have several.
            let rank = layers.isEmpty ? (inputShape?.count ?? 1) : 1
            if rank > 1, layerClass != "Flatten" {
                throw layerConfig.error(.value, "\(layerClass) layer \"\(name)\" takes an input of shape "
                    + "\(inputShape ?? []) per sample; mlpconv reads models whose first layer flattens such inputs (Flatten)")
            }
            if let policy = try readDTypePolicy(layerConfig, name: name) { policies.append((name, policy)) }
            let kind = try readLayerKind(layerClass, layerConfig, name: name, sampleRank: rank, isKeras2: isKeras2,
                                         metadata: &metadata)
            let trainable = try layerConfig.optionalValue(at: "trainable").map { value throws(JSONError) in
                value.isNull ? true : try value.bool()
            } ?? true
            if modelFrozen || !trainable, !kind.variables(inputWidth: 1).isEmpty { frozenLayers.append(name) }
            layers.append(ModelDocument.Layer(name: name, kind: kind))
        }
        guard !layers.isEmpty else {
            throw config.error(.value, "the model has no layers")
        }
        guard let inputShape else {
            throw config.error(.missing, "no input shape (no InputLayer, batch_input_shape or build_input_shape)")
        }
        if let first = policies.first {
            if let other = policies.first(where: { $0.policy != first.policy }) {
                throw config.error(.value, "layer \"\(first.layer)\" has dtype policy \(first.policy) and layer "
                                   + "\"\(other.layer)\" \(other.policy); mlpconv reads models with one policy")
            }
            if first.policy.hasPrefix("mixed_") { metadata[dtypePolicyKey] = first.policy }
        }
        let (width, overflow) = inputShape.reduce((1, false)) { partial, dimension in
            let (product, o) = partial.0.multipliedReportingOverflow(by: dimension)
            return (product, partial.1 || o)
        }
        guard !overflow, width <= 1 << 24 else {
            throw config.error(.value, "an input of shape \(inputShape) per sample is too large")
        }
        return KerasModelSpec(modelName: modelName, inputWidth: width, inputShape: inputShape.count > 1 ? inputShape : nil,
                              layers: layers, metadata: metadata, frozenLayers: frozenLayers)
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

    /// The model's input shape from its build configuration: `build_input_shape` in the model's config (Keras 2),
    /// else `build_config.input_shape` beside it (Keras 3).
    private static func buildShape(_ root: JSONValue, _ config: JSONValue) throws(JSONError) -> [Int]? {
        if let build = try config.optionalValue(at: "build_input_shape"), !build.isNull {
            return try shapeDimensions(build)
        }
        if let build = try root.optionalValue(at: "build_config"), build.kind == .object,
           let shape = try build.optionalValue(at: "input_shape"), !shape.isNull {
            return try shapeDimensions(shape)
        }
        return nil
    }

    /// A layer's `batch_shape` (Keras 3) or `batch_input_shape` (Keras 2) without the batch axis.
    private static func batchShape(_ layerConfig: JSONValue) throws(JSONError) -> [Int]? {
        for key in ["batch_shape", "batch_input_shape"] {
            if let shape = try layerConfig.optionalValue(at: key), !shape.isNull { return try shapeDimensions(shape) }
        }
        return nil
    }

    /// `[null, d1, d2, …]` → `[d1, d2, …]`, each dimension known and positive.
    private static func shapeDimensions(_ value: JSONValue) throws(JSONError) -> [Int] {
        let dims = try value.array()
        guard dims.count >= 2, dims.count <= 8, dims[0].isNull || dims[0].kind == .integer else {
            throw value.error(.value, "input shape with \(dims.count) dimensions is not supported; an MLP takes "
                              + "[batch, features] or [batch, d1, d2, …] flattened by its first layer")
        }
        var shape: [Int] = []
        for dim in dims.dropFirst() {
            guard !dim.isNull else { throw dim.error(.value, "an input dimension other than the batch is unknown (null)") }
            shape.append(try dim.int(in: 1...(1 << 24)))
        }
        return shape
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

    /// Optimizer config keys that do not change the update.
    private static let ignoredOptimizerKeys: Set<String> = ["name", "jit_compile", "is_legacy_optimizer"]

    /// `{"class_name": "Adam", "config": {...}}` (with or without `module`), Keras 2's `lr` accepted; or Keras's
    /// `LossScaleOptimizer` around one (`inner_optimizer`, `initial_scale`, `dynamic_growth_steps`).
    /// `isKeras2`: a tf.keras file, whose `use_ema` (tf.keras 2.11–2.15) keeps its averages under other names and
    /// starts them otherwise; it is refused, which keeps the training state out with a note.
    package static func readOptimizer(_ value: JSONValue, isKeras2: Bool = false) throws(JSONError) -> OptimizerConfig {
        // keras.optimizers.experimental: how Keras 2.11–2.15's .keras files name some of the new optimizers.
        try checkBuiltIn(value, modules: ["keras.optimizers", "keras.optimizers.legacy", "keras.optimizers.experimental"],
                         what: "an optimizer")
        let classValue = try value.value(at: "class_name")
        var className = try classValue.string()
        if className.hasPrefix("Custom>") { className.removeFirst("Custom>".count) }
        if className == "LossScaleOptimizer" { return try readLossScaleOptimizer(try value.object(at: "config")) }
        let kind = try OptimizerKind(kerasClassName: className, at: classValue)
        let config = try value.object(at: "config")
        let allowed = Set(OptimizerConfig(kind).hyperparameters.map(\.key))
        var parsed: [String: Hyperparameter] = [:]
        var schedule: LearningRateSchedule?
        // Keras writes ema_momentum and ema_overwrite_frequency whatever use_ema says; they count only with it.
        let usesEMA = try config.optionalValue(at: "use_ema").map { v throws(JSONError) in v.isNull ? false : try v.bool() } ?? false
        for (rawKey, member) in try config.members() {
            let key = rawKey == "lr" ? "learning_rate" : rawKey
            switch key {
            case _ where ignoredOptimizerKeys.contains(key):
                continue
            case "use_ema":
                if usesEMA, isKeras2 {
                    throw member.error(.value, "use_ema in a Keras 2 (tf.keras) file is not supported; Keras 3's is")
                }
                if usesEMA { parsed[key] = .flag(true) }
            case "ema_momentum", "ema_overwrite_frequency":
                guard usesEMA else { continue }
                parsed[key] = member.isNull ? .optionalNumber(nil) : .number(try member.double())
            case "loss_scale_factor", "gradient_accumulation_steps":
                // Keras treats 0 and null alike (no accumulation) and refuses 1 at construction; Keras 2 wrote 1.
                if member.isNull { continue }
                let number = try member.double()
                if key == "gradient_accumulation_steps", number == 0 || number == 1 { continue }
                parsed[key] = .number(number)
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
            return try OptimizerConfig(kind, hyperparameters: parsed, schedule: schedule)
        } catch {
            switch error {
            case .unknownHyperparameter(_, let key, _), .invalidHyperparameter(let key, _):
                let target = (try? config.optionalValue(at: key)) ?? nil
                throw (target ?? config).error(.value, error.description)
            default:
                throw config.error(.value, error.description)
            }
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
