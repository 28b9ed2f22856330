import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

/// Properties that span both codecs: lossless conversion in every direction, and resuming training through a
/// file of either format.
struct CrossFormatTests {
    /// JSON → HDF5 → JSON and HDF5 → JSON → HDF5, with each JSON tensor encoding and HDF5 with and without
    /// compression: every hop gives back the same document, bit for bit, and re-encoding gives the same JSON bytes.
    @Test("random models survive every conversion path", arguments: 0..<300)
    func randomModelsRoundTrip(seed: Int) throws {
        var generator = RandomDocuments(seed: UInt64(seed))
        let original = try generator.document()
        let folder = try TemporaryFolder()
        let jsonEncoding = JSONTensorEncoding.allCases[seed % JSONTensorEncoding.allCases.count]
        let options = SaveOptions(jsonTensors: jsonEncoding, compress: seed % 2 == 0)

        let firstJSON = folder.path("a.json"), h5 = folder.path("b.h5"), secondJSON = folder.path("c.json")
        try ModelFiles.save(original, to: firstJSON, format: .json, options: options)
        let fromJSON = try ModelFiles.load(firstJSON)
        #expect(fromJSON == original, "JSON round trip, seed \(seed)")
        try ModelFiles.save(fromJSON, to: h5, format: .h5, options: options)
        let fromH5 = try ModelFiles.load(h5)
        #expect(fromH5 == original, "JSON → HDF5, seed \(seed)")
        try ModelFiles.save(fromH5, to: secondJSON, format: .json, options: options)
        #expect(try Data(contentsOf: URL(fileURLWithPath: firstJSON)) == Data(contentsOf: URL(fileURLWithPath: secondJSON)),
                "JSON → HDF5 → JSON bytes, seed \(seed)")

        let secondH5 = folder.path("d.h5")
        try ModelFiles.save(try ModelFiles.load(secondJSON), to: secondH5, format: .h5, options: options)
        #expect(try ModelFiles.load(secondH5) == original, "HDF5 → JSON → HDF5, seed \(seed)")
        if let interop = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], seed % 30 == 0 {
            // CI checks with jsonschema and h5py that the pair holds the same weights.
            try FileManager.default.createDirectory(atPath: interop, withIntermediateDirectories: true)
            for (source, name) in [(firstJSON, "cross-\(seed).json"), (h5, "cross-\(seed).h5")] {
                let target = interop + "/" + name
                try? FileManager.default.removeItem(atPath: target)
                try FileManager.default.copyItem(atPath: source, toPath: target)
            }
        }
    }

    /// JSON → safetensors (+ optimizer file) → JSON: the same document bit for bit, and the same bytes re-encoded. A
    /// document torch cannot express (the exponential activation, a normalization with only a scale or only an
    /// offset as torch cannot hold it) is refused with the reason the Sequential line gives.
    @Test("random models survive JSON → safetensors → JSON", arguments: 0..<200)
    func randomModelsThroughSafetensors(seed: Int) throws {
        var generator = RandomDocuments(seed: UInt64(seed))
        let original = try generator.document()
        let folder = try TemporaryFolder()
        let json = folder.path("a.json"), safetensors = folder.path("b.safetensors"), again = folder.path("c.json")
        try ModelFiles.save(original, to: json, format: .json)
        switch ModelFiles.torchSequential(of: original) {
        case .failure(let reason):
            #expect(saveError(original, to: safetensors, format: .safetensors)
                == "\(safetensors): \(reason.object): cannot be written as a torch model: \(reason.reason)", "seed \(seed)")
            #expect(!FileManager.default.fileExists(atPath: safetensors))
        case .success:
            try ModelFiles.save(try ModelFiles.load(json), to: safetensors, format: .safetensors)
            let loaded = try ModelFiles.load(safetensors)
            #expect(loaded == original, "seed \(seed)")
            try ModelFiles.save(loaded, to: again, format: .json)
            #expect(try Data(contentsOf: URL(fileURLWithPath: json)) == Data(contentsOf: URL(fileURLWithPath: again)), "seed \(seed)")
        }
    }

    /// JSON → torch checkpoint → JSON: the document as the checkpoint holds it — its optimizer carried over to
    /// torch.optim's rule when it was Keras's (`ModelFiles.prepared`), bit for bit; refused as safetensors refuses
    /// what torch cannot express.
    @Test("random models survive JSON → .pt → JSON", arguments: 0..<200)
    func randomModelsThroughTorchCheckpoints(seed: Int) throws {
        var generator = RandomDocuments(seed: UInt64(seed))
        let original = try generator.document()
        let folder = try TemporaryFolder()
        let checkpoint = folder.path("b.pt")
        switch ModelFiles.torchSequential(of: original) {
        case .failure(let reason):
            #expect(saveError(original, to: checkpoint, format: .pt)
                == "\(checkpoint): \(reason.object): cannot be written as a torch model: \(reason.reason)", "seed \(seed)")
            #expect(!FileManager.default.fileExists(atPath: checkpoint))
        case .success:
            try ModelFiles.save(original, to: checkpoint, format: .pt)
            #expect(try ModelFiles.load(checkpoint) == ModelFiles.prepared(original, for: .pt).document, "seed \(seed)")
        }
    }

    /// Every layer kind with state beyond its weights: dropout draws masks from the model's generator, batch
    /// normalization updates moving statistics, constraints project after each step.
    static let layered: [LayerSpec] = [
        LayerSpec(.dense(DenseSettings(units: 8, kernelRegularizer: .l2(0.01), activityRegularizer: .l1(1e-3),
                                       kernelConstraint: .maxNorm(maxValue: 1.5, axis: 0), biasConstraint: .nonNeg))),
        LayerSpec(.batchNormalization(BatchNormalizationSettings(momentum: 0.9))),
        LayerSpec(.activation(.relu)),
        LayerSpec(.dropout(DropoutSettings(rate: 0.3))),
        LayerSpec(.layerNormalization(LayerNormalizationSettings())),
        LayerSpec(3, .softmax),
    ]

    @Test("train 2 epochs ≡ train 1, save, load, train 1", arguments: [ModelFormat.json, .h5, .safetensors], [JSONTensorEncoding.array, .base64])
    func resumingThroughAFileIsBitIdentical(format: ModelFormat, encoding: JSONTensorEncoding) throws {
        try checkResume(format: format, encoding: encoding, layers: [LayerSpec(8, .relu), LayerSpec(3, .softmax)])
    }

    /// A torch checkpoint holds torch.optim's optimizers and resumes them exactly, every layer kind included.
    @Test("resuming through a torch checkpoint is bit-identical", arguments: [OptimizerKind.torchAdam, .torchSGD, .torchRMSprop, .torchAdagrad])
    func resumingThroughATorchCheckpointIsBitIdentical(kind: OptimizerKind) throws {
        var config = OptimizerConfig(kind, learningRate: 0.01)
        config.momentum = kind == .torchSGD || kind == .torchRMSprop ? 0.9 : 0
        config.centered = kind == .torchRMSprop
        config.amsgrad = kind == .torchAdam
        try checkResume(format: .pt, encoding: .base64, layers: Self.layered, config: config)
    }

    @Test("resuming a model with dropout, normalization, regularizers and constraints is bit-identical too",
          arguments: [ModelFormat.json, .h5, .safetensors])
    func resumingEveryLayerKindIsBitIdentical(format: ModelFormat) throws {
        try checkResume(format: format, encoding: .base64, layers: Self.layered)
    }

    private func checkResume(format: ModelFormat, encoding: JSONTensorEncoding, layers: [LayerSpec],
                             config: OptimizerConfig = { var adam = OptimizerConfig(.adam, learningRate: 0.01); adam.amsgrad = true; return adam }()) throws {
        let data = try classificationData()
        let options = FitOptions(epochs: 1, batchSize: 16, validationSplit: 0.2)
        func fresh() throws -> Model<Float> {
            try Model(inputWidth: 4, layers: layers, loss: .categoricalCrossentropy, optimizer: config, seed: 5)
        }
        var straight = try fresh()
        var twoEpochs = options
        twoEpochs.epochs = 2
        try straight.fit(data, options: twoEpochs)

        var first = try fresh()
        try first.fit(data, options: options)
        let folder = try TemporaryFolder()
        let path = folder.path("checkpoint." + format.rawValue)
        try ModelFiles.save(ModelDocument(model: first), to: path, format: format, options: SaveOptions(jsonTensors: encoding))
        var resumed: Model<Float> = try ModelFiles.load(path).model()
        try resumed.fit(data, options: options)

        #expect(ModelDocument(model: resumed) == ModelDocument(model: straight))
        #expect(resumed.training.optimizer.state.iterations == straight.training.optimizer.state.iterations)
        #expect(resumed.training.random == straight.training.random)
    }

    @Test func formatIsDetectedFromContentNotExtension() throws {
        let folder = try TemporaryFolder()
        var generator = RandomDocuments(seed: 1)
        let document = try generator.document()
        try ModelFiles.save(document, to: folder.path("really-json.h5"), format: .json)
        try ModelFiles.save(document, to: folder.path("really-h5.json"), format: .h5)
        #expect(try ModelFiles.detectKind(at: folder.path("really-json.h5")) == .json)
        #expect(try ModelFiles.detectKind(at: folder.path("really-h5.json")) == .hdf5)
        #expect(try ModelFiles.load(folder.path("really-json.h5")) == document)
        #expect(try ModelFiles.load(folder.path("really-h5.json")) == document)

        let empty = try folder.write("empty.h5", [])
        #expect(loadError(empty) == "\(empty): not a model file (the file is empty)")
        let text = try folder.write("notes.json", Array("hello world".utf8))
        #expect(loadError(text) == "\(text): not a model file (neither HDF5, JSON, safetensors, ONNX nor a zip archive; starts with hello wo)")
        let zip = try folder.write("model.keras", [0x50, 0x4B, 0x03, 0x04, 0, 0])
        #expect(loadError(zip)?.hasPrefix("\(zip): a zip archive") == true)
        #expect(loadError(folder.path("missing.h5")) == "\(folder.path("missing.h5")): no such file")
        #expect(loadError(folder.url.path) == "\(folder.url.path): is a directory, not a model file")
    }

    @Test func failedWritesLeaveTheDestinationAndNoTemporaryFiles() throws {
        let folder = try TemporaryFolder()
        var generator = RandomDocuments(seed: 2)
        let document = try generator.document()
        let path = folder.path("model.h5")
        try ModelFiles.save(document, to: path, format: .h5)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        // An invalid document is refused before anything is written.
        var broken = document
        broken.weights.removeLast()
        #expect(saveError(broken, to: path) == "\(path): weights: the architecture has \(document.architecture.layers.count) layers, the weights cover \(document.architecture.layers.count - 1)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["model.h5"])

        // A missing folder is named.
        let elsewhere = folder.path("no/such/folder/model.json")
        #expect(saveError(document, to: elsewhere) == "\(elsewhere): cannot write: the folder \(folder.path("no/such/folder")) does not exist")

        // A read-only folder: the write fails and the old file is untouched (root ignores permissions, so only
        // check when the permission actually applies).
        let locked = folder.path("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: path, toPath: locked + "/model.h5")
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked) }
        if access(locked, W_OK) != 0 {
            #expect(saveError(document, to: locked + "/model.h5")?.contains("cannot create a temporary file") == true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: locked + "/model.h5")) == before)
        }
    }
}

func loadError(_ path: String) -> String? {
    do {
        _ = try ModelFiles.load(path)
        return nil
    } catch {
        return error.description
    }
}

func saveError(_ document: ModelDocument, to path: String, format: ModelFormat = .h5) -> String? {
    do {
        try ModelFiles.save(document, to: path, format: format)
        return nil
    } catch {
        return error.description
    }
}

/// Three Gaussian blobs in 4 dimensions, one-hot labels.
func classificationData() throws -> Dataset<Float> {
    var random = RandomGenerator(seed: 77)
    var features: [Float] = [], targets: [Float] = []
    for _ in 0..<80 {
        let label = random.nextInt(below: 3)
        features += (0..<4).map { Float(($0 == label ? 1.0 : 0.0) + 0.3 * random.nextStandardNormal()) }
        targets += (0..<3).map { $0 == label ? 1 : 0 }
    }
    return try Dataset(features: features, featureWidth: 4, targets: targets, targetWidth: 3)
}
