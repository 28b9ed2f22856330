import CHDF5
import Foundation
import MLPCore
import Testing
import HDF5Support
import MLPDocument
import FormatSupport
@testable import HDF5Format
import TestSupport

/// Writes, reads back and returns the result; with `MLPCONV_INTEROP_DIR` set, also leaves the file there
/// (with the expected tensors beside it) for CI's h5py check.
private func roundTrip(_ document: ModelDocument, compress: Bool = false, name: String) throws -> ModelDocument {
    let folder = try TemporaryFolder()
    let path = folder.path("\(name).h5")
    try HDF5ModelCodec.write(document, toPath: path, file: "\(name).h5", options: SaveOptions(compress: compress))
    let back = try HDF5ModelCodec.read(path: path, file: "\(name).h5", limits: LoadLimits())
    try exportForInterop(document, path: path, name: name)
    return back
}

private func exportForInterop(_ document: ModelDocument, path: String, name: String) throws {
    guard let folder = ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"], !folder.isEmpty else { return }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let target = URL(fileURLWithPath: folder).appendingPathComponent("hdf5-\(name).h5")
    try? FileManager.default.removeItem(at: target)
    try FileManager.default.copyItem(at: URL(fileURLWithPath: path), to: target)
    // The expected content, in terms h5py sees: dataset path → dtype, shape and little-endian bytes as hex.
    var tensors: [String: Any] = [:]
    func add(_ tensor: Tensor, _ path: String) {
        let hex = tensor.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
        tensors[path] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape, "hex": hex]
    }
    for (tensor, parameter) in zip(document.parameterTensors, document.parameterNames) {
        add(tensor, "/weights/\(parameter)")
    }
    for slot in document.training?.optimizer.slots ?? [] {
        for (tensor, parameter) in zip(slot.tensors, document.parameterNames) {
            add(tensor, "/optimizer/\(slot.name)/\(parameter)")
        }
    }
    var expected: [String: Any] = [
        "architecture": DocumentJSON.architectureText(document.architecture),
        "tensors": tensors, "metadata": document.metadata,
    ]
    if let training = document.training {
        expected["optimizer"] = ["name": training.optimizer.config.kind.name, "iterations": training.optimizer.iterations]
        expected["loss"] = training.loss.name
    }
    let data = try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys])
    try data.write(to: target.appendingPathExtension("expected"))
}

@Suite("HDF5 model codec: round trips")
struct HDF5ModelCodecRoundTripTests {
    @Test("float32 with every optimizer's slots, bit for bit, with and without compression",
          arguments: optimizerConfigs.indices, [false, true])
    func everyOptimizer(index: Int, compress: Bool) throws {
        var factory = DocumentFactory(seed: UInt64(index))
        let document = factory.document(units: [5, 3, 2], optimizer: optimizerConfigs[index], history: sampleHistory)
        #expect(document.training?.optimizer.slots.count == optimizerConfigs[index].slotNames.count)
        let back = try roundTrip(document, compress: compress, name: "optimizer-\(index)\(compress ? "-gzip" : "")")
        #expect(back == document)
        #expect(back.training?.optimizer.config == optimizerConfigs[index])
    }

    @Test("float64 tensors stay float64; NaN payloads, −0, ±∞ and subnormals survive", arguments: [false, true])
    func specialValues(compress: Bool) throws {
        for dtype in Tensor.DType.allCases {
            var factory = DocumentFactory(seed: 3)
            let document = factory.document(inputWidth: 6, units: [4, 3], dtype: dtype, special: true,
                                            optimizer: optimizerConfigs[3], history: sampleHistory)
            let back = try roundTrip(document, compress: compress,
                                     name: "special-\(dtype.rawValue)\(compress ? "-gzip" : "")")
            #expect(back == document)
            #expect(back.weights[0].kernel.dtype == dtype)
            #expect(back.weights[0].kernel.nonFiniteCount == document.weights[0].kernel.nonFiniteCount)
            // The history's NaN and infinities too (== compares metrics bitwise).
            #expect(back.training?.history.first?.metrics["val_loss"]?.isNaN == true)
        }
    }

    @Test("a model without a training record has no /optimizer or /training; unicode names and metadata")
    func withoutTraining() throws {
        var factory = DocumentFactory(seed: 9)
        let metadata = ["description": "Ünïcødé ✓ — 模型 🚀", "created_by": "mlpconv 0.1", "empty": "",
                        "key with spaces/and slash": "value\nwith\tcontrol", "😀": "emoji key"]
        let document = factory.document(units: [3, 3, 1], names: ["dénse 1", "layer.2", "出力"],
                                        useBias: [true, false, true], activations: [.gelu, .tanh, .sigmoid],
                                        metadata: metadata)
        let folder = try TemporaryFolder()
        let path = folder.path("plain.h5")
        try HDF5ModelCodec.write(document, toPath: path, file: "plain.h5", options: SaveOptions())
        let back = try HDF5ModelCodec.read(path: path, file: "plain.h5", limits: LoadLimits())
        #expect(back == document)
        #expect(back.training == nil)
        #expect(back.metadata == metadata)
        let file = try HDF5File.openReadOnly(at: path)
        #expect(try file.members().map(\.name) == ["metadata", "weights"])
        #expect(try file.openGroup("weights/layer.2").members().map(\.name) == ["kernel"])
        try exportForInterop(document, path: path, name: "no-training")
    }

    @Test("a float32 file written by training a core model loads into an equal model")
    func coreModel() throws {
        var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .relu), LayerSpec(2, .softmax)],
                                     loss: .categoricalCrossentropy, optimizer: OptimizerConfig(.adam), seed: 5)
        let data = try Dataset<Float>(features: [0.1, 0.2, 0.3, -1, 0, 1, 2, 2, 2, 0.5, -0.5, 0],
                                      featureWidth: 3, targets: [1, 0, 0, 1, 1, 0, 0, 1], targetWidth: 2)
        _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
        let document = ModelDocument(model: model, metadata: ["created_by": "test"])
        let back = try roundTrip(document, name: "core-model")
        #expect(back == document)
        let restored: Model<Float> = try back.model()
        #expect(restored == model)
    }

    @Test("200 random models round-trip bit for bit (random widths, dtypes, activations, optimizers, states)")
    func randomModels() throws {
        var random = RandomGenerator(seed: 2024)
        let folder = try TemporaryFolder()
        for index in 0..<200 {
            var factory = DocumentFactory(seed: random.next())
            let layerCount = 1 + random.nextInt(below: 4)
            let units = (0..<layerCount).map { _ in 1 + random.nextInt(below: 9) }
            let withTraining = random.nextInt(below: 4) != 0
            let history = (0..<random.nextInt(below: 4)).map { epoch in
                EpochRecord(epoch: epoch + 1, metrics: ["loss": random.nextUnitDouble(), "val_loss": random.nextStandardNormal()])
            }
            let document = factory.document(
                inputWidth: 1 + random.nextInt(below: 9), units: units,
                useBias: units.map { _ in random.nextInt(below: 3) != 0 },
                activations: units.map { _ in Activation.allCases[random.nextInt(below: Activation.allCases.count)] },
                dtype: random.nextInt(below: 3) == 0 ? .float64 : .float32, special: random.nextInt(below: 2) == 0,
                optimizer: withTraining ? optimizerConfigs[random.nextInt(below: optimizerConfigs.count)] : nil,
                iterations: random.nextInt(below: 1_000_000), randomState: random.nextInt(below: 5) != 0,
                history: history, metadata: ["index": "\(index)"])
            let compress = random.nextInt(below: 4) == 0
            let path = folder.path("random-\(index).h5")
            try HDF5ModelCodec.write(document, toPath: path, file: "random.h5", options: SaveOptions(compress: compress))
            let back = try HDF5ModelCodec.read(path: path, file: "random.h5", limits: LoadLimits())
            #expect(back == document, "model \(index)")
            if index < 5 { try exportForInterop(document, path: path, name: "random-\(index)") }
        }
    }

    @Test("the same document gives the same bytes, whenever it is written (no HDF5 timestamps)")
    func reproducibleBytes() throws {
        let folder = try TemporaryFolder()
        let (first, document) = try writeSample(folder, name: "first.h5")
        // Timestamps have a resolution of one second.
        Thread.sleep(forTimeInterval: 1.1)
        let (second, _) = try writeSample(folder, document, name: "second.h5")
        #expect(try fileBytes(first) == fileBytes(second))
    }

    @Test("compression: chunked, shuffle + gzip, chunks at most 1 MiB, smaller file")
    func compressedLayout() throws {
        var factory = DocumentFactory(seed: 1)
        var document = factory.document(inputWidth: 512, units: [1024, 8])
        // Compressible data: small integers.
        document.weights[0].kernel = Tensor(unchecked: [512, 1024],
                                            storage: .float32((0..<(512 * 1024)).map { Float($0 % 5) }))
        let folder = try TemporaryFolder()
        let plain = folder.path("plain.h5"), packed = folder.path("packed.h5")
        try HDF5ModelCodec.write(document, toPath: plain, file: "plain.h5", options: SaveOptions())
        try HDF5ModelCodec.write(document, toPath: packed, file: "packed.h5", options: SaveOptions(compress: true))
        let info = try HDF5File.openReadOnly(at: packed).openDataset("weights/dense_0/kernel").info()
        #expect(info.layout == .chunked)
        #expect(info.filters.map(\.id) == [mlp_H5Z_FILTER_SHUFFLE(), mlp_H5Z_FILTER_DEFLATE()])
        let chunkBytes = (info.chunkShape ?? []).reduce(4) { $0 * Int($1) }
        #expect(chunkBytes <= 1 << 20 && chunkBytes >= 1 << 19, "chunk \(info.chunkShape ?? [])")
        let plainInfo = try HDF5File.openReadOnly(at: plain).openDataset("weights/dense_0/kernel").info()
        #expect(plainInfo.layout == .contiguous)
        let sizes = try [plain, packed].map { try FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int ?? 0 }
        #expect(sizes[1] * 5 < sizes[0], "\(sizes)")
        #expect(try HDF5ModelCodec.read(path: packed, file: "packed.h5", limits: LoadLimits()) == document)
    }

    @Test("h5dump reads the file without our code and shows the documented layout")
    func h5dumpLayout() throws {
        guard let h5dump = findTool("h5dump") else {
            withKnownIssue("h5dump is not installed (apt-get install hdf5-tools)") { Issue.record("h5dump missing") }
            return
        }
        let folder = try TemporaryFolder()
        let (path, document) = try writeSample(folder)
        let header = try run(h5dump, ["-H", path])
        #expect(header.status == 0)
        for expected in [
            "ATTRIBUTE \"format\"", "ATTRIBUTE \"format_version\"", "H5T_STD_I64LE",
            "ATTRIBUTE \"architecture\"", "ATTRIBUTE \"architecture_crc32c\"", "H5T_STD_U32LE",
            "GROUP \"weights\"", "GROUP \"dense\"", "DATASET \"kernel\"", "DATASET \"bias\"", "H5T_IEEE_F32LE",
            "SIMPLE { ( 4, 3 ) / ( 4, 3 ) }", "SIMPLE { ( 3, 2 ) / ( 3, 2 ) }", "ATTRIBUTE \"crc32c\"",
            "GROUP \"optimizer\"", "ATTRIBUTE \"learning_rate\"", "ATTRIBUTE \"amsgrad\"",
            "ATTRIBUTE \"boolean_hyperparameters\"", "ATTRIBUTE \"null_hyperparameters\"",
            "GROUP \"momentum\"", "GROUP \"velocity\"", "GROUP \"training\"", "ATTRIBUTE \"random_state\"",
            "H5T_STD_U64LE", "DATASET \"history\"", "STRSIZE H5T_VARIABLE", "CSET H5T_CSET_UTF8",
            "GROUP \"metadata\"", "ATTRIBUTE \"description\"",
        ] {
            #expect(header.output.contains(expected), "h5dump -H lacks \(expected)")
        }
        let format = try run(h5dump, ["-a", "/format", path])
        #expect(format.output.contains("(0): \"mlpconv-model\""), "\(format.output)")
        // h5dump prints floats with %g (6 significant digits): compare at that precision.
        let kernel = try run(h5dump, ["-y", "-w", "0", "-m", "%.9g", "-d", "/weights/dense_1/kernel", path])
        #expect(kernel.status == 0)
        let dumped = h5dumpNumbers(kernel.output).compactMap(Float.init)
        #expect(dumped.map(\.bitPattern) == document.weights[1].kernel.float32Values.map(\.bitPattern))
        let history = try run(h5dump, ["-d", "/training/history", path])
        #expect(history.output.contains("(0): \"[{\"epoch\":1,\"metrics\":{\"loss\":0.6931471805599453,"), "\(history.output)")
    }
}
