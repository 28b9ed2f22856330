import FormatSupport
import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing

/// Checkpoints mlpconv writes, with what mlpconv computes from them, for CI's check with real torch
/// (scripts/torch_interop_check.py): torch must load each with `torch.load(weights_only=True)`, the weights
/// strictly, the optimizer state into its torch.optim class, predict what mlpconv predicts, and continue training
/// for one epoch to the weights mlpconv's finetune reaches (1e-5).
@Suite struct TorchInteropExportTests {
    /// Every reproducible torch fixture, read and written again by mlpconv.
    @Test(arguments: TorchFixture.all.filter { $0.continuation?["reproducible"] as? Bool == true && $0.loss != nil })
    func rewrittenTorchCheckpointsContinueAsInMlpconv(_ fixture: TorchFixture) throws {
        let document = try ModelFiles.load(fixture.path, options: fixture.sequentialOptions)
        let continuation = try #require(fixture.continuation)
        // Rows flattened: a Flatten model's [2, 3] samples are its 6 inputs (torch's Flatten() leaves flat rows as they are).
        let inputs = (continuation["inputs"] as? [Any] ?? []).map { flat($0) }
        let targets = flat(continuation["targets"])
        let name = "rewritten_" + URL(fileURLWithPath: fixture.file).deletingPathExtension().lastPathComponent
        try checkAndExport(document, name: name, inputs: inputs, targets: targets,
                           targetIsClass: continuation["target_dtype"] as? String == "long",
                           loss: continuation["loss"] as? String ?? "", batchSize: continuation["batch_size"] as? Int ?? 4)
    }

    /// Models mlpconv trained itself, with each torch optimizer, then wrote.
    @Test(arguments: [OptimizerKind.torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad])
    func mlpconvTrainedCheckpointsContinueAsInMlpconv(kind: OptimizerKind) throws {
        var config = OptimizerConfig(kind, learningRate: 0.01)
        config.momentum = kind == .torchSGD || kind == .torchRMSprop ? 0.9 : 0
        config.nesterov = kind == .torchSGD
        config.centered = kind == .torchRMSprop
        config.amsgrad = kind == .torchAdam
        config.torchWeightDecay = kind == .torchAdamW || kind == .torchSGD ? 0.01 : 0
        var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(6, .tanh), LayerSpec(.layerNormalization(LayerNormalizationSettings(epsilon: 1e-5))),
                                                             LayerSpec(4, .relu), LayerSpec(2, .linear)],
                                     loss: .meanSquaredError, optimizer: config, seed: 11)
        let inputs = (0..<10).map { row in (0..<3).map { Double(row * 3 + $0) / 16 - 0.9 } }
        let targets = inputs.flatMap { [sin($0[0] + $0[1]), cos($0[2])] }
        try model.fit(try Dataset(features: inputs.flatMap { $0 }.map(Float.init), featureWidth: 3,
                                  targets: targets.map(Float.init), targetWidth: 2),
                      options: FitOptions(epochs: 2, batchSize: 4, shuffle: false))
        try checkAndExport(ModelDocument(model: model), name: "mlpconv_trained_\(kind.name)", inputs: inputs, targets: targets,
                           targetIsClass: false, loss: "MSELoss()", batchSize: 4)
    }

    /// Writes `document` as a checkpoint, reads it back (it must be the same document), continues it for one epoch
    /// in mlpconv, and exports file and expectations when `MLPCONV_INTEROP_DIR` is set.
    private func checkAndExport(_ document: ModelDocument, name: String, inputs: [[Double]], targets: [Double],
                                targetIsClass: Bool, loss: String, batchSize: Int) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("torch-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent(name + ".pt").path
        try ModelFiles.save(document, to: path, format: .pt)
        let written = try ModelFiles.load(path)
        #expect(written.weights == document.weights && written.training == document.training, "\(name)")
        let training = try #require(written.training)

        let isFloat64 = written.variableTensors.contains { $0.dtype == .float64 }
        let flatInputs = inputs.flatMap { $0 }
        let targetWidth = targets.count / inputs.count
        let predictions: [Double]
        let after: ModelDocument
        let options = FitOptions(epochs: 1, batchSize: batchSize, shuffle: false)
        if isFloat64 {
            predictions = try written.network(as: Double.self).predict(flatInputs)
            var model: Model<Double> = try written.model(as: Double.self)
            try model.fit(try Dataset(features: flatInputs, featureWidth: inputs[0].count, targets: targets, targetWidth: targetWidth), options: options)
            after = ModelDocument(model: model)
        } else {
            predictions = try written.network(as: Float.self).predict(flatInputs.map(Float.init)).map(Double.init)
            var model: Model<Float> = try written.model(as: Float.self)
            try model.fit(try Dataset(features: flatInputs.map(Float.init), featureWidth: inputs[0].count,
                                      targets: targets.map(Float.init), targetWidth: targetWidth), options: options)
            after = ModelDocument(model: model)
        }

        guard let root = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !root.isEmpty else { return }
        let exportFolder = URL(fileURLWithPath: root).appendingPathComponent("torch")
        try FileManager.default.createDirectory(at: exportFolder, withIntermediateDirectories: true)
        let destination = exportFolder.appendingPathComponent(name + ".pt")
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.copyItem(atPath: path, toPath: destination.path)

        var weightsAfter: [String: Any] = [:]
        for (tensorName, value) in try TorchModules.stateDict(of: after).entries {
            switch value {
            case .tensor(let tensor): weightsAfter[tensorName] = nested(values(tensor), shape: tensor.shape)
            // mlpconv writes 0 and does not count batches (torch reads the count only when momentum is None):
            // after the epoch torch's count is the epoch's batches.
            case .int64Scalar: weightsAfter[tensorName] = (inputs.count + batchSize - 1) / batchSize
            }
        }
        let outputWidth = written.architecture.outputWidth
        let rowCount = inputs.count
        let targetRows: Any = targetIsClass ? targets.map { Int($0) }
            : (0..<rowCount).map { row in Array(targets[(row * targetWidth)..<((row + 1) * targetWidth)]) }
        let className = try #require(["torch_sgd": "SGD", "torch_adam": "Adam", "torch_adamw": "AdamW", "torch_rmsprop": "RMSprop",
                                      "torch_adagrad": "Adagrad"][training.optimizer.config.kind.name])
        let expectation: [String: Any] = [
            "file": name + ".pt", "container": "checkpoint",
            "sequential": try ModelFiles.torchSequential(of: written).get(),
            "dtype": isFloat64 ? "float64" : "float32",
            "inputs": inputs,
            "predictions": (0..<inputs.count).map { Array(predictions[($0 * outputWidth)..<(($0 + 1) * outputWidth)]) },
            "checkpoint_keys": ["model_state_dict", "optimizer_state_dict", "epoch"] + (training.history.isEmpty ? [] : ["loss"])
                + ["mlpconv_architecture", "mlpconv_training"] + (written.metadata.isEmpty ? [] : ["mlpconv_metadata"]),
            "optimizer": [
                "class": className,
                "continuation": [
                    "inputs": inputs,
                    "targets": targetRows,
                    "target_dtype": targetIsClass ? "long" : "float", "loss": loss, "batch_size": batchSize, "epochs": 1,
                    "weights_after": weightsAfter,
                ] as [String: Any],
            ] as [String: Any],
        ]
        let data = try JSONSerialization.data(withJSONObject: expectation, options: [.sortedKeys])
        try data.write(to: exportFolder.appendingPathComponent(name + ".expect.json"))
    }

    private func nested(_ values: [Double], shape: [Int]) -> Any {
        guard shape.count > 1 else { return shape.isEmpty ? (values.first ?? 0) as Any : values as Any }
        let stride = shape.dropFirst().reduce(1, *)
        return (0..<shape[0]).map { nested(Array(values[($0 * stride)..<(($0 + 1) * stride)]), shape: Array(shape.dropFirst())) }
    }
}
