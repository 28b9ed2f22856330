import Foundation
import MLPCore
import Testing
import ZIPFoundation
import MLPDocument
@testable import MLPModelFiles
@testable import KerasFormat
import TestSupport

/// Files written by real Keras 3.15.1 (JAX) with `fixtures/generate/generate_keras_reader_cases.py`, and what h5py
/// and `model.predict` saw in them (`expected.json`).
private let kerasFixtures = kerasFixtureFolder("keras-reader")

private func fixture(_ name: String) -> String { kerasFixtures.appendingPathComponent(name).path }

/// `adam.keras` rewritten by mlpconv's own zip writer into `folder` (ZIP64 records forced when asked), and the
/// document read back from it.
private func rewrittenAdam(zip64: Bool, in folder: TemporaryFolder) throws -> (path: String, document: ModelDocument) {
    let original = try ModelFiles.load(fixture("adam.keras"))
    let path = folder.path("clean.keras")
    // The writer fills an existing file (the façade hands it a fresh temporary one).
    try #require(FileManager.default.createFile(atPath: path, contents: nil))
    try KerasZipWriter.write(original, toPath: path, file: path, forceZip64: zip64)
    return (path, try ModelFiles.load(path))
}

private struct ReaderExpectations {
    let inputs: [[Float]]
    let cases: [String: Any]

    static func load() throws -> ReaderExpectations {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("expected.json")))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let inputs = try #require(root["inputs"] as? [[Double]]).map { $0.map(Float.init) }
        return ReaderExpectations(inputs: inputs, cases: try #require(root["cases"] as? [String: Any]))
    }

    func predictions(_ name: String) throws -> [[Float]] {
        let entry = try #require(cases[name] as? [String: Any])
        return try #require(entry["predictions"] as? [[Double]]).map { $0.map(Float.init) }
    }

    /// The datasets h5py saw, by path: (shape, values as float32).
    func variables(_ name: String, format: String) throws -> [String: (shape: [Int], values: [Double])] {
        let entry = try #require(cases[name] as? [String: Any])
        let vars = try #require(entry[format] as? [String: [String: Any]])
        var result: [String: (shape: [Int], values: [Double])] = [:]
        for (path, info) in vars {
            result[path] = (try #require(info["shape"] as? [Int]), try #require(info["values"] as? [Double]))
        }
        return result
    }
}

private func expectTensor(_ tensor: Tensor, equals expected: (shape: [Int], values: [Double])?,
                          _ what: String) throws {
    let expected = try #require(expected, "no h5py view of \(what)")
    #expect(tensor.shape == expected.shape, "\(what)")
    // float32 values widened to double by Python: equal bit for bit after narrowing.
    #expect(floats(tensor).map { Float($0).bitPattern } == expected.values.map { Float($0).bitPattern }, "\(what)")
}

@Suite("Keras reader")
struct KerasReaderTests {
    /// Predictions of the loaded network equal Keras's `model.predict` to 1e-6.
    private func checkPredictions(_ document: ModelDocument, _ expected: ReaderExpectations, _ name: String) throws {
        let network: Network<Float> = try document.network()
        let outputs = try network.predict(expected.inputs.flatMap { $0 })
        let want = try expected.predictions(name).flatMap { $0 }
        #expect(outputs.count == want.count)
        for (got, keras) in zip(outputs, want) {
            #expect(abs(got - keras) <= 1e-6, "\(name): \(got) vs Keras \(keras)")
        }
    }

    @Test("legacy .h5 files: architecture, weights, training state and predictions",
          arguments: ["adam", "sgd", "rmsprop", "plain"])
    func legacyH5(_ name: String) throws {
        let expected = try ReaderExpectations.load()
        let document = try ModelFiles.load(fixture("\(name).h5"))
        let vars = try expected.variables(name, format: "h5")
        #expect(document.metadata["source_format"] == "keras-h5")
        #expect(document.metadata["keras_version"] == "3.15.1")
        #expect(document.metadata["backend"] == "jax")
        // Weights: /model_weights/<layer>/<model>/<layer>/kernel|bias.
        let model = try #require(document.metadata["keras_model_name"])
        for (layer, weights) in zip(document.architecture.layers, document.weights) where layer.kind.dense != nil {
            try expectTensor(weights.kernel, equals: vars["model_weights/\(layer.name)/\(model)/\(layer.name)/kernel"],
                             "\(layer.name)/kernel")
            if let bias = weights.bias {
                try expectTensor(bias, equals: vars["model_weights/\(layer.name)/\(model)/\(layer.name)/bias"],
                                 "\(layer.name)/bias")
            }
        }
        try checkPredictions(document, expected, name)
        if name == "plain" {
            #expect(document.training == nil)
            return
        }
        let training = try #require(document.training)
        let prefix = ["adam": "adam", "sgd": "sgd", "rmsprop": "rm_sprop"][name] ?? name
        let iteration = try #require(vars["optimizer_weights/\(prefix)/iteration"])
        #expect(Double(training.optimizer.iterations) == iteration.values.first)
        #expect(training.optimizer.iterations == 4)  // 16 samples, batch 4, one epoch
        for slot in training.optimizer.slots {
            for (tensor, parameter) in zip(slot.tensors, document.parameterNames) {
                let flat = "\(model)_" + parameter.replacingOccurrences(of: "/", with: "_")
                try expectTensor(tensor, equals: vars["optimizer_weights/\(prefix)/\(flat)_\(slot.name)"],
                                 "\(slot.name) of \(parameter)")
            }
        }
    }

    @Test("legacy .h5 configurations map to mlpconv's")
    func legacyConfigs() throws {
        let adam = try ModelFiles.load(fixture("adam.h5"))
        #expect(adam.metadata["source_format"] == "keras-h5")
        #expect(adam.metadata["keras_version"] == "3.15.1")
        #expect(adam.metadata["backend"] == "jax")
        #expect(try ModelFiles.load(fixture("adam.keras")).metadata["source_format"] == "keras")
        #expect(adam.architecture.inputWidth == 4)
        #expect(adam.architecture.layers.map(\.name) == ["hidden", "out"])
        #expect(adam.architecture.layers.map(\.activation) == [.relu, .softmax])
        #expect(adam.training?.loss == .categoricalCrossentropy)
        #expect(adam.training?.optimizer.config.kind == .adam)
        #expect(adam.training?.optimizer.config.learningRate == Double(Float(0.01)))
        #expect(adam.training?.optimizer.slots.map(\.name) == ["momentum", "velocity"])

        // Activation and Dropout kept as layers, swish → silu, he_normal kept.
        let sgd = try ModelFiles.load(fixture("sgd.h5"))
        #expect(sgd.architecture.layers.map(\.name) == ["lin", "act", "drop", "out"])
        #expect(sgd.architecture.layers[1].kind == .activation(.tanh))
        let sgdDense = sgd.architecture.layers.filter { $0.kind.dense != nil }
        #expect(sgdDense.map(\.activation) == [.linear, .silu])
        #expect(sgdDense.map(\.useBias) == [true, false])
        #expect(sgd.architecture.layers[0].kernelInitializer == .heNormal)
        #expect(sgd.training?.loss == .meanSquaredError)
        let sgdConfig = try #require(sgd.training?.optimizer.config)
        #expect(sgdConfig.kind == .sgd && sgdConfig.momentum == 0.9 && sgdConfig.nesterov)

        let rms = try ModelFiles.load(fixture("rmsprop.h5"))
        let rmsConfig = try #require(rms.training?.optimizer.config)
        #expect(rmsConfig.kind == .rmsprop && rmsConfig.centered && rmsConfig.momentum == 0.5)
        #expect(rms.training?.optimizer.slots.map(\.name) == ["velocity", "momentum", "average_gradient"])
        #expect(rms.training?.loss == .binaryCrossentropy)
        #expect(rms.architecture.layers.map(\.activation) == [.gelu, .sigmoid])
    }

    @Test(".keras files: weights bit-exact and predictions", arguments: ["adam", "sgd", "rmsprop", "plain"])
    func kerasZip(_ name: String) throws {
        let expected = try ReaderExpectations.load()
        let document = try ModelFiles.load(fixture("\(name).keras"))
        let vars = try expected.variables(name, format: "keras")
        #expect(document.metadata["source_format"] == "keras")
        #expect(document.metadata["keras_version"] == "3.15.1")
        var keys: [String: Int] = [:]
        for (layer, weights) in zip(document.architecture.layers, document.weights) where layer.kind.dense != nil {
            let used = keys["dense"]
            keys["dense"] = (used ?? -1) + 1
            let key = used.map { "dense_\($0 + 1)" } ?? "dense"
            try expectTensor(weights.kernel, equals: vars["layers/\(key)/vars/0"], "\(layer.name)/kernel")
            if let bias = weights.bias { try expectTensor(bias, equals: vars["layers/\(key)/vars/1"], "\(layer.name)/bias") }
        }
        try checkPredictions(document, expected, name)
        let h5 = try ModelFiles.load(fixture("\(name).h5"))
        #expect(document.architecture == h5.architecture)
        #expect(document.weights == h5.weights)
        if name == "plain" {
            #expect(document.training == nil)
        } else {
            // The optimizer variables /optimizer/vars/N map to the same slots as the .h5 file's named ones.
            let training = try #require(document.training)
            #expect(training == h5.training)
            #expect(Double(training.optimizer.iterations) == vars["optimizer/vars/0"]?.values.first)
        }
    }

    @Test("Keras 2 / tf.keras .h5 layouts (TF 2.0–2.10 and 2.11–2.15 optimizers)",
          arguments: ["keras2_tf20_adam.h5", "keras2_tf211_adam.h5"])
    func keras2(_ file: String) throws {
        let expected = try ReaderExpectations.load()
        let document = try ModelFiles.load(fixture(file))
        let reference = try ModelFiles.load(fixture("adam.h5"))
        #expect(document.architecture == reference.architecture)
        #expect(document.weights == reference.weights)
        #expect(document.training == reference.training)
        #expect(document.metadata["keras_version"] == "unknown (Keras 1/2)")
        #expect(document.metadata["backend"] == "tensorflow")
        try checkPredictions(document, expected, "adam")
    }

    @Test("unsupported layers are refused, naming class and layer")
    func unsupportedLayers() {
        let lambda = kerasLoadError(fixture("bad_lambda.h5"))
        #expect(lambda.contains("Lambda") && lambda.contains("\"double\"") && lambda.contains("never runs"), "\(lambda)")
        #expect(lambda.contains("model_config"), "\(lambda)")
        let conv = kerasLoadError(fixture("bad_conv.h5"))
        #expect(conv.contains("Conv2D") && conv.contains("\"conv\""), "\(conv)")
        let convZip = kerasLoadError(fixture("bad_conv.keras"))
        #expect(convZip.contains("Conv2D") && convZip.contains("config.json"), "\(convZip)")
    }

    @Test("kernel shape mismatch names both shapes")
    func shapeMismatch() {
        let message = kerasLoadError(fixture("bad_shape.h5"))
        #expect(message.contains("[4, 7]") && message.contains("[4, 8]") && message.contains("hidden"), "\(message)")
    }

    @Test("members that could escape an unpacking folder are refused, naming the member; nothing is extracted")
    func zipSlip() throws {
        let slip = kerasLoadError(fixture("bad_slip.keras"))
        #expect(slip.contains("\"../config.json\"") && slip.contains("zip slip"), "\(slip)")
        let escaped = kerasFixtures.deletingLastPathComponent().appendingPathComponent("x").path
        let extra = kerasLoadError(fixture("extra_slip.keras"))
        #expect(extra.contains("zip member \"../x\"") && extra.contains("refused"), "\(extra)")
        #expect(!FileManager.default.fileExists(atPath: escaped))
    }

    @Test("unsafe member kinds: parent components, absolute names, backslashes, drive letters, symbolic links",
          arguments: [("../x", "zip slip"), ("assets/../../x", "zip slip"), ("..\\x", "zip slip"),
                      ("/etc/x", "absolute"), ("\\x", "absolute"), ("C:\\x", "absolute"), ("C:/x", "absolute"),
                      ("link", "symbolic link")])
    func unsafeMembers(name: String, reason: String) throws {
        let members = try zipMembers(of: fixture("extra_slip.keras")).filter { $0.name != "../x" }
            + [(name, Array("/etc/passwd".utf8))]
        let folder = try TemporaryFolder()
        let path = try folder.write("m.keras", try zipArchive(members, compression: .none,
                                                              symbolicLinks: reason == "symbolic link" ? [name] : []))
        let message = kerasLoadError(path)
        #expect(message.contains("zip member \"\(name)\"") && message.contains(reason), "\(message)")
    }

    /// The zip layer is mlpconv's own (ZipReader): bit flips anywhere in a .keras archive, plain or ZIP64, end as a
    /// refusal or the same model — in process, no crash. Member data is covered by the CRC-32, so HDF5 never sees
    /// a flipped weights file.
    @Test("bit flips in .keras archives are refused or harmless, in process", arguments: [false, true])
    func archiveBitFlips(zip64: Bool) throws {
        let folder = try TemporaryFolder()
        let (path, clean) = try rewrittenAdam(zip64: zip64, in: folder)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        var random = RandomGenerator(seed: zip64 ? 64 : 32)
        var outcomes = (same: 0, refused: 0)
        // Half the flips land in the last 600 bytes: the central directory and end records.
        for attempt in 0..<400 {
            var mutant = bytes
            let position = attempt % 2 == 0 ? random.nextInt(below: bytes.count)
                : bytes.count - 1 - random.nextInt(below: min(600, bytes.count))
            mutant[position] ^= UInt8(1 << random.nextInt(below: 8))
            let mutantPath = try folder.write("m.keras", [UInt8](mutant))
            do {
                let document = try ModelFiles.load(mutantPath)
                #expect(document.weights == clean.weights && document.training == clean.training,
                        "flip at \(position) changed the model")
                outcomes.same += 1
            } catch {
                outcomes.refused += 1
            }
        }
        #expect(outcomes.same > 0 && outcomes.refused > 0)
    }

    @Test("names that only look like parent components are fine")
    func dotsInsideNames() throws {
        let members = try zipMembers(of: fixture("extra_slip.keras")).map { member in
            (name: member.name == "../x" ? "assets/a..b/..c" : member.name, bytes: member.bytes)
        }
        let folder = try TemporaryFolder()
        let document = try ModelFiles.load(try folder.write("m.keras", try zipArchive(members, compression: .none)))
        #expect(document.architecture.layers.count == 2)
    }

    /// Compiled with what mlpconv cannot train with: the model still loads (inspect, convert, predict work),
    /// without a training state, and the metadata says which setting kept it out.
    @Test("training setups mlpconv cannot continue leave the model readable, with the reason",
          arguments: [("frozen", "layer(s) h are frozen (trainable: false)")])
    func untrainable(name: String, reason: String) throws {
        struct Expected: Decodable {
            struct Outputs: Decodable { let outputs: [Double] }
            let inputs: [[Double]]
            let models: [String: Outputs]
        }
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: kerasFixtures.appendingPathComponent("untrainable.json")))
        for file in ["untrainable_\(name).h5", "untrainable_\(name).keras"] {
            let document = try ModelFiles.load(fixture(file))
            #expect(document.training == nil, "\(file)")
            let note = try #require(document.metadata["keras_training_state"], "\(file)")
            #expect(note.hasPrefix("not read: ") && note.contains(reason), "\(file): \(note)")
            let network: Network<Float> = try document.network()
            let outputs = try network.predict(expected.inputs.flatMap { $0.map { Float($0) } })
            let keras = try #require(expected.models[name]).outputs
            #expect(zip(outputs, keras).allSatisfy { abs(Double($0) - $1) <= 1e-6 } && outputs.count == keras.count, "\(file)")
        }
    }

    @Test("a weights-only file (model.save_weights) is named as such")
    func weightsOnly() {
        let message = kerasLoadError(fixture("weights_only.weights.h5"))
        #expect(message.contains("weights-only") && message.contains("model.save("), "\(message)")
    }

    @Test("zip bombs and missing members are refused")
    func zipBombAndMissing() {
        let bomb = kerasLoadError(fixture("bad_bomb.keras"))
        #expect(bomb.contains("config.json") && bomb.contains("limit"), "\(bomb)")
        let missing = kerasLoadError(fixture("bad_missing_weights.keras"))
        #expect(missing.contains("model.weights.h5") && missing.contains("missing"), "\(missing)")
    }

    @Test("Keras 2 optimizer variable names are classified")
    func keras2Names() {
        #expect(KerasOptimizerLayout.classify("Adam/iter:0") == "iteration")
        #expect(KerasOptimizerLayout.classify("Adam/dense/kernel/m:0") == "momentum")
        #expect(KerasOptimizerLayout.classify("Adam/dense/kernel/vhat:0") == "velocity_hat")
        #expect(KerasOptimizerLayout.classify("RMSprop/dense/bias/rms:0") == "velocity")
        #expect(KerasOptimizerLayout.classify("RMSprop/dense/bias/mg:0") == "average_gradient")
        #expect(KerasOptimizerLayout.classify("iteration:0") == "iteration")
        #expect(KerasOptimizerLayout.classify("Adam/m/dense/kernel:0") == "momentum")
        #expect(KerasOptimizerLayout.classify("Adam/v/dense/bias:0") == "velocity")
        #expect(KerasOptimizerLayout.classify("adam/mlp_hidden_kernel_velocity") == "velocity")
        #expect(KerasOptimizerLayout.classify("adam/mlp_hidden_kernel_velocity_hat") == "velocity_hat")
        #expect(KerasOptimizerLayout.classify("adam/learning_rate") == "learning_rate")
        #expect(KerasConfig.snakeCase("RMSprop") == "rm_sprop")
        #expect(KerasConfig.snakeCase("Dense") == "dense")
        #expect(KerasConfig.snakeCase("GlorotUniform") == "glorot_uniform")
        #expect(KerasConfig.snakeCase("MeanSquaredError") == "mean_squared_error")
    }
}
