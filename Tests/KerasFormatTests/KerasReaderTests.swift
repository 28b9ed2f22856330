import Foundation
import MLPCore
import Testing
import ZIPFoundation
import JSONSupport
import MLPDocument
@testable import MLPModelFiles
@testable import KerasFormat
import TestSupport


/// Files written by real Keras 3.15.1 (JAX) with `fixtures/generate/generate_keras_reader_cases.py`, and what h5py
/// and `model.predict` saw in them (`expected.json`).
private let kerasFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/keras-reader")

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

private func floats(_ tensor: Tensor) -> [Double] {
    switch tensor.storage {
    case .float32(let values): values.map(Double.init)
    case .float64(let values): values
    }
}

private func expectTensor(_ tensor: Tensor, equals expected: (shape: [Int], values: [Double])?,
                          _ what: String) throws {
    let expected = try #require(expected, "no h5py view of \(what)")
    #expect(tensor.shape == expected.shape, "\(what)")
    // float32 values widened to double by Python: equal bit for bit after narrowing.
    #expect(floats(tensor).map { Float($0).bitPattern } == expected.values.map { Float($0).bitPattern }, "\(what)")
}

private func kerasLoadError(_ path: String) -> String {
    do {
        _ = try ModelFiles.load(path)
        return "(no error)"
    } catch {
        return error.description
    }
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
        for (layer, weights) in zip(document.architecture.layers, document.weights) {
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
        #expect(adam.kerasSourceDescription == "Keras 3.15.1 legacy HDF5 (backend jax)")
        #expect(try ModelFiles.load(fixture("adam.keras")).kerasSourceDescription == "Keras 3.15.1 .keras archive")
        #expect(adam.architecture.inputWidth == 4)
        #expect(adam.architecture.layers.map(\.name) == ["hidden", "out"])
        #expect(adam.architecture.layers.map(\.activation) == [.relu, .softmax])
        #expect(adam.training?.loss == .categoricalCrossentropy)
        #expect(adam.training?.optimizer.config.kind == .adam)
        #expect(adam.training?.optimizer.config.learningRate == Double(Float(0.01)))
        #expect(adam.training?.optimizer.slots.map(\.name) == ["momentum", "velocity"])

        // Activation folded into the linear Dense before it, Dropout dropped, swish → silu, he_normal kept.
        let sgd = try ModelFiles.load(fixture("sgd.h5"))
        #expect(sgd.architecture.layers.map(\.name) == ["lin", "out"])
        #expect(sgd.architecture.layers.map(\.activation) == [.tanh, .silu])
        #expect(sgd.architecture.layers.map(\.useBias) == [true, false])
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
        for (layer, weights) in zip(document.architecture.layers, document.weights) {
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

    /// Whole fields, not bits: runs of 1–8 random bytes (often all ones, the ZIP64 escape) written over the
    /// central directory and end records of a ZIP64 archive, in process — refused or the same model, never a trap.
    @Test func randomFieldValuesInZipRecords() throws {
        let folder = try TemporaryFolder()
        let (path, clean) = try rewrittenAdam(zip64: true, in: folder)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var random = RandomGenerator(seed: 77)
        var refused = 0
        for _ in 0..<1500 {
            var mutant = bytes
            let length = 1 + random.nextInt(below: 8)
            let start = bytes.count - length - random.nextInt(below: min(400, bytes.count - length))
            let allOnes = random.nextInt(below: 3) == 0
            for index in start..<start + length { mutant[index] = allOnes ? 0xFF : UInt8(random.nextInt(below: 256)) }
            do {
                let document = try ModelFiles.load(try folder.write("m.keras", mutant))
                #expect(document.weights == clean.weights && document.training == clean.training, "bytes \(start)..<\(start + length)")
            } catch {
                refused += 1
            }
        }
        #expect(refused > 0)
    }

    /// Offsets near 2⁶⁴ in the ZIP64 records and extra fields: refused with a message, no arithmetic overflow.
    @Test func zip64OffsetsNearTheTop() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try rewrittenAdam(zip64: true, in: folder)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func patched(_ signature: [UInt8], at delta: Int, from end: Bool = false) -> [UInt8] {
            var copy = bytes
            let hits = (0...(copy.count - 4)).filter { Array(copy[$0..<$0 + 4]) == signature }
            let base = (end ? hits.last : hits.first)! + delta
            for index in 0..<8 { copy[base + index] = 0xFF }
            copy[base] = 0xF0
            return copy
        }
        // The locator's pointer to the ZIP64 end record; the end record's directory offset; an entry's extra-field
        // local header offset (the first central directory entry's ZIP64 field holds sizes, then the offset).
        let cases = [patched([0x50, 0x4b, 0x06, 0x07], at: 8), patched([0x50, 0x4b, 0x06, 0x06], at: 48),
                     patched([0x50, 0x4b, 0x01, 0x02], at: 46 + "metadata.json".utf8.count + 4 + 16)]
        for (index, mutant) in cases.enumerated() {
            let mutantPath = try folder.write("m\(index).keras", mutant)
            let message = expectError(ModelFileError.self) { _ = try ModelFiles.load(mutantPath) }?.description ?? ""
            #expect(message.contains("m\(index).keras"), "case \(index): \(message)")
        }
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
          arguments: [("logits_loss", "from_logits"), ("nadam", "unknown optimizer \"Nadam\""),
                      ("schedule", "learning-rate schedules"), ("frozen", "layer(s) h are frozen (trainable: false)")])
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

/// The shared interop fixtures (`fixtures/keras/`, written by `fixtures/generate/generate_keras.py`).
private let sharedKerasFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/keras")

private func sharedModels() -> [[String: Any]] {
    guard let data = try? Data(contentsOf: sharedKerasFixtures.appendingPathComponent("expected.json")),
          let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let models = root["models"] as? [[String: Any]] else { return [] }
    return models
}

@Suite("Keras reader on the shared fixtures")
struct KerasSharedFixtureTests {
    @Test("every model loads from .h5 and .keras with Keras's weights, state and predictions",
          arguments: sharedModels().compactMap { $0["name"] as? String })
    func model(_ name: String) throws {
        let entry = try #require(sharedModels().first { $0["name"] as? String == name })
        let inputs = try #require(entry["inputs"] as? [Double]).map(Float.init)
        let outputs = try #require(entry["outputs"] as? [Double]).map(Float.init)
        let weights = try #require(entry["weights"] as? [[String: Any]])
        let saved = (entry["optimizer_variables_saved"] as? [[String: Any]]) ?? []
        var savedByPath: [String: [Double]] = [:]
        for variable in saved {
            savedByPath[try #require(variable["path"] as? String)] = try #require(variable["values"] as? [Double])
        }
        var documents: [ModelDocument] = []
        for key in ["h5", "keras"] {
            let file = try #require(entry[key] as? String)
            let document = try ModelFiles.load(sharedKerasFixtures.appendingPathComponent(file).path)
            documents.append(document)
            #expect(document.architecture.inputWidth == entry["input_width"] as? Int, "\(file)")
            #expect(document.architecture.layers.map(\.name) == weights.compactMap { $0["layer"] as? String }, "\(file)")
            for (layerWeights, expected) in zip(document.weights, weights) {
                let kernel = try #require(expected["kernel"] as? [Double]).map { Float($0).bitPattern }
                #expect(floats(layerWeights.kernel).map { Float($0).bitPattern } == kernel, "\(file) kernel")
                let bias = (expected["bias"] as? [Double])?.map { Float($0).bitPattern }
                #expect(layerWeights.bias.map { floats($0).map { Float($0).bitPattern } } == bias, "\(file) bias")
            }
            let network: Network<Float> = try document.network()
            let predicted = try network.predict(inputs)
            #expect(predicted.count == outputs.count)
            for (got, keras) in zip(predicted, outputs) { #expect(abs(got - keras) <= 1e-6, "\(file): \(got) vs \(keras)") }

            guard entry["compiled"] as? Bool == true else {
                #expect(document.training == nil, "\(file)")
                continue
            }
            let training = try #require(document.training, "\(file): no training state")
            #expect(training.loss.name == entry["loss"] as? String || Loss(name: entry["loss"] as? String ?? "") == training.loss)
            #expect(training.optimizer.iterations == entry["iterations"] as? Int, "\(file)")
            let prefix = try #require(saved.first.flatMap { ($0["path"] as? String)?.split(separator: "/").first })
            for slot in training.optimizer.slots {
                for (tensor, parameter) in zip(slot.tensors, document.parameterNames) {
                    let path = "\(prefix)/\(name)_" + parameter.replacingOccurrences(of: "/", with: "_") + "_\(slot.name)"
                    let expected = try #require(savedByPath[path], "\(file): no saved \(path)")
                    #expect(floats(tensor).map { Float($0).bitPattern } == expected.map { Float($0).bitPattern }, "\(file) \(path)")
                }
            }
        }
        if documents.count == 2 {
            #expect(documents[0].training == documents[1].training, "\(name): .h5 and .keras training state differ")
        }
    }

    @Test("malformed files are refused with clear messages")
    func bad() throws {
        let folder = sharedKerasFixtures.appendingPathComponent("bad")
        guard FileManager.default.fileExists(atPath: folder.path) else { return }
        func message(_ name: String) -> String { kerasLoadError(folder.appendingPathComponent(name).path) }
        let lambda = message("lambda_layer.keras")
        #expect(lambda.contains("Lambda") && lambda.contains("lambda_layer"), "\(lambda)")
        let conv = message("conv2d_layer.keras")
        #expect(conv.contains("Conv2D") && conv.contains("\"conv\""), "\(conv)")
        let shape = message("kernel_shape_mismatch.h5")
        #expect(shape.contains("[4, 9]") && shape.contains("[4, 8]") && shape.contains("hidden"), "\(shape)")
        for bomb in ["zip_bomb.keras", "zip_bomb_declared.keras"] {
            let text = message(bomb)
            #expect(text.contains("model.weights.h5") && text.contains("limit"), "\(text)")
        }
        // A `../evil` member: refused, and never written anywhere.
        let slip = message("zip_slip.keras")
        #expect(slip.contains("zip member \"../evil\"") && slip.contains("zip slip"), "\(slip)")
        #expect(!FileManager.default.fileExists(atPath: sharedKerasFixtures.appendingPathComponent("evil").path))
        #expect(!FileManager.default.fileExists(atPath: sharedKerasFixtures.deletingLastPathComponent().appendingPathComponent("evil").path))
    }
}

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
        #expect(spec.layers.map(\.activation) == [.silu, .linear])
        #expect(spec.layers[0].kernelInitializer == .heUniform)
        #expect(spec.metadata["keras_kernel_initializer.dense_1"] == "VarianceScaling")
        #expect(spec.weightKeys == ["dense", "dense_1"])
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
        #expect(spec.inputWidth == 3 && spec.layers.map(\.name) == ["d1", "d2"] && spec.weightKeys == ["dense", "dense_1"])
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
        let fold = failure("""
            {"class_name": "Sequential", "config": {"layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 2]}},
              {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "relu"}},
              {"class_name": "Activation", "config": {"name": "a", "activation": "tanh"}}]}}
            """)
        #expect(fold.contains("$.config.layers[2]") && fold.contains("cannot be folded"), "\(fold)")
        let regularized = failure("""
            {"class_name": "Sequential", "config": {"layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 2]}},
              {"class_name": "Dense", "config": {"name": "d", "units": 2, "kernel_regularizer": {"class_name": "L2"}}}]}}
            """)
        #expect(regularized.contains("kernel_regularizer"), "\(regularized)")
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
        #expect(throws: JSONError.self) { try optimizer(#"{"class_name": "Adam", "config": {"use_ema": true}}"#) }
        #expect(throws: JSONError.self) { try optimizer(#"{"class_name": "Nadam", "config": {}}"#) }
        let loss = try KerasConfig.readLoss(try JSONDocument.parse(Array(#""mae""#.utf8), file: "m").root)
        #expect(loss == .meanAbsoluteError)
    }

    /// Loss objects: Keras 3's and Keras 2's default settings read as the plain loss; any other setting would make
    /// mlpconv train a different loss than the file's, so it is refused, naming the setting.
    @Test("loss objects: defaults accepted, every other setting refused by name")
    func lossSettings() throws {
        func loss(_ text: String) throws(JSONError) -> Loss {
            try KerasConfig.readLoss(try JSONDocument.parse(Array(text.utf8), file: "m").root)
        }
        #expect(try loss(#"{"module": "keras.losses", "class_name": "CategoricalCrossentropy", "config": {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": false, "label_smoothing": 0.0, "axis": -1}, "registered_name": null}"#) == .categoricalCrossentropy)
        #expect(try loss(#"{"class_name": "SparseCategoricalCrossentropy", "config": {"reduction": "auto", "name": "sparse_categorical_crossentropy", "from_logits": false, "ignore_class": null}}"#) == .sparseCategoricalCrossentropy)
        #expect(try loss(#"{"class_name": "Huber", "config": {"reduction": "auto", "name": "huber_loss", "delta": 1.0}}"#) == .huber)
        let refusals = [
            (#"{"class_name": "BinaryCrossentropy", "config": {"from_logits": true}}"#, "from_logits"),
            (#"{"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.1}}"#, "label smoothing 0.1"),
            (#"{"class_name": "MeanSquaredError", "config": {"reduction": "sum"}}"#, "reduction \"sum\""),
            (#"{"class_name": "SparseCategoricalCrossentropy", "config": {"ignore_class": 0}}"#, "ignore_class"),
            (#"{"class_name": "Huber", "config": {"delta": 2.0}}"#, "Huber delta 2.0"),
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
