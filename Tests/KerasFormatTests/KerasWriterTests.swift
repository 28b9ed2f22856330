import Foundation
import MLPCore
import Testing
import ZIPFoundation
import HDF5Support
import MLPDocument
@testable import MLPModelFiles
@testable import KerasFormat
import TestSupport


private let kerasFolder = kerasFixtureFolder("keras")

/// Every Keras file in fixtures/keras (written by real Keras 3.15.1).
private let kerasFixtureFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: kerasFolder.path)) ?? []
    return names.filter { $0.hasSuffix(".h5") || $0.hasSuffix(".keras") }.sorted()
}()

/// Copies a written file into `MLPCONV_INTEROP_DIR/keras`, when set, for scripts/keras_interop_check.py (a folder of
/// its own: scripts/interop_check.py reads the top level as mlpconv's formats).
func exportForKerasInterop(_ path: String, name: String) throws {
    guard let root = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !root.isEmpty else { return }
    let folder = URL(fileURLWithPath: root).appendingPathComponent("keras").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let target = URL(fileURLWithPath: folder).appendingPathComponent(name).path
    try? FileManager.default.removeItem(atPath: target)
    try FileManager.default.copyItem(atPath: path, toPath: target)
}

/// Fixed inputs for the Keras interop check: 5 rows spread over [-1, 1].
private func interopInputs(width: Int) -> [Float] {
    let count = 5 * width
    return (0..<count).map { Float(-1 + 2 * Double($0) / Double(max(count - 1, 1))) }
}

/// Targets that suit `loss` for the rows of `interopInputs`: one-hot or class indices for the cross-entropies,
/// 0/1 for binary ones, positive values or ±1 where the loss wants them, smooth values otherwise. Returned as
/// mlpconv's dataset columns.
private func interopTargets(loss: Loss, outputWidth: Int) -> (values: [Float], width: Int) {
    let rows = 5
    switch loss.kind {
    case .sparseCategoricalCrossentropy:
        return ((0..<rows).map { Float($0 % outputWidth) }, 1)
    case .categoricalCrossentropy, .categoricalHinge, .klDivergence:
        return ((0..<rows).flatMap { r in (0..<outputWidth).map { $0 == r % outputWidth ? Float(1) : 0 } }, outputWidth)
    case .binaryCrossentropy, .squaredHinge:
        return ((0..<rows * outputWidth).map { Float($0 % 2) }, outputWidth)
    case .hinge:
        return ((0..<rows * outputWidth).map { $0 % 3 == 0 ? -1 : 1 }, outputWidth)
    case .poisson, .meanSquaredLogarithmicError, .meanAbsolutePercentageError:
        return ((0..<rows * outputWidth).map { Float(1 + 0.5 * sin(Double($0))) }, outputWidth)
    default:
        return ((0..<rows * outputWidth).map { Float(0.5 * sin(Double($0))) }, outputWidth)
    }
}

/// Next to each exported Keras file, `NAME.expected.json` holds what mlpconv computes from the file it just read
/// back: predictions on fixed inputs and, for a trainable model, every variable after one epoch (batch size 2, no
/// shuffling: three steps, the last one partial) continued from the stored optimizer state, in Keras's
/// `get_weights()` order. The Keras interop check runs the same in Keras and compares. A float64 model is computed
/// in float64 (Keras then runs with JAX's x64 mode); Dropout masks and mixed-precision arithmetic cannot be
/// reproduced, so such continuations are marked as not comparable and the check compares the step count only.
func exportExpectations(of document: ModelDocument, name: String) throws {
    guard let root = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !root.isEmpty else { return }
    let isFloat64 = document.weights.contains { $0.tensors.values.contains { $0.dtype == .float64 } }
    var expected: [String: Any] = isFloat64 ? try expectations(of: document, as: Double.self)
        : try expectations(of: document, as: Float.self)
    let policy = document.metadata["keras_dtype_policy"] ?? (isFloat64 ? "float64" : "float32")
    expected["dtype_policy"] = policy
    expected["prediction_tolerance"] = ["mixed_float16": 5e-3, "mixed_bfloat16": 3e-2][policy] ?? 1e-6
    expected["input_shape"] = document.architecture.inputShape ?? [document.architecture.inputWidth]
    expected["layer_classes"] = document.architecture.layers.map { KerasWriting.kerasClassName($0.kind) }
    let dropout = document.architecture.layers.contains { if case .dropout = $0.kind { true } else { false } }
    if var continuation = expected["continuation"] as? [String: Any] {
        continuation["reproducible"] = !dropout && !policy.hasPrefix("mixed_")
        expected["continuation"] = continuation
    }
    let folder = URL(fileURLWithPath: root).appendingPathComponent("keras")
    let data = try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys])
    try data.write(to: folder.appendingPathComponent(name + ".expected.json"))
}

private func expectations<T: MLPScalar>(of document: ModelDocument, as _: T.Type) throws -> [String: Any] {
    let width = document.architecture.inputWidth
    let x = interopInputs(width: width).map { T($0) }
    let network: Network<T> = try document.network(as: T.self)
    var expected: [String: Any] = [
        "x": x.map { Double($0) }, "rows": 5, "input_width": width,
        "predictions": try network.predict(x).map { Double($0) },
    ]
    if let training = document.training {
        var model = try document.model(as: T.self)
        let targets = interopTargets(loss: training.loss, outputWidth: network.outputWidth)
        let data = try Dataset(features: x, featureWidth: width, targets: targets.values.map { T($0) },
                               targetWidth: targets.width)
        // The compiled metrics mlpconv computes, for the check to compare with Keras's history.
        let metrics = try ModelFiles.compiledMetrics(of: document, file: "exported")?.computed
        let record = try model.fit(data, options: FitOptions(epochs: 1, batchSize: 2, shuffle: false, metrics: metrics))
        expected["continuation"] = [
            // Without compiled metrics mlpconv's default accuracy is its own, which Keras does not compile: the loss only.
            "history": (metrics == nil ? record.last?.metrics.filter { $0.key == "loss" } : record.last?.metrics) ?? [:],
            "y": targets.values.map(Double.init), "target_width": targets.width, "batch_size": 2, "epochs": 1,
            "iterations_before": training.optimizer.iterations, "iterations_after": training.optimizer.iterations + 3,
            "weights": ModelDocument(model: model).variableTensors.map { $0.values(as: Double.self) },
        ] as [String: Any]
    }
    return expected
}

func bits(_ tensor: Tensor) -> [UInt64] {
    switch tensor.storage {
    case .float32(let values): values.map { UInt64($0.bitPattern) }
    case .float64(let values): values.map(\.bitPattern)
    }
}

/// Metadata that is not the reader's own description of the file it read.
func userMetadata(_ metadata: [String: String]) -> [String: String] {
    metadata.filter { !KerasExtras.derivedMetadataKeys.contains($0.key) }
}

/// Writes `document` as keras-h5 and keras, reads both back and checks weights (bit for bit), architecture,
/// training state (all of it: Keras's own part and the mlpconv record's epochs, generator, history and float64
/// learning rate) and metadata.
func expectKerasRoundTrip(_ document: ModelDocument, name: String) throws {
    let folder = try TemporaryFolder()
    for (format, fileName) in [(ModelFormat.kerasH5, "\(name).keras.h5"), (.keras, "\(name).keras")] {
        let path = folder.path(fileName)
        try ModelFiles.save(document, to: path, format: format)
        let back = try ModelFiles.load(path)
        #expect(back.architecture == document.architecture, "\(fileName)")
        #expect(back.weights.count == document.weights.count, "\(fileName)")
        for (a, b) in zip(back.weights, document.weights) {
            #expect(a.tensors.mapValues(\.shape) == b.tensors.mapValues(\.shape), "\(fileName) shapes")
            #expect(a.tensors.mapValues(bits) == b.tensors.mapValues(bits), "\(fileName) tensors")
        }
        #expect(back.training == document.training, "\(fileName) training state")
        #expect(userMetadata(back.metadata) == userMetadata(document.metadata), "\(fileName) metadata")
        #expect(back.metadata["source_format"] == (format == .keras ? "keras" : "keras-h5"))
        try exportForKerasInterop(path, name: fileName)
        try exportExpectations(of: back, name: fileName)
    }
}

struct KerasWriterTests {
    @Test func fixturesArePresent() {
        #expect(kerasFixtureFiles.count == 20)
    }

    @Test("Keras file → keras-h5 and keras → equal document", arguments: kerasFixtureFiles)
    func kerasFixtureRoundTrip(_ fileName: String) throws {
        let document = try ModelFiles.load(kerasFolder.appendingPathComponent(fileName).path)
        try expectKerasRoundTrip(document, name: "rt_" + fileName.replacingOccurrences(of: ".", with: "_"))
    }

    @Test("functional chain → keras-h5 and keras (written as Sequential) → equal document",
          arguments: ["functional_chain.keras", "functional_chain.h5", "functional_chain_tf2.h5", "functional_chain_tf2.keras",
                      "functional_sgd_tf2.keras", "functional_uncompiled.keras"])
    func functionalRoundTrip(_ fileName: String) throws {
        let path = kerasFolder.deletingLastPathComponent().appendingPathComponent("keras-functional/\(fileName)").path
        try expectKerasRoundTrip(try ModelFiles.load(path), name: "rt_" + fileName.replacingOccurrences(of: ".", with: "_"))
    }

    @Test("native model with optimizer state → keras-h5 and keras → equal document",
          arguments: [OptimizerConfig(.adam), OptimizerConfig(.adamw), OptimizerConfig(.sgd), OptimizerConfig(.adagrad),
                      { var c = OptimizerConfig(.adam); c.amsgrad = true; return c }(),
                      { var c = OptimizerConfig(.sgd, learningRate: 0.05); c.momentum = 0.9; c.nesterov = true; return c }(),
                      OptimizerConfig(.rmsprop),
                      { var c = OptimizerConfig(.rmsprop); c.momentum = 0.5; c.centered = true; return c }()])
    func nativeRoundTrip(_ config: OptimizerConfig) throws {
        var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .relu), LayerSpec(2, .softmax)],
                                     loss: .categoricalCrossentropy, optimizer: config, seed: 7)
        let data = try Dataset<Float>(features: [0.1, 0.2, 0.3, -1, 0, 1, 2, 2, 2, 0.5, -0.5, 0],
                                      featureWidth: 3, targets: [1, 0, 0, 1, 1, 0, 0, 1], targetWidth: 2)
        _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
        var document = ModelDocument(model: model)
        document.metadata["experiment"] = "keras round trip \u{1F9EA}"
        #expect(document.training?.optimizer.iterations == 4)
        let name = "native_\(config.kind.name)_\(config.slotNames.joined(separator: "_"))"
            + (config.nesterov ? "_nesterov" : "")
        try expectKerasRoundTrip(document, name: name)
    }

    @Test func float64AndNoBiasAndUncompiled() throws {
        var random = RandomGenerator(seed: 3)
        let network = try Network<Double>(inputWidth: 5, layers: [LayerSpec(3, .tanh, useBias: false), LayerSpec(1, .linear)],
                                          random: &random)
        try expectKerasRoundTrip(ModelDocument(network: network), name: "native_f64_uncompiled")
    }

    /// A `.keras` file of `document` whose metadata.json has had `edit` applied to its text.
    private func kerasFile(_ document: ModelDocument, editingMetadata edit: (String) -> String,
                           in folder: TemporaryFolder) throws -> String {
        let original = folder.path("original.keras")
        try ModelFiles.save(document, to: original, format: .keras)
        let members = try zipMembers(of: original).map { member in
            (name: member.name, bytes: member.name == "metadata.json"
                ? Array(edit(String(decoding: member.bytes, as: UTF8.self)).utf8) : member.bytes)
        }
        return try folder.write("edited.keras", try zipArchive(members, compression: .none))
    }

    private func trainedDocument() throws -> ModelDocument {
        var model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .tanh), LayerSpec(1, .sigmoid)],
                                     loss: .binaryCrossentropy, optimizer: OptimizerConfig(.adam), seed: 5)
        let data = try Dataset<Float>(features: [0, 1, 1, 0, 1, 1], featureWidth: 2, targets: [1, 1, 0], targetWidth: 1)
        _ = try model.fit(data, options: FitOptions(epochs: 3, batchSize: 2))
        var document = ModelDocument(model: model)
        document.metadata["owner"] = "lab 7"
        return document
    }

    @Test("the mlpconv record: Keras's metadata.json and root attributes carry epochs, generator, history, metadata")
    func recordLocations() throws {
        let document = try trainedDocument()
        let folder = try TemporaryFolder()
        try ModelFiles.save(document, to: folder.path("m.h5"), format: .kerasH5)
        let record = try HDF5File.openReadOnly(at: folder.path("m.h5")).stringAttribute("mlpconv")
        #expect(record.contains("\"epochs_completed\":3") && record.contains("\"owner\":\"lab 7\""), "\(record)")
        // A model with nothing Keras lacks gets no record: Keras → mlpconv → Keras adds nothing.
        let plain = try ModelFiles.load(kerasFolder.appendingPathComponent("sgd_relu_softmax.h5").path)
        try ModelFiles.save(plain, to: folder.path("plain.h5"), format: .kerasH5)
        #expect(try !HDF5File.openReadOnly(at: folder.path("plain.h5")).hasAttribute("mlpconv"))
    }

    @Test("a record written at another iteration keeps its metadata but not its training part, and says so")
    func staleRecord() throws {
        let document = try trainedDocument()
        let folder = try TemporaryFolder()
        let path = try kerasFile(document, editingMetadata: {
            $0.replacingOccurrences(of: "\"iterations\":6", with: "\"iterations\":5")
        }, in: folder)
        let back = try ModelFiles.load(path)
        #expect(back.training?.optimizer.iterations == 6)
        #expect(back.training?.epochsCompleted == 0 && back.training?.history == [] && back.training?.randomState == nil)
        #expect(back.metadata["owner"] == "lab 7")
        #expect(back.metadata["mlpconv_record"]?.contains("iteration 5") == true, "\(back.metadata)")
    }

    @Test("a malformed or newer record is refused with its place in metadata.json",
          arguments: [("\"format_version\":1", "\"format_version\":2", "upgrade mlpconv"),
                      ("\"epochs_completed\":3", "\"epochs_completed\":-3", "epochs_completed"),
                      ("\"owner\":\"lab 7\"", "\"owner\":7", "owner")])
    func badRecord(find: String, replace: String, expected: String) throws {
        let folder = try TemporaryFolder()
        let path = try kerasFile(try trainedDocument(), editingMetadata: {
            $0.replacingOccurrences(of: find, with: replace)
        }, in: folder)
        let message = expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }?.description ?? ""
        #expect(message.contains("metadata.json") && message.contains("mlpconv") && message.contains(expected), "\(message)")
    }

    /// Archives past 4 GiB need ZIP64 records; forcing them on a small archive tests that path: our reader loads it,
    /// and the CI Keras check has Keras (Python's zipfile) load it too.
    @Test func zip64RecordsAreReadable() throws {
        let document = try ModelFiles.load(kerasFolder.appendingPathComponent("adam_gelu_softmax_sparse.keras").path)
        let folder = try TemporaryFolder()
        let path = folder.path("zip64.keras")
        // The writer fills an existing file (the façade hands it a fresh temporary one).
        try #require(FileManager.default.createFile(atPath: path, contents: nil))
        try KerasZipWriter.write(document, toPath: path, file: path, forceZip64: true)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.range(of: Data([0x50, 0x4b, 0x06, 0x06])) != nil, "no ZIP64 end of central directory record")
        let back = try ModelFiles.load(path)
        #expect(back.weights == document.weights && back.training == document.training)
        try exportForKerasInterop(path, name: "zip64_forced.keras")
        try exportExpectations(of: back, name: "zip64_forced.keras")
    }

    /// More names than fit one attribute in an object header are split as Keras splits them (`layer_names0`, …).
    @Test func longNameListsAreChunked() throws {
        let layers = (0..<2100).map { _ in LayerSpec(1, .linear) }
        let model = try Model<Float>(inputWidth: 1, layers: layers, loss: .meanSquaredError,
                                     optimizer: OptimizerConfig(.adam), seed: 2)
        let document = ModelDocument(model: model)
        let folder = try TemporaryFolder()
        let path = folder.path("deep.h5")
        try ModelFiles.save(document, to: path, format: .kerasH5)
        let h5 = try HDF5File.openReadOnly(at: path)
        let weights = try h5.openGroup("model_weights")
        #expect(try !weights.hasAttribute("layer_names"))
        #expect(try weights.stringArrayAttribute("layer_names0").count == 1050)
        #expect(try weights.stringArrayAttribute("layer_names1").count == 1050)
        let optimizer = try h5.openGroup("optimizer_weights")
        // 2 + 2100 layers × 2 parameters × 2 slots = 8402 names: five parts of at most 2048.
        let parts = try (0..<5).map { part in try optimizer.stringArrayAttribute("weight_names\(part)").count }
        #expect(parts.reduce(0, +) == 8402 && parts.allSatisfy { $0 <= KerasH5Writer.namesPerAttribute })
        #expect(try !optimizer.hasAttribute("weight_names5"))
        let back = try ModelFiles.load(path)
        #expect(back.architecture == document.architecture)
        #expect(back.training == document.training)
    }

    /// Compiled metrics: Keras's own come back (the list's canonical text, docs/keras-formats.md); a native model
    /// gets `accuracy` when its loss has one (what mlpconv's history records), nothing otherwise.
    @Test func compiledMetrics() throws {
        let folder = try TemporaryFolder()
        func written(_ document: ModelDocument, _ name: String) throws -> [String: String] {
            var found: [String: String] = [:]
            for (format, file) in [(ModelFormat.kerasH5, "\(name).h5"), (.keras, "\(name).keras")] {
                try ModelFiles.save(document, to: folder.path(file), format: format)
                found[file] = try ModelFiles.load(folder.path(file)).metadata["keras_metrics"]
            }
            return found
        }
        let keras = try ModelFiles.load(kerasFolder.appendingPathComponent("sgd_relu_softmax.keras").path)
        #expect(keras.metadata["keras_metrics"] == "[\"accuracy\"]")
        #expect(try written(keras, "k") == ["k.h5": "[\"accuracy\"]", "k.keras": "[\"accuracy\"]"])
        let uncompiled = try ModelFiles.load(kerasFolder.appendingPathComponent("uncompiled_tanh_linear.h5").path)
        #expect(uncompiled.metadata["keras_metrics"] == nil)

        let classifier = try Model<Float>(inputWidth: 2, layers: [LayerSpec(2, .softmax)], loss: .categoricalCrossentropy,
                                          optimizer: OptimizerConfig(.sgd), seed: 1)
        #expect(try written(ModelDocument(model: classifier), "c") == ["c.h5": "[\"accuracy\"]", "c.keras": "[\"accuracy\"]"])
        let regressor = try Model<Float>(inputWidth: 2, layers: [LayerSpec(1, .linear)], loss: .meanSquaredError,
                                         optimizer: OptimizerConfig(.sgd), seed: 1)
        #expect(try written(ModelDocument(model: regressor), "r") == ["r.h5": "", "r.keras": ""])
        var none = ModelDocument(model: classifier)
        none.metadata["keras_metrics"] = ""
        #expect(try written(none, "n") == ["n.h5": "", "n.keras": ""])
        // The names mlpconv kept before it kept metric objects are still written.
        var older = ModelDocument(model: classifier)
        older.metadata["keras_metrics"] = "acc, mse"
        #expect(try written(older, "o") == ["o.h5": "[\"acc\",\"mse\"]", "o.keras": "[\"acc\",\"mse\"]"])
        let text = try HDF5File.openReadOnly(at: folder.path("c.h5")).stringAttribute("training_config")
        #expect(text.contains("\"metrics\":[\"accuracy\"]"), "\(text)")
    }

    @Test func refusesWhatKerasCannotLoad() throws {
        let model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(1, .linear)], loss: .halfSquaredError,
                                     optimizer: OptimizerConfig(.sgd), seed: 1)
        let folder = try TemporaryFolder()
        let error = expectError(ModelFileError.self) {
            try ModelFiles.save(ModelDocument(model: model), to: folder.path("x.keras"), format: .keras)
        }
        #expect(error?.description.contains("half_squared_error") == true)
        #expect(!FileManager.default.fileExists(atPath: folder.path("x.keras")))
    }

    /// torch's losses Keras has no form for are refused naming them; CrossEntropyLoss, which Keras has as the
    /// sparse cross-entropy on logits, is written as that, with a note.
    @Test(arguments: [Loss(.nllLoss), try Loss(.smoothL1, beta: 0.5)])
    func refusesTorchOnlyLosses(loss: Loss) throws {
        let model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .linear)], loss: loss,
                                     optimizer: OptimizerConfig(.sgd), seed: 1)
        let folder = try TemporaryFolder()
        for format in [ModelFormat.keras, .kerasH5] {
            let error = expectError(ModelFileError.self) {
                try ModelFiles.save(ModelDocument(model: model), to: folder.path("x"), format: format)
            }
            #expect(error?.description.contains("the loss \(loss.description) has no Keras equivalent") == true,
                    "\(error?.description ?? "")")
        }
    }

    @Test func crossEntropyIsWrittenAsKerasSparseCrossEntropyOnLogits() throws {
        let model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .linear)], loss: Loss(.crossEntropy),
                                     optimizer: OptimizerConfig(.sgd), seed: 1)
        let folder = try TemporaryFolder()
        let notes = try ModelFiles.save(ModelDocument(model: model), to: folder.path("x.keras"), format: .keras)
        #expect(notes.count == 1 && notes[0].hasPrefix("loss cross_entropy (torch's CrossEntropyLoss) written as Keras's sparse_categorical_crossentropy"))
        #expect(try ModelFiles.load(folder.path("x.keras")).training?.loss == (try Loss(.sparseCategoricalCrossentropy, fromLogits: true)))
    }

    /// The Keras writers refuse torch's running-variance update, which Keras cannot hold; the façade, converting,
    /// gives the layer Keras's rule and says so (predictions do not depend on it).
    @Test func refusesTorchsRunningVarianceUpdate() throws {
        let settings = BatchNormalizationSettings(momentum: 0.9, epsilon: 1e-5, unbiasedMovingVariance: true)
        let model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .linear), LayerSpec(.batchNormalization(settings), name: "bn")],
                                     loss: .meanSquaredError, optimizer: OptimizerConfig(.sgd), seed: 1)
        let folder = try TemporaryFolder()
        let path = folder.path("x.keras")
        let error = expectError(ModelFileError.self) {
            try KerasZipWriter.write(ModelDocument(model: model), toPath: path, file: path)
        }
        #expect(error?.object == "layer \"bn\"" && error?.reason.contains("unbiased batch variance") == true,
                "\(error?.description ?? "")")
        let notes = try ModelFiles.save(ModelDocument(model: model), to: path, format: .keras)
        #expect(notes.first?.hasPrefix("layer \"bn\": Keras's BatchNormalization updates its moving variance with the biased") == true, "\(notes)")
        let written = try ModelFiles.load(path)
        #expect(written.architecture.layers[1].kind == .batchNormalization(BatchNormalizationSettings(momentum: 0.9, epsilon: 1e-5)))
    }

    @Test func kerasLayout() throws {
        let document = try ModelFiles.load(kerasFolder.appendingPathComponent("adam_amsgrad_elu_tanh_linear.h5").path)
        let folder = try TemporaryFolder()
        let path = folder.path("m.h5")
        try ModelFiles.save(document, to: path, format: .kerasH5)
        let h5 = try HDF5File.openReadOnly(at: path)
        #expect(try h5.stringAttribute("keras_version") == "3.15.1")
        #expect(try h5.stringAttribute("backend") == "jax")
        let weights = try h5.openGroup("model_weights")
        #expect(try weights.stringArrayAttribute("layer_names") == ["h1", "h2", "out"])
        #expect(try weights.openGroup("h1").stringArrayAttribute("weight_names")
                == ["adam_amsgrad_elu_tanh_linear/h1/kernel", "adam_amsgrad_elu_tanh_linear/h1/bias"])
        let names = try h5.openGroup("optimizer_weights").stringArrayAttribute("weight_names")
        #expect(names.prefix(4) == ["adam/iteration", "adam/learning_rate",
                                    "adam/adam_amsgrad_elu_tanh_linear_h1_kernel_momentum",
                                    "adam/adam_amsgrad_elu_tanh_linear_h1_kernel_velocity"])
        #expect(names.last == "adam/adam_amsgrad_elu_tanh_linear_out_bias_velocity_hat")
        #expect(names.count == 20)
        let iteration = try h5.openGroup("optimizer_weights").openDataset("adam/iteration").info()
        #expect(iteration.type.size == 4 && iteration.type.typeClass == .integer)
    }
}
