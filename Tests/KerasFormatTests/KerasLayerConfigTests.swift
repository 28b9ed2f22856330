import MLPCore
import Testing
import JSONSupport
@testable import KerasFormat
import MLPDocument

/// Layer configurations in Keras's forms: every supported class becomes its layer kind with its settings, and
/// every setting that would make mlpconv compute something else is refused naming the layer and the setting.
@Suite("Keras layer configurations")
struct KerasLayerConfigTests {
    private func model(_ layers: String, input: String = "[null, 4]", keras2: Bool = false) throws(JSONError) -> KerasModelSpec {
        let text = """
            {"class_name": "Sequential", "config": {"name": "m", "layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": \(input)}}, \(layers)]}}
            """
        return try KerasConfig.readModel(try JSONDocument.parse(Array(text.utf8), file: "m.keras").root, isKeras2: keras2)
    }

    private func failure(_ layers: String, input: String = "[null, 4]") -> String {
        do { _ = try model(layers, input: input); return "(no error)" } catch { return "\(error.path): \(error.reason)" }
    }

    @Test("normalizations, activation, dropout and flatten with their settings")
    func layerKinds() throws {
        let spec = try model("""
            {"class_name": "Flatten", "config": {"name": "f", "data_format": "channels_last"}},
            {"class_name": "Dense", "config": {"name": "d", "units": 3, "use_bias": false}},
            {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1, "momentum": 0.9, "epsilon": 0.01,
             "center": false, "scale": true, "synchronized": false, "renorm": false, "beta_regularizer": null}},
            {"class_name": "Activation", "config": {"name": "a", "activation": "relu"}},
            {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.25, "seed": 7, "noise_shape": null}},
            {"class_name": "LayerNormalization", "config": {"name": "ln", "axis": [-1], "epsilon": 1e-5, "center": true,
             "scale": false, "rms_scaling": false}}
            """, input: "[null, 2, 3]")
        #expect(spec.inputWidth == 6 && spec.inputShape == [2, 3])
        #expect(spec.layers.map(\.kind) == [
            .flatten, .dense(DenseSettings(units: 3, useBias: false)),
            .batchNormalization(BatchNormalizationSettings(momentum: 0.9, epsilon: 0.01, center: false, scale: true)),
            .activation(.relu), .dropout(DropoutSettings(rate: 0.25, seed: 7)),
            .layerNormalization(LayerNormalizationSettings(epsilon: 1e-5, center: true, scale: false))])
        #expect(KerasWriting.layerKeys(spec.layers)
                == ["flatten", "dense", "batch_normalization", "activation", "dropout", "layer_normalization"])
        // Keras 2's axis as a one-element list of the feature axis.
        let keras2 = try model(#"{"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [1]}}"#, keras2: true)
        #expect(keras2.layers[0].kind == .batchNormalization(BatchNormalizationSettings()))
    }

    /// Found by the keras-config fuzz target: a configuration naming two layers alike was accepted, and only the
    /// document's own validation refused it later, at a path of the architecture instead of the config.
    @Test("two layers with one name are refused at the second one's name")
    func duplicateLayerNames() {
        #expect(failure("""
            {"class_name": "Dense", "config": {"name": "logits", "units": 3}},
            {"class_name": "Dense", "config": {"name": "logits", "units": 2}}
            """) == "$.config.layers[2].config.name: layer name \"logits\" is used twice; Keras names layers uniquely")
    }

    /// Found by the keras-config fuzz target: a model built without an input layer (tf.keras's `model.build(shape)`)
    /// has its shape only in `build_input_shape` or `build_config`, read after the layers, so the first layer was
    /// checked as if its input were flat. A Dense layer on a [4, 4, 1] input was accepted (and the document refused
    /// it later), and a channels_first Flatten was accepted, flattening in the wrong order without a word.
    @Test("an input shape given only by the build configuration is checked against the first layer",
          arguments: [
            (#""build_input_shape": [null, 4, 4, 1]"#, #"{"class_name": "Dense", "config": {"name": "d", "units": 2}}"#,
             "$.config.layers[0].config: Dense layer \"d\" takes an input of shape [4, 4, 1] per sample; "
                + "mlpconv reads models whose first layer flattens such inputs (Flatten)"),
            (#""build_input_shape": [null, 2, 3]"#,
             #"{"class_name": "Flatten", "config": {"name": "f", "data_format": "channels_first"}}"#,
             "\"f\" is channels_first"),
          ])
    func buildShapeChecksFirstLayer(shape: String, layer: String, expected: String) {
        let text = #"{"class_name": "Sequential", "config": {"name": "m", \#(shape), "layers": [\#(layer)]}}"#
        do {
            let spec = try KerasConfig.readModel(try JSONDocument.parse(Array(text.utf8), file: "m.keras").root,
                                                 isKeras2: true)
            Issue.record("accepted: \(spec.layers)")
        } catch {
            #expect("\(error.path): \(error.reason)".contains(expected), "\(error.path): \(error.reason)")
        }
    }

    @Test("a Flatten first layer takes its input shape from the build configuration of either Keras")
    func buildShapeFlattened() throws {
        let layers = #"[{"class_name": "Flatten", "config": {"name": "f"}}, {"class_name": "Dense", "config": {"name": "d", "units": 2}}]"#
        for text in [#"{"class_name": "Sequential", "config": {"name": "m", "build_input_shape": [null, 2, 3], "layers": \#(layers)}}"#,
                     #"{"class_name": "Sequential", "config": {"name": "m", "layers": \#(layers)}, "build_config": {"input_shape": [null, 2, 3]}}"#] {
            let spec = try KerasConfig.readModel(try JSONDocument.parse(Array(text.utf8), file: "m.keras").root,
                                                 isKeras2: false)
            #expect(spec.inputShape == [2, 3] && spec.inputWidth == 6 && spec.layers.first?.kind == .flatten)
        }
    }

    /// Found by the keras-config fuzz target: a layer name that cannot name a layer's weights (a `/` makes an HDF5
    /// path of it) was accepted, and only the document's own validation refused it later, at an architecture path.
    @Test("a layer name that cannot name weights is refused at the name", arguments: ["De/nse", "", ".", ".."])
    func invalidLayerNames(name: String) {
        let message = failure(#"{"class_name": "Dense", "config": {"name": "\#(name)", "units": 2}}"#)
        #expect(message.hasPrefix("$.config.layers[1].config.name: ") && message.contains("is not a valid layer name"),
                "\(message)")
    }

    @Test("Dense regularizers and constraints in Keras 3's and Keras 2's forms")
    func regularizersAndConstraints() throws {
        let spec = try model("""
            {"class_name": "Dense", "config": {"name": "d", "units": 3,
             "activity_regularizer": {"module": "keras.regularizers", "class_name": "L1", "config": {"l1": 0.0010000000474974513}, "registered_name": null},
             "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}, "registered_name": null},
             "bias_regularizer": {"class_name": "L2", "config": {"l2": 0.009999999776482582}},
             "kernel_constraint": {"module": "keras.constraints", "class_name": "MinMaxNorm", "config": {"min_value": 0.5, "max_value": 1.5, "rate": 0.7, "axis": 0}, "registered_name": null},
             "bias_constraint": {"class_name": "NonNeg", "config": {}}}},
            {"class_name": "Dense", "config": {"name": "e", "units": 1,
             "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 2.0, "axis": 0}},
             "bias_constraint": {"class_name": "UnitNorm", "config": {"axis": -1}}}}
            """)
        let d = try #require(spec.layers[0].dense), e = try #require(spec.layers[1].dense)
        #expect(d.activityRegularizer == .l1(Double(Float(0.001))))
        #expect(d.kernelRegularizer == .l1l2(l1: 0.01, l2: 0.02))
        #expect(d.biasRegularizer == .l2(Double(Float(0.01))))
        #expect(d.kernelConstraint == .minMaxNorm(minValue: 0.5, maxValue: 1.5, rate: 0.7, axis: 0))
        #expect(d.biasConstraint == .nonNeg)
        #expect(e.kernelConstraint == .maxNorm(maxValue: 2, axis: 0) && e.biasConstraint == .unitNorm(axis: -1))
    }

    @Test("dtype policies: float64 and mixed precision are read, mixed layers and others refused")
    func dtypePolicies() throws {
        func dense(_ name: String, _ policy: String) -> String {
            #"{"class_name": "Dense", "config": {"name": "\#(name)", "units": 2, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "\#(policy)"}, "registered_name": null}}}"#
        }
        #expect(try model(dense("d", "float64")).metadata[KerasConfig.dtypePolicyKey] == nil)
        #expect(try model(dense("d", "mixed_float16")).metadata[KerasConfig.dtypePolicyKey] == "mixed_float16")
        #expect(try model(dense("d", "mixed_bfloat16") + "," + dense("e", "mixed_bfloat16"))
                    .metadata[KerasConfig.dtypePolicyKey] == "mixed_bfloat16")
        let mixed = failure(dense("d", "float32") + "," + dense("e", "float64"))
        #expect(mixed.contains("\"d\" has dtype policy float32") && mixed.contains("\"e\" float64"), "\(mixed)")
        let half = failure(dense("d", "float16"))
        #expect(half.contains("layers[1].config.dtype") && half.contains("\"float16\""), "\(half)")
        let quantized = failure(#"{"class_name": "Dense", "config": {"name": "q", "units": 2, "dtype": {"module": "keras", "class_name": "QuantizedDTypePolicy", "config": {"name": "int8_from_float32"}}}}"#)
        #expect(quantized.contains("QuantizedDTypePolicy"), "\(quantized)")
    }

    @Test("settings mlpconv would compute differently are refused, naming the layer and the setting",
          arguments: [
            (#"{"class_name": "BatchNormalization", "config": {"name": "bn", "axis": 0}}"#, "[null, 4]", "\"bn\" normalizes over axis 0"),
            (#"{"class_name": "BatchNormalization", "config": {"name": "bn", "gamma_regularizer": {"class_name": "L2", "config": {"l2": 0.1}}}}"#,
             "[null, 4]", "\"bn\" uses gamma_regularizer"),
            (#"{"class_name": "BatchNormalization", "config": {"name": "bn", "renorm": true}}"#, "[null, 4]", "batch renormalization"),
            (#"{"class_name": "BatchNormalization", "config": {"name": "bn", "momentum": 1.5}}"#, "[null, 4]", "momentum"),
            (#"{"class_name": "LayerNormalization", "config": {"name": "ln", "rms_scaling": true}}"#, "[null, 4]", "\"ln\" uses rms_scaling"),
            (#"{"class_name": "LayerNormalization", "config": {"name": "ln", "axis": [0, 1]}}"#, "[null, 4]", "\"ln\" normalizes over axis"),
            (#"{"class_name": "Flatten", "config": {"name": "f", "data_format": "channels_first"}}"#, "[null, 2, 3]", "\"f\" is channels_first"),
            (#"{"class_name": "Dense", "config": {"name": "d", "units": 2}}"#, "[null, 2, 3]", "first layer flattens"),
            (#"{"class_name": "Dense", "config": {"name": "d", "units": 2}}"#, "[null, null, 3]", "unknown (null)"),
            (#"{"class_name": "Dropout", "config": {"name": "drop", "rate": 1.0}}"#, "[null, 4]", "rate"),
            (#"{"class_name": "Dense", "config": {"name": "d", "units": 2, "kernel_constraint": {"class_name": "RadialConstraint"}}}"#,
             "[null, 4]", "constraint RadialConstraint is not supported"),
            (#"{"class_name": "Dense", "config": {"name": "d", "units": 2, "kernel_regularizer": {"module": "my.pkg", "class_name": "L2"}}}"#,
             "[null, 4]", "from module \"my.pkg\" is refused"),
            (#"{"class_name": "Conv1D", "config": {"name": "c"}}"#, "[null, 4]", "\"c\" of class Conv1D is not supported"),
          ])
    func refusals(layer: String, input: String, expected: String) {
        let message = failure(layer, input: input)
        #expect(message.contains(expected) && message.hasPrefix("$.config.layers"), "\(message)")
    }

    @Test("a layer with weights that Keras does not train keeps the training state out; a frozen Dropout does not")
    func frozenLayers() throws {
        let frozen = try model(#"{"class_name": "BatchNormalization", "config": {"name": "bn", "trainable": false}}"#)
        #expect(frozen.frozenLayers == ["bn"] && frozen.trainingNotReadReason?.contains("bn") == true)
        let dropout = try model(#"{"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5, "trainable": false}}"#)
        #expect(dropout.frozenLayers.isEmpty)
    }
}
