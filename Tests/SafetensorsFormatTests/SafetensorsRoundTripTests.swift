import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import FormatSupport
@testable import SafetensorsFormat
import Testing
import TestSupport

/// Documents through `.safetensors` and its optimizer sibling, bit for bit; the Sequential naming; what torch cannot
/// express; a stale or missing sibling.
struct SafetensorsRoundTripTests {
    /// A trained model with every layer kind torch expresses, its optimizer state filled by real training steps.
    static func trainedDocument(dtype: Tensor.DType = .float32, optimizer: OptimizerKind = .adam) throws -> ModelDocument {
        let layers = [
            LayerSpec(8, .relu),
            LayerSpec(.batchNormalization(BatchNormalizationSettings(momentum: 0.9, epsilon: 1e-3))),
            LayerSpec(.dropout(DropoutSettings(rate: 0.25))),
            LayerSpec(.dense(DenseSettings(units: 6, activation: .gelu, useBias: false))),
            LayerSpec(.layerNormalization(LayerNormalizationSettings(epsilon: 1e-4, center: false, scale: true))),
            LayerSpec(.activation(.leakyReLU)),
            LayerSpec(3, .softmax),
        ]
        var model = try Model<Float>(inputWidth: 4, layers: layers, loss: .categoricalCrossentropy,
                                     optimizer: OptimizerConfig(optimizer, learningRate: 0.01), seed: 3)
        let features = (0..<64).map { Float(sin(Double($0))) }
        let targets = (0..<16).flatMap { row in (0..<3).map { $0 == row % 3 ? Float(1) : 0 } }
        try model.fit(try Dataset(features: features, featureWidth: 4, targets: targets, targetWidth: 3),
                      options: FitOptions(epochs: 2, batchSize: 4))
        var document = ModelDocument(model: model)
        document.metadata = ["description": "round trip \"quoted\" ✓", "created_by": "mlpconv tests"]
        return dtype == .float64 ? document.converted(to: .float64) : document
    }

    @Test("a trained model survives .safetensors + optimizer file bit for bit", arguments: [Tensor.DType.float32, .float64])
    func trainedRoundTrip(dtype: Tensor.DType) throws {
        let original = try Self.trainedDocument(dtype: dtype)
        let folder = try TemporaryFolder()
        let path = folder.path("model.safetensors")
        try ModelFiles.save(original, to: path, format: .safetensors)
        #expect(FileManager.default.fileExists(atPath: folder.path("model.optimizer.safetensors")))
        let loaded = try ModelFiles.load(path)
        #expect(loaded == original)
        // Writing again gives the same bytes: the writer is canonical.
        let again = folder.path("again.safetensors")
        try ModelFiles.save(loaded, to: again, format: .safetensors)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: again)))
        try exportForTorchInterop(path, document: original, name: "roundtrip-\(dtype.rawValue)")
    }

    @Test("every optimizer's slots go to the sibling under torch names", arguments: OptimizerKind.allCases)
    func everyOptimizer(kind: OptimizerKind) throws {
        let original = try Self.trainedDocument(optimizer: kind)
        let folder = try TemporaryFolder()
        let path = folder.path("m.safetensors")
        try ModelFiles.save(original, to: path, format: .safetensors)
        #expect(try ModelFiles.load(path) == original, "\(kind)")
        let sibling = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder.path("m.optimizer.safetensors"))))
        let container = try sibling.withUnsafeBytes { try SafetensorsContainer.parse($0, file: "sibling") }
        let expected = original.training?.optimizer.config.slotNames.flatMap { slot in
            ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "6.weight", "8.weight", "8.bias"].map { "\(slot).\($0)" }
        } ?? []
        #expect(Set(container.entries.map(\.name)) == Set(expected), "\(kind)")
        #expect(container.metadata?["mlpconv.optimizer_step"] == String(original.training?.optimizer.iterations ?? -1))
    }

    @Test("the main file is a torch state dict of the Sequential") func mainFileLayout() throws {
        let document = try Self.trainedDocument()
        #expect(try ModelFiles.torchSequential(of: document).get() == "Sequential(Linear(4, 8), ReLU(), "
            + "BatchNorm1d(8, eps=0.001, momentum=0.1), Dropout(p=0.25), Linear(8, 6, bias=False), GELU(), "
            + "LayerNorm(6, eps=0.0001, bias=False), LeakyReLU(negative_slope=0.2), Linear(6, 3), Softmax(dim=-1))")
        let encoded = try SafetensorsCodec.encode(document, file: "m")
        let container = try encoded.model.withUnsafeBytes { try SafetensorsContainer.parse($0, file: "m") }
        #expect(container.entries.map(\.name) == ["2.num_batches_tracked", "0.bias", "0.weight", "2.bias", "2.running_mean",
                                                  "2.running_var", "2.weight", "4.weight", "6.weight", "8.bias", "8.weight"])
        #expect(container.entries.first { $0.name == "0.weight" }?.shape == [8, 4])
        let metadata = try #require(container.metadata)
        #expect(metadata["format"] == "pt")
        #expect(Set(metadata.keys) == ["format", "mlpconv.format_version", "mlpconv.architecture", "mlpconv.metadata",
                                       "mlpconv.loss", "mlpconv.optimizer", "mlpconv.epochs_completed",
                                       "mlpconv.random_state", "mlpconv.history"])
        #expect(metadata["mlpconv.epochs_completed"] == "2")
        // The kernel is transposed: torch's weight[o][i] is mlpconv's kernel[i][o].
        let kernel = try #require(document.weights[0]["kernel"]).float32Values
        let begin = container.dataStart + (container.entries.first { $0.name == "0.weight" }?.begin ?? 0)
        let stored = encoded.model[begin..<(begin + 4)].withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        let second = encoded.model[(begin + 4)..<(begin + 8)].withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        #expect(stored == kernel[0] && second == kernel[8])
    }

    /// Writers stream a kernel into torch's layout a block of output rows at a time (about 1 MiB); a kernel of
    /// several blocks, with a last one shorter than the others, must come out exactly as the transpose written out
    /// here element by element.
    @Test("a kernel of several 1 MiB blocks is transposed exactly", arguments: [Tensor.DType.float32, .float64])
    func blockwiseTranspose(dtype: Tensor.DType) throws {
        let (rows, columns) = (300, 2_000)
        let values = (0..<(rows * columns)).map { Double($0) * 0.5 - 7 }
        let kernel = dtype == .float32 ? try Tensor(shape: [rows, columns], float32: values.map(Float.init))
                                       : try Tensor(shape: [rows, columns], float64: values)
        var expected: [Double] = []
        for c in 0..<columns { for r in 0..<rows { expected.append(values[r * columns + c]) } }
        var bytes = Data(), pieces = 0
        TorchModules.forEachTorchLayoutChunk(kernel, variable: "kernel") { (piece: UnsafeRawBufferPointer) in
            bytes.append(contentsOf: piece)
            pieces += 1
        }
        #expect(pieces > 2)
        let stored: [Double] = dtype == .float32
            ? bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }.map(Double.init)
            : bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        #expect(stored == expected)
        // Any other variable is its own bytes, in one piece.
        var bias = 0
        TorchModules.forEachTorchLayoutChunk(kernel, variable: "bias") { (piece: UnsafeRawBufferPointer) in bias += piece.count }
        #expect(bias == kernel.byteCount)
    }

    @Test("the 784-512-256-10 example") func mnistExample() throws {
        let architecture = ModelDocument.Architecture(inputWidth: 784, layers: [
            .init(name: "a", units: 512, activation: .relu), .init(name: "b", units: 256, activation: .relu),
            .init(name: "c", units: 10, activation: .softmax),
        ])
        #expect(try TorchModules.plan(of: architecture).sequential
            == "Sequential(Linear(784, 512), ReLU(), Linear(512, 256), ReLU(), Linear(256, 10), Softmax(dim=-1))")
    }

    @Test("what torch cannot express is refused naming the layer") func refusals() throws {
        var document = try Self.trainedDocument()
        document.training = nil
        let folder = try TemporaryFolder()
        let path = folder.path("x.safetensors")
        var exponential = document
        exponential.architecture.layers[6].kind = .dense(DenseSettings(units: 3, activation: .exponential))
        let error = try #require(throws: ModelFileError.self) { try ModelFiles.save(exponential, to: path, format: .safetensors) }
        #expect(error.description == "\(path): architecture.layers[6] (\"dense_2\"): cannot be written as a torch model: the activation exponential has no torch.nn module")
        var scaleOnly = document
        scaleOnly.architecture.layers[1].kind = .batchNormalization(BatchNormalizationSettings(center: false, scale: true))
        scaleOnly.weights[1]["beta"] = nil
        let bnError = try #require(throws: ModelFileError.self) { try ModelFiles.save(scaleOnly, to: path, format: .safetensors) }
        #expect(bnError.description == "\(path): architecture.layers[1] (\"batch_normalization\"): cannot be written as a torch model: torch's BatchNorm1d has a scale and an offset together or neither (affine), not only a scale (scale without center)")
        #expect(!FileManager.default.fileExists(atPath: path))
        if case .failure(let sequentialError) = ModelFiles.torchSequential(of: exponential) {
            #expect(sequentialError.reason == "the activation exponential has no torch.nn module")
        } else {
            Issue.record("expected a failure")
        }
    }

    @Test("a missing or stale optimizer file is ignored with a note; the weights still load") func staleSibling() throws {
        let original = try Self.trainedDocument()
        let folder = try TemporaryFolder()
        let path = folder.path("m.safetensors"), sibling = folder.path("m.optimizer.safetensors")
        try ModelFiles.save(original, to: path, format: .safetensors)
        let kept = try Data(contentsOf: URL(fileURLWithPath: sibling))

        var changed = original
        changed.weights[0]["bias"] = changed.weights[0]["bias"].map { Tensor(unchecked: $0.shape, storage: .float32($0.float32Values.map { $0 + 1 })) }
        try ModelFiles.save(changed, to: path, format: .safetensors)
        try kept.write(to: URL(fileURLWithPath: sibling))
        let stale = try ModelFiles.load(path)
        #expect(stale.training == nil)
        #expect(stale.weights == changed.weights)
        #expect(stale.metadata["safetensors_training_state"] == "not read: m.optimizer.safetensors was written for other weights or another step (its step 8, the model's 8)")

        try FileManager.default.removeItem(atPath: sibling)
        let missing = try ModelFiles.load(path)
        #expect(missing.training == nil)
        #expect(missing.metadata["safetensors_training_state"] == "not read: the optimizer file m.optimizer.safetensors is missing")
    }

    @Test("a failed write leaves the previous files intact") func failedWrite() throws {
        let original = try Self.trainedDocument()
        let folder = try TemporaryFolder()
        let path = folder.path("m.safetensors")
        try ModelFiles.save(original, to: path, format: .safetensors)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        // The optimizer file's place is taken by a folder: its replacement fails, so the model file is not committed.
        let sibling = folder.path("m.optimizer.safetensors")
        try FileManager.default.removeItem(atPath: sibling)
        try FileManager.default.createDirectory(atPath: sibling, withIntermediateDirectories: false)
        var changed = original
        changed.metadata["description"] = "changed"
        let error = try #require(throws: ModelFileError.self) { try ModelFiles.save(changed, to: path, format: .safetensors) }
        #expect(error.description == "\(sibling): cannot write: it is a directory")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted() == ["m.optimizer.safetensors", "m.safetensors"])
    }

    @Test("detection: a header length whose low byte is { or whitespace is safetensors, not JSON",
          arguments: [0x7B, 0x120, 0x10A, 0x109])
    func detection(length: Int) throws {
        let folder = try TemporaryFolder()
        let header = "{\"__metadata__\":{\"k\":\"" + String(repeating: "v", count: length - 25) + "\"}}"
        #expect(header.utf8.count == length)
        let bytes: [UInt8] = [UInt8(length & 0xFF), UInt8(length >> 8), 0, 0, 0, 0, 0, 0] + Array(header.utf8)
        let path = try folder.write("x.bin", bytes)
        #expect(try ModelFiles.detectKind(at: path) == .safetensors)
        let json = try folder.write("y.bin", Array("{\"format\": \"mlpconv-model\"}".utf8))
        #expect(try ModelFiles.detectKind(at: json) == .json)
    }

    @Test("--activations names: Keras names and torch modules") func activationNames() throws {
        #expect(try ModelFiles.activations(list: "relu, ReLU,ReLU(),Softmax,Softmax(dim=-1),Identity,linear,GELU,Hardswish,LeakyReLU(negative_slope=0.2),swish").get()
            == [.relu, .relu, .relu, .softmax, .softmax, .linear, .linear, .gelu, .hardSiLU, .leakyReLU, .silu])
        guard case .failure(let error) = ModelFiles.activations(list: "relu,LeakyReLU") else {
            Issue.record("LeakyReLU without its slope must be refused")
            return
        }
        #expect(error.description == "activation \"LeakyReLU\": unknown activation; torch's LeakyReLU defaults to a slope of 0.01, mlpconv's leaky_relu has 0.2: write LeakyReLU(negative_slope=0.2) or leaky_relu")
    }
}

/// Copies a written safetensors file (and its optimizer file) into `MLPCONV_INTEROP_DIR/torch`, with the
/// expectations described at the top of scripts/torch_interop_check.py, which CI runs on them.
func exportForTorchInterop(_ path: String, document: ModelDocument, name: String) throws {
    guard let root = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !root.isEmpty else { return }
    let folder = URL(fileURLWithPath: root).appendingPathComponent("torch")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (source, target) in [(path, name + ".safetensors"),
                             (ModelFiles.safetensorsOptimizerPath(of: path), name + ".optimizer.safetensors")]
    where FileManager.default.fileExists(atPath: source) {
        let destination = folder.appendingPathComponent(target).path
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.copyItem(atPath: source, toPath: destination)
    }
    let isFloat64 = document.variableTensors.contains { $0.dtype == .float64 }
    let width = document.architecture.inputWidth
    let inputs = (0..<(4 * width)).map { -1.5 + 3 * Double($0) / Double(max(4 * width - 1, 1)) }
    let outputs: [Double] = isFloat64 ? try document.network(as: Double.self).predict(inputs)
        : try document.network(as: Float.self).predict(inputs.map { Float($0) }).map { Double($0) }
    let outputWidth = document.architecture.outputWidth
    let expectation: [String: Any] = [
        "file": name + ".safetensors", "container": "safetensors",
        "sequential": try ModelFiles.torchSequential(of: document).get(),
        "dtype": isFloat64 ? "float64" : "float32",
        "inputs": (0..<4).map { Array(inputs[($0 * width)..<(($0 + 1) * width)]) },
        "predictions": (0..<4).map { Array(outputs[($0 * outputWidth)..<(($0 + 1) * outputWidth)]) },
        "optimizer": NSNull(),
    ]
    let data = try JSONSerialization.data(withJSONObject: expectation, options: [.sortedKeys])
    try data.write(to: folder.appendingPathComponent(name + ".expect.json"))
}
