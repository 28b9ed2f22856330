import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
@testable import SafetensorsFormat
import Testing
import TestSupport

/// `fixtures/safetensors/expected.json`, written by fixtures/generate/generate_safetensors.py with torch and
/// safetensors.torch.save_file.
struct SafetensorsExpectations: Decodable {
    struct Model: Decodable {
        var file: String
        var activations: String
        /// What `print(model)` shows, for `--sequential`.
        var sequential: String
        var stored_dtype: String
        var compute_dtype: String
        var tensors: [String: [Int]]
        var inputs: [[Double]]
        var outputs: [[Double]]
    }

    var torch: String
    var safetensors: String
    var models: [Model]

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fixtures/safetensors").standardized

    static func load() throws -> SafetensorsExpectations {
        try JSONDecoder().decode(Self.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
    }

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
}

struct SafetensorsFixtureTests {
    static let models = (try? SafetensorsExpectations.load().models) ?? []

    @Test("the fixtures are there") func fixturesExist() throws {
        let expectations = try SafetensorsExpectations.load()
        #expect(expectations.models.count == 8)
        #expect(expectations.torch.hasPrefix("2.15.0") && expectations.safetensors == "0.8.0")
    }

    /// Each file, read with what `print(model)` showed, predicts what torch predicted (≤ 1e-6 absolute; 1e-12 in
    /// float64), and has exactly the architecture that reading it with its activations infers.
    @Test("torch-written files load with their print(model) Sequential", arguments: models.map(\.file))
    func predictsAsTorchWithSequential(file: String) throws {
        let model = try #require(Self.models.first { $0.file == file })
        let document = try ModelFiles.load(SafetensorsExpectations.path(file), options: LoadOptions(sequential: model.sequential))
        let activations = try ModelFiles.activations(list: model.activations).get()
        let inferred = try ModelFiles.load(SafetensorsExpectations.path(file), options: LoadOptions(activations: activations))
        // The inferred chain leaves Dropout out (it has no tensors); the definition keeps it.
        #expect(document.architecture.layers.filter { $0.kind.typeName != "dropout" }.map(\.kind)
                == inferred.architecture.layers.map(\.kind), "\(file)")
        #expect(document.weights.filter { !$0.tensors.isEmpty } == inferred.weights.filter { !$0.tensors.isEmpty })
        let inputs = model.inputs.flatMap { $0 }, expected = model.outputs.flatMap { $0 }
        let outputs = model.compute_dtype == "float64"
            ? try document.network(as: Double.self).predict(inputs)
            : try document.network(as: Float.self).predict(inputs.map { Float($0) }).map { Double($0) }
        let worst = zip(outputs, expected).map { abs($0 - $1) }.max() ?? .infinity
        print("safetensors fixture \(file) by its Sequential: largest difference from torch \(worst)")
        #expect(outputs.count == expected.count && worst <= (model.compute_dtype == "float64" ? 1e-12 : 1e-6), "\(file): \(worst)")
    }

    /// Each file, read with its activations, predicts what torch predicted (≤ 1e-6 absolute), in the dtype the
    /// file's tensors become.
    @Test("torch-written files load and predict as torch does", arguments: models.map(\.file))
    func predictsAsTorch(file: String) throws {
        let model = try #require(Self.models.first { $0.file == file })
        let activations = try ModelFiles.activations(list: model.activations).get()
        let document = try ModelFiles.load(SafetensorsExpectations.path(file), options: LoadOptions(activations: activations))
        #expect(document.training == nil)
        let inputs = model.inputs.flatMap { $0 }, expected = model.outputs.flatMap { $0 }
        let outputs: [Double]
        if model.compute_dtype == "float64" {
            #expect(document.variableTensors.allSatisfy { $0.dtype == .float64 })
            outputs = try document.network(as: Double.self).predict(inputs)
        } else {
            #expect(document.variableTensors.allSatisfy { $0.dtype == .float32 })
            outputs = try document.network(as: Float.self).predict(inputs.map { Float($0) }).map { Double($0) }
        }
        #expect(outputs.count == expected.count)
        let worst = zip(outputs, expected).map { abs($0 - $1) }.max() ?? .infinity
        print("safetensors fixture \(file): largest difference from torch \(worst)")
        #expect(worst <= 1e-6, "\(file): largest difference \(worst)")
        // Written back, the model has the file's tensors; under the same names unless the file's modules are not
        // named by their Sequential index as mlpconv's Sequential numbers them (named modules; a Dropout, which
        // holds no tensor, is not in a state dict).
        let torchShapes = Dictionary(uniqueKeysWithValues: try TorchModulesView.entries(of: document).map { ($0.name, $0.shape) })
        if file == "named_modules.safetensors" || file == "normalization.safetensors" {
            #expect(torchShapes.values.map(\.description).sorted() == model.tensors.values.map(\.description).sorted(), "\(file)")
        } else {
            #expect(torchShapes == model.tensors, "\(file)")
        }
        switch model.stored_dtype {
        case "float16": #expect(document.metadata["safetensors_dtype"] == "4 F16 tensors converted to float32")
        case "bfloat16": #expect(document.metadata["safetensors_dtype"] == "4 BF16 tensors converted to float32")
        default: #expect(document.metadata["safetensors_dtype"] == nil)
        }
        #expect(document.metadata["source_format"] == "safetensors")
        if ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"] != nil {
            // Written back by mlpconv (every activation's module, the normalizations), for torch to load strictly.
            let folder = try TemporaryFolder()
            let written = folder.path("w.safetensors")
            try ModelFiles.save(document, to: written, format: .safetensors)
            try exportForTorchInterop(written, document: document, name: "fixture-" + file.replacingOccurrences(of: ".safetensors", with: ""))
        }
    }

    @Test("without --activations the error says they are needed and shows the flag")
    func activationsAreRequired() throws {
        let path = SafetensorsExpectations.path("relu_softmax.safetensors")
        let error = try #require(throws: ModelFileError.self) { try ModelFiles.load(path) }
        #expect(error.description == "\(path): state dict: the file has no mlpconv metadata, so its activations are unknown; "
            + "pass the model's definition with --sequential \"Sequential(…)\" (as print(model) shows it or the code builds it), "
            + "or one activation per Linear layer (3 here) with --activations, e.g. --activations relu,relu,linear")
        let wrongCount = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(path, options: LoadOptions(activations: [.relu]))
        }
        #expect(wrongCount.description == "\(path): state dict: has 3 Linear layers (0, 2, 4) but 1 activations were given; give one per Linear layer")
    }

    /// The inferred chain: numeric-aware order for Sequential indices (`10` after `2`), the chain of widths for
    /// other names, torch's default normalization settings.
    @Test("the layer chain is inferred from the tensors") func inferredChain() throws {
        let named = try ModelFiles.load(SafetensorsExpectations.path("named_modules.safetensors"),
                                        options: LoadOptions(activations: [.relu, .tanh, .linear]))
        #expect(try ModelFiles.torchSequential(of: named).get() == "Sequential(Linear(6, 9), ReLU(), Linear(9, 5), Tanh(), Linear(5, 3))")
        let normalization = try ModelFiles.load(SafetensorsExpectations.path("normalization.safetensors"),
                                                options: LoadOptions(activations: [.relu, .gelu, .tanh, .linear, .linear]))
        #expect(try ModelFiles.torchSequential(of: normalization).get() == "Sequential(Linear(5, 8), ReLU(), "
            + "BatchNorm1d(8, eps=1e-05, momentum=0.1), Linear(8, 8), GELU(), LayerNorm(8, eps=1e-05), "
            + "Linear(8, 6), Tanh(), BatchNorm1d(6, eps=1e-05, momentum=0.1, affine=False), Linear(6, 6), "
            + "LayerNorm(6, eps=1e-05, bias=False), Linear(6, 2))")
    }

    /// The writer reproduces the reference writer's bytes: same order (dtype, then name), same compact header, same
    /// padding. Every fixture but the one whose header was reordered after writing.
    @Test("the container writer reproduces safetensors.torch.save_file byte for byte", arguments: models.map(\.file))
    func writerMatchesReference(file: String) throws {
        guard file != "relu_softmax.safetensors" else { return }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: SafetensorsExpectations.path(file))))
        let container = try bytes.withUnsafeBytes { try SafetensorsContainer.parse($0, file: file) }
        let items = container.entries.map { entry in
            SafetensorsContainer.Item(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                                      bytes: Array(bytes[(container.dataStart + entry.begin)..<(container.dataStart + entry.end)]))
        }
        #expect(SafetensorsContainer.serialize(items.reversed(), metadata: container.metadata) == bytes, "\(file)")
    }

    @Test("the header's key order is not the layer order") func shuffledHeader() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: SafetensorsExpectations.path("relu_softmax.safetensors"))))
        let header = String(decoding: bytes[8..<100], as: UTF8.self)
        #expect(header.hasPrefix("{\"2.weight\""))
    }
}

/// The document as torch sees it, through the package API the formats share.
enum TorchModulesView {
    static func entries(of document: ModelDocument) throws -> [(name: String, shape: [Int])] {
        var plain = document
        plain.training = nil
        let encoded = try SafetensorsCodec.encode(plain, file: "view")
        let container = try encoded.model.withUnsafeBytes { try SafetensorsContainer.parse($0, file: "view") }
        return container.entries.map { ($0.name, $0.shape) }
    }
}
