import MLPCore
import JSONSupport
import MLPDocument

/// Each layer's Keras configuration, as Keras 3.15.1 serializes the class (docs/keras-formats.md, layers): what
/// `KerasConfig.readLayerKind` reads back.
extension KerasWriting {
    /// The dtype policy every layer declares: float64 for float64 weights (Keras then keeps float64 variables),
    /// the mixed-precision policy a Keras file was read with, float32 otherwise.
    package static func dtypePolicyName(_ document: ModelDocument) -> String {
        if document.weights.contains(where: { $0.tensors.values.contains { $0.dtype == .float64 } }) { return "float64" }
        if let policy = document.metadata[KerasConfig.dtypePolicyKey], policy.hasPrefix("mixed_"),
           KerasConfig.supportedPolicies.contains(policy) {
            return policy
        }
        return "float32"
    }

    static func dtypePolicy(_ name: String, _ writer: inout JSONWriter) {
        serialized("keras", "DTypePolicy", &writer) { writer in writer.key("name"); writer.string(name) }
    }

    /// `{"module": "keras.layers", "class_name": …, "config": {…}, …}` for layer `index`.
    static func writeLayer(_ index: Int, of architecture: ModelDocument.Architecture, policy: String, native: Bool,
                           to writer: inout JSONWriter) {
        let layer = architecture.layers[index]
        writer.beginObject()
        if native { writer.key("module"); writer.string("keras.layers") }
        writer.key("class_name"); writer.string(kerasClassName(layer.kind))
        writer.key("config"); writer.beginObject()
        writer.key("name"); writer.string(layer.name)
        writer.key("trainable"); writer.bool(true)
        writer.key("dtype"); dtypePolicy(policy, &writer)
        switch layer.kind {
        case .dense(let dense):
            writeDenseSettings(dense, to: &writer)
        case .activation(let activation):
            writer.key("activation"); writer.string(activation.name)
        case .dropout(let dropout):
            writer.key("rate"); writer.number(dropout.rate)
            writer.key("seed"); if let seed = dropout.seed { writer.integer(seed) } else { writer.null() }
            writer.key("noise_shape"); writer.null()
        case .batchNormalization(let bn):
            writer.key("axis"); writer.integer(-1)
            writer.key("momentum"); writer.number(bn.momentum)
            writer.key("epsilon"); writer.number(bn.epsilon)
            writer.key("center"); writer.bool(bn.center)
            writer.key("scale"); writer.bool(bn.scale)
            writeNormalizationInitializers([("beta_initializer", .zeros), ("gamma_initializer", .ones),
                                            ("moving_mean_initializer", .zeros), ("moving_variance_initializer", .ones)],
                                           to: &writer)
            writer.key("synchronized"); writer.bool(false)
            writer.key("renorm"); writer.bool(false)
            writer.key("renorm_clipping"); writer.null()
            writer.key("renorm_momentum"); writer.number(0.99)
        case .layerNormalization(let ln):
            writer.key("axis"); writer.beginArray(inline: true); writer.integer(-1); writer.endArray()
            writer.key("epsilon"); writer.number(ln.epsilon)
            writer.key("center"); writer.bool(ln.center)
            writer.key("scale"); writer.bool(ln.scale)
            writer.key("rms_scaling"); writer.bool(false)
            writeNormalizationInitializers([("beta_initializer", .zeros), ("gamma_initializer", .ones)], to: &writer)
        case .flatten:
            writer.key("data_format"); writer.string("channels_last")
        }
        writer.endObject()
        if native {
            writer.key("registered_name"); writer.null()
            writer.key("build_config"); writer.beginObject()
            writer.key("input_shape")
            inputShape(index == 0 ? architecture.inputShape ?? [architecture.inputWidth] : [architecture.inputWidth(ofLayer: index)],
                       &writer)
            writer.endObject()
        }
        writer.endObject()
    }

    /// `[null, d1, …]`: a shape with its batch axis.
    static func inputShape(_ dimensions: [Int], _ writer: inout JSONWriter) {
        writer.beginArray(inline: true)
        writer.null()
        for dimension in dimensions { writer.integer(dimension) }
        writer.endArray()
    }

    private static func writeDenseSettings(_ dense: DenseSettings, to writer: inout JSONWriter) {
        // Keras's base Layer config carries the activity regularizer only when there is one.
        if let activity = dense.activityRegularizer { writer.key("activity_regularizer"); regularizer(activity, &writer) }
        writer.key("units"); writer.integer(dense.units)
        writer.key("activation"); writer.string(dense.activation.name)
        writer.key("use_bias"); writer.bool(dense.useBias)
        writer.key("kernel_initializer"); initializer(dense.kernelInitializer, &writer)
        writer.key("bias_initializer"); initializer(dense.biasInitializer, &writer)
        writer.key("kernel_regularizer"); if let r = dense.kernelRegularizer { regularizer(r, &writer) } else { writer.null() }
        writer.key("bias_regularizer"); if let r = dense.biasRegularizer { regularizer(r, &writer) } else { writer.null() }
        writer.key("kernel_constraint"); if let c = dense.kernelConstraint { constraint(c, &writer) } else { writer.null() }
        writer.key("bias_constraint"); if let c = dense.biasConstraint { constraint(c, &writer) } else { writer.null() }
        writer.key("quantization_config"); writer.null()
    }

    /// Normalization layers' initializers (their variables come from the file, so these matter only to a fresh
    /// build): Keras's defaults, then the four regularizer and constraint keys, all unset.
    private static func writeNormalizationInitializers(_ initializers: [(key: String, value: Initializer)],
                                                       to writer: inout JSONWriter) {
        for (key, value) in initializers {
            writer.key(key); initializer(value, &writer)
        }
        for key in ["beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"] {
            writer.key(key); writer.null()
        }
    }

    static func initializer(_ initializer: Initializer, _ writer: inout JSONWriter) {
        let className: String = switch initializer {
        case .glorotUniform: "GlorotUniform"
        case .glorotNormal: "GlorotNormal"
        case .heUniform: "HeUniform"
        case .heNormal: "HeNormal"
        case .lecunUniform: "LecunUniform"
        case .lecunNormal: "LecunNormal"
        case .zeros: "Zeros"
        case .ones: "Ones"
        }
        serialized("keras.initializers", className, &writer) { writer in
            if initializer != .zeros, initializer != .ones {
                writer.key("seed"); writer.null()
            }
        }
    }

    private static func regularizer(_ regularizer: Regularizer, _ writer: inout JSONWriter) {
        switch regularizer {
        case .l1(let l1):
            serialized("keras.regularizers", "L1", &writer) { writer in writer.key("l1"); writer.number(l1) }
        case .l2(let l2):
            serialized("keras.regularizers", "L2", &writer) { writer in writer.key("l2"); writer.number(l2) }
        case .l1l2(let l1, let l2):
            serialized("keras.regularizers", "L1L2", &writer) { writer in
                writer.key("l1"); writer.number(l1)
                writer.key("l2"); writer.number(l2)
            }
        }
    }

    private static func constraint(_ constraint: Constraint, _ writer: inout JSONWriter) {
        switch constraint {
        case .maxNorm(let maxValue, let axis):
            serialized("keras.constraints", "MaxNorm", &writer) { writer in
                writer.key("max_value"); writer.number(maxValue)
                writer.key("axis"); writer.integer(axis)
            }
        case .nonNeg:
            serialized("keras.constraints", "NonNeg", &writer) { _ in }
        case .unitNorm(let axis):
            serialized("keras.constraints", "UnitNorm", &writer) { writer in writer.key("axis"); writer.integer(axis) }
        case .minMaxNorm(let minValue, let maxValue, let rate, let axis):
            serialized("keras.constraints", "MinMaxNorm", &writer) { writer in
                writer.key("min_value"); writer.number(minValue)
                writer.key("max_value"); writer.number(maxValue)
                writer.key("rate"); writer.number(rate)
                writer.key("axis"); writer.integer(axis)
            }
        }
    }

    /// `{"module": module, "class_name": className, "config": {…}, "registered_name": null}`.
    private static func serialized(_ module: String, _ className: String, _ writer: inout JSONWriter,
                                   config: (inout JSONWriter) -> Void) {
        writer.beginObject()
        writer.key("module"); writer.string(module)
        writer.key("class_name"); writer.string(className)
        writer.key("config"); writer.beginObject()
        config(&writer)
        writer.endObject()
        writer.key("registered_name"); writer.null()
        writer.endObject()
    }
}
