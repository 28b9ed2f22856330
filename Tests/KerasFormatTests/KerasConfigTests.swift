import MLPCore
import Testing
import JSONSupport
@testable import KerasFormat
import TestSupport
import MLPDocument

@Suite("Keras configurations")
struct KerasConfigTests {
    private func model(_ text: String, keras2: Bool = true) throws(JSONError) -> KerasModelSpec {
        let document = try JSONDocument.parse(Array(text.utf8), file: "m.h5")
        return try KerasConfig.readModel(document.root, isKeras2: keras2)
    }

    private func failure(_ text: String) -> String {
        do { _ = try model(text); return "(no error)" } catch { return "\(error.path): \(error.reason)" }
    }

    @Test("Keras 2 variants: batch_input_shape on the first Dense, string dtype and initializers")
    func keras2Config() throws {
        let spec = try model("""
            {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
              {"class_name": "Dense", "config": {"name": "dense", "batch_input_shape": [null, 3], "dtype": "float32",
               "units": 2, "activation": "linear", "use_bias": true, "kernel_initializer": "he_uniform",
               "bias_initializer": {"class_name": "Zeros", "config": {}}}},
              {"class_name": "Activation", "config": {"name": "act", "activation": "swish"}},
              {"class_name": "Dense", "config": {"name": "dense_1", "units": 1,
               "kernel_initializer": {"class_name": "VarianceScaling", "config": {}}}}]}}
            """)
        #expect(spec.inputWidth == 3)
        // The Activation layer stays a layer of its own, as Keras has it.
        #expect(spec.layers.map(\.kind) == [
            .dense(DenseSettings(units: 2, kernelInitializer: .heUniform)), .activation(.silu), .dense(DenseSettings(units: 1))])
        #expect(spec.metadata["keras_kernel_initializer.dense_1"] == "VarianceScaling")
        #expect(KerasWriting.layerKeys(spec.layers) == ["dense", "activation", "dense_1"])
    }

    /// A functional config in Keras 2's form (nested endpoint lists, `[name, node, tensor, kwargs]` nodes) or
    /// Keras 3's (flat endpoints, `__keras_tensor__` args), with the layers `d1` → `d2` by default.
    private func functional(keras3: Bool, inputs: String? = nil, outputs: String? = nil,
                            d2Nodes: String? = nil) -> String {
        func node(_ source: String) -> String {
            keras3 ? #"{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 2], "keras_history": ["\#(source)", 0, 0]}}], "kwargs": {}}"#
                : #"[["\#(source)", 0, 0, {}]]"#
        }
        let ends = keras3 ? (#"["x", 0, 0]"#, #"["d2", 0, 0]"#) : (#"[["x", 0, 0]]"#, #"[["d2", 0, 0]]"#)
        return """
            {"class_name": "Functional", "config": {"name": "f", "layers": [
              {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [null, 3], "name": "x"}, "inbound_nodes": []},
              {"class_name": "Dense", "name": "d1", "config": {"name": "d1", "units": 2, "activation": "relu"},
               "inbound_nodes": [\(node("x"))]},
              {"class_name": "Dense", "name": "d2", "config": {"name": "d2", "units": 1},
               "inbound_nodes": [\(d2Nodes ?? node("d1"))]}],
             "input_layers": \(inputs ?? ends.0), "output_layers": \(outputs ?? ends.1)}}
            """
    }

    @Test("functional chains are read in both Keras forms; other graphs are refused naming what breaks the chain",
          arguments: [false, true])
    func functionalChains(keras3: Bool) throws {
        let spec = try model(functional(keras3: keras3), keras2: !keras3)
        #expect(spec.inputWidth == 3 && spec.layers.map(\.name) == ["d1", "d2"]
                && KerasWriting.layerKeys(spec.layers) == ["dense", "dense_1"])
        let skip = failure(functional(keras3: keras3, d2Nodes: keras3
            ? #"{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}], "kwargs": {}}"#
            : #"[["x", 0, 0, {}]]"#))
        #expect(skip.contains("layers[2]") && skip.contains("takes its input from [x]") && skip.contains("\"d1\""), "\(skip)")
        let twice = failure(functional(keras3: keras3, d2Nodes: keras3
            ? #"{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["d1", 0, 0]}}]}, {"args": []}"#
            : #"[["d1", 0, 0, {}]], [["d1", 1, 0, {}]]"#))
        #expect(twice.contains("\"d2\" is called 2 times"), "\(twice)")
        let twoInputs = failure(functional(keras3: keras3, inputs: #"[["x", 0, 0], ["y", 0, 0]]"#))
        #expect(twoInputs.contains("input_layers") && twoInputs.contains("2 inputs (x, y)"), "\(twoInputs)")
        let wrongOutput = failure(functional(keras3: keras3, outputs: #"[["d1", 0, 0]]"#))
        #expect(wrongOutput.contains("are not the first and last"), "\(wrongOutput)")
    }

    @Test("refusals name the JSON path and the reason")
    func refusals() {
        let custom = failure("""
            {"class_name": "Sequential", "config": {"layers": [
              {"module": "my_package", "class_name": "Dense", "config": {"name": "d", "units": 2}}]}}
            """)
        #expect(custom.contains("my_package") && custom.contains("refused"), "\(custom)")
        let registered = failure("""
            {"class_name": "Sequential", "config": {"layers": [
              {"class_name": "MyDense", "registered_name": "pkg>MyDense", "config": {"name": "d"}}]}}
            """)
        #expect(registered.contains("pkg>MyDense"), "\(registered)")
        let subclassed = failure(#"{"class_name": "MyModel", "config": {"layers": []}}"#)
        #expect(subclassed.contains("\"MyModel\" is not supported"), "\(subclassed)")
        let regularized = failure("""
            {"class_name": "Sequential", "config": {"layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 2]}},
              {"class_name": "Dense", "config": {"name": "d", "units": 2, "kernel_regularizer": {"class_name": "OrthogonalRegularizer"}}}]}}
            """)
        #expect(regularized.contains("kernel_regularizer") && regularized.contains("OrthogonalRegularizer is not supported"),
                "\(regularized)")
    }

    @Test("optimizer configurations: Keras 2's lr, unsupported settings")
    func optimizers() throws {
        func optimizer(_ text: String) throws(JSONError) -> OptimizerConfig {
            try KerasConfig.readOptimizer(try JSONDocument.parse(Array(text.utf8), file: "m.h5").root)
        }
        let old = try optimizer(#"{"class_name": "SGD", "config": {"name": "SGD", "lr": 0.5, "decay": 0.0, "momentum": 0.25, "nesterov": false}}"#)
        #expect(old.kind == .sgd && old.learningRate == 0.5 && old.momentum == 0.25)
        #expect(throws: JSONError.self) {
            try optimizer(#"{"class_name": "Adam", "config": {"learning_rate": {"class_name": "ExponentialDecay", "config": {}}}}"#)
        }
        let ema = try optimizer(#"{"class_name": "Adam", "config": {"use_ema": true, "ema_momentum": 0.5, "ema_overwrite_frequency": 4}}"#)
        #expect(ema.useEMA && ema.emaMomentum == 0.5 && ema.emaOverwriteFrequency == 4)
        // Without use_ema, Keras's ema settings are ignored, as Keras ignores them.
        let noEMA = try optimizer(#"{"class_name": "Adam", "config": {"use_ema": false, "ema_momentum": 7, "ema_overwrite_frequency": 4}}"#)
        #expect(noEMA == OptimizerConfig(.adam))
        #expect(throws: JSONError.self) { try optimizer(#"{"class_name": "Adam", "config": {"use_ema": true, "ema_momentum": 1.5}}"#) }
        // tf.keras's EMA keeps its averages under other names: its files keep their training state out, with a note.
        #expect(throws: JSONError.self) {
            try KerasConfig.readOptimizer(try JSONDocument.parse(Array(#"{"class_name": "Adam", "config": {"use_ema": true}}"#.utf8),
                                                                 file: "m.h5").root, isKeras2: true)
        }
        #expect(throws: JSONError.self) { try optimizer(#"{"class_name": "Adafactor", "config": {}}"#) }
        let wrapped = try optimizer(#"{"class_name": "LossScaleOptimizer", "config": {"name": "loss_scale_optimizer", "inner_optimizer": {"module": "keras.optimizers", "class_name": "SGD", "config": {"learning_rate": 0.5, "gradient_accumulation_steps": 2}, "registered_name": null}}}"#)
        #expect(wrapped.kind == .sgd && wrapped.learningRate == 0.5 && wrapped.gradientAccumulationSteps == 2)
        #expect(wrapped.dynamicLossScale == .init(initialScale: 32768, dynamicGrowthSteps: 2000))
        func refusal(_ text: String) -> String {
            do {
                _ = try optimizer(text)
                return "accepted"
            } catch {
                return error.description
            }
        }
        let inner = #""inner_optimizer": {"class_name": "Adam", "config": {}}"#
        #expect(refusal(#"{"class_name": "LossScaleOptimizer", "config": {"initial_scale": 8}}"#).contains("has no inner_optimizer"))
        #expect(refusal(#"{"class_name": "LossScaleOptimizer", "config": {\#(inner), "dynamic": false}}"#).contains("dynamic other than true"))
        #expect(refusal(#"{"class_name": "LossScaleOptimizer", "config": {\#(inner), "scale": 2}}"#).contains("setting \"scale\" is not supported"))
        #expect(refusal(#"{"class_name": "LossScaleOptimizer", "config": {\#(inner), "initial_scale": -1}}"#).contains("$.config.initial_scale"))
        #expect(refusal(#"{"class_name": "LossScaleOptimizer", "config": {"inner_optimizer": {"class_name": "LossScaleOptimizer", "config": {\#(inner)}}}}"#)
                .contains("inside a LossScaleOptimizer"))
        let loss = try KerasConfig.readLoss(try JSONDocument.parse(Array(#""mae""#.utf8), file: "m").root)
        #expect(loss == .meanAbsoluteError)
    }

    /// Loss objects: Keras 3's and Keras 2's default settings read as the plain loss; from_logits, label_smoothing
    /// and Huber's delta are read; any other setting would make mlpconv train a different loss than the file's, so it
    /// is refused, naming the setting.
    @Test("loss objects: defaults accepted, settings read, every other setting refused by name")
    func lossSettings() throws {
        func loss(_ text: String) throws(JSONError) -> Loss {
            try KerasConfig.readLoss(try JSONDocument.parse(Array(text.utf8), file: "m").root)
        }
        #expect(try loss(#"{"module": "keras.losses", "class_name": "CategoricalCrossentropy", "config": {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": false, "label_smoothing": 0.0, "axis": -1}, "registered_name": null}"#) == .categoricalCrossentropy)
        #expect(try loss(#"{"class_name": "SparseCategoricalCrossentropy", "config": {"reduction": "auto", "name": "sparse_categorical_crossentropy", "from_logits": false, "ignore_class": null}}"#) == .sparseCategoricalCrossentropy)
        #expect(try loss(#"{"class_name": "Huber", "config": {"reduction": "auto", "name": "huber_loss", "delta": 1.0}}"#) == .huber)
        #expect(try loss(#"{"class_name": "BinaryCrossentropy", "config": {"from_logits": true}}"#)
                == Loss(.binaryCrossentropy, fromLogits: true))
        #expect(try loss(#"{"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.1, "from_logits": true}}"#)
                == Loss(.categoricalCrossentropy, fromLogits: true, labelSmoothing: 0.1))
        #expect(try loss(#"{"class_name": "Huber", "config": {"delta": 2.0}}"#) == Loss(.huber, delta: 2))
        #expect(try loss(#""KLD""#) == .klDivergence)
        #expect(try loss(#""LogCosh""#) == .logCosh)
        let refusals = [
            (#"{"class_name": "MeanSquaredError", "config": {"reduction": "sum"}}"#, "reduction \"sum\""),
            (#"{"class_name": "SparseCategoricalCrossentropy", "config": {"ignore_class": 0}}"#, "ignore_class"),
            (#"{"class_name": "SparseCategoricalCrossentropy", "config": {"label_smoothing": 0.1}}"#, "has no label smoothing"),
            (#"{"class_name": "MeanSquaredError", "config": {"from_logits": true}}"#, "has no from_logits"),
            (#"{"class_name": "BinaryCrossentropy", "config": {"label_smoothing": 1.5}}"#, "label_smoothing must be in [0, 1], got 1.5"),
            (#"{"class_name": "Huber", "config": {"delta": -2.0}}"#, "delta must be a positive finite number"),
            (#"{"class_name": "CategoricalCrossentropy", "config": {"axis": 0}}"#, "axis 0"),
            (#"{"class_name": "MeanSquaredError", "config": {"weights": [1, 2]}}"#, "\"weights\""),
        ]
        for (text, expected) in refusals {
            let message = expectError(JSONError.self) { _ = try loss(text) }?.reason ?? ""
            #expect(message.contains(expected), "\(text): \(message)")
        }
        func weights(_ text: String) throws(JSONError) {
            try KerasConfig.checkLossWeights(try JSONDocument.parse(Array(text.utf8), file: "m").root)
        }
        for accepted in [#"{}"#, #"{"loss_weights": null}"#, #"{"loss_weights": [1.0]}"#, #"{"loss_weights": 1}"#] {
            #expect(throws: Never.self, "\(accepted)") { try weights(accepted) }
        }
        for refused in [#"{"loss_weights": [0.5]}"#, #"{"loss_weights": [1, 1]}"#, #"{"loss_weights": {"out": 2}}"#] {
            #expect(throws: JSONError.self, "\(refused)") { try weights(refused) }
        }
    }
}
