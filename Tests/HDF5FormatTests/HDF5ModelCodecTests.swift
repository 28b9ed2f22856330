import CCRC32C
import CHDF5
import Foundation
import MLPCore
import Testing
import HDF5Support
import MLPDocument
import MLPModelFiles
import FormatSupport
@testable import HDF5Format
import TestSupport


// MARK: - Building documents

/// Draws test documents: random weights with special values mixed in, every optimizer's slots, history with
/// non-finite metrics, unicode names and metadata.
private struct DocumentFactory {
    var random: RandomGenerator

    init(seed: UInt64) { random = RandomGenerator(seed: seed) }

    /// Values that must survive bit for bit: NaN payloads (quiet and signalling), ±0, ±∞, subnormals, extremes.
    static let specialFloats: [Float] = [
        .nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFC0_0000),
        -0.0, 0, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude,
    ]
    static let specialDoubles: [Double] = [
        .nan, Double(bitPattern: 0x7FF8_0000_DEAD_BEEF), Double(bitPattern: 0x7FF0_0000_0000_0001), -0.0, 0,
        .infinity, -.infinity, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, 0.1,
    ]

    mutating func tensor(_ shape: [Int], _ dtype: Tensor.DType, special: Bool = false) -> Tensor {
        let count = shape.reduce(1, *)
        switch dtype {
        case .float32:
            var values = (0..<count).map { _ in Float(random.nextStandardNormal()) }
            if special { for (i, v) in Self.specialFloats.enumerated() where i < count { values[(i * 7) % count] = v } }
            return Tensor(unchecked: shape, storage: .float32(values))
        case .float64:
            var values = (0..<count).map { _ in random.nextStandardNormal() }
            if special { for (i, v) in Self.specialDoubles.enumerated() where i < count { values[(i * 7) % count] = v } }
            return Tensor(unchecked: shape, storage: .float64(values))
        }
    }

    mutating func document(
        inputWidth: Int = 4, units: [Int] = [3, 2], names: [String]? = nil, useBias: [Bool]? = nil,
        activations: [Activation]? = nil, dtype: Tensor.DType = .float32, special: Bool = false,
        optimizer: OptimizerConfig? = nil, iterations: Int = 17, randomState: Bool = true,
        history: [EpochRecord] = [], metadata: [String: String] = [:]
    ) -> ModelDocument {
        let layers = units.indices.map { index in
            ModelDocument.Layer(
                name: names?[index] ?? "dense_\(index)", units: units[index],
                activation: activations?[index] ?? (index == units.count - 1 ? .softmax : .relu),
                useBias: useBias?[index] ?? true,
                kernelInitializer: index.isMultiple(of: 2) ? .glorotUniform : .heNormal, biasInitializer: .zeros)
        }
        let architecture = ModelDocument.Architecture(inputWidth: inputWidth, layers: layers)
        var weights: [ModelDocument.LayerWeights] = []
        for (index, layer) in layers.enumerated() {
            weights.append(.init(
                kernel: tensor([architecture.inputWidth(ofLayer: index), layer.units], dtype, special: special),
                bias: layer.useBias ? tensor([layer.units], dtype, special: special) : nil))
        }
        var document = ModelDocument(architecture: architecture, weights: weights, metadata: metadata)
        if let optimizer {
            let shapes = document.parameterShapes
            let slots = optimizer.slotNames.map { name in
                ModelDocument.OptimizerRecord.Slot(name: name, tensors: shapes.map { tensor($0, dtype, special: special) })
            }
            var state: RandomState?
            if randomState {
                var words = RandomGenerator(seed: random.next())
                state = RandomState(words: [words.next(), words.next(), .max, 1 << 63])
            }
            document.training = ModelDocument.TrainingRecord(
                loss: .categoricalCrossentropy,
                optimizer: ModelDocument.OptimizerRecord(config: optimizer, iterations: iterations, slots: slots),
                epochsCompleted: history.count, randomState: state, history: history)
        }
        return document
    }
}

/// One configuration per slot combination, and every hyperparameter form (numbers, flags, nulls).
private let optimizerConfigs: [OptimizerConfig] = {
    var configs: [OptimizerConfig] = [OptimizerConfig(.sgd, learningRate: 0.1)]
    var sgd = OptimizerConfig(.sgd); sgd.momentum = 0.9; sgd.nesterov = true; sgd.clipvalue = 0.5
    var adam = OptimizerConfig(.adam, learningRate: 0.0010000000474974513); adam.clipnorm = 1
    var amsgrad = OptimizerConfig(.adam); amsgrad.amsgrad = true; amsgrad.globalClipnorm = 2.5
    var adamw = OptimizerConfig(.adamw); adamw.weightDecay = nil  // null, unlike AdamW's 0.004 default
    var rmsprop = OptimizerConfig(.rmsprop)
    var centered = OptimizerConfig(.rmsprop); centered.momentum = 0.5; centered.centered = true
    var adagrad = OptimizerConfig(.adagrad); adagrad.weightDecay = 0.01
    configs += [sgd, adam, amsgrad, adamw, rmsprop, centered, adagrad]
    return configs
}()

private let sampleHistory = [
    EpochRecord(epoch: 1, metrics: ["loss": 0.6931471805599453, "accuracy": 0.5, "val_loss": .nan]),
    EpochRecord(epoch: 2, metrics: ["loss": .infinity, "accuracy": -0.0, "val_loss": -.infinity]),
]

// MARK: - Files

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

/// A valid model file to tamper with, and the document it holds.
private func writeSample(_ folder: TemporaryFolder, _ document: ModelDocument? = nil,
                         name: String = "model.h5", compress: Bool = false) throws -> (String, ModelDocument) {
    var factory = DocumentFactory(seed: 7)
    let document = document ?? factory.document(
        names: ["dense", "dense_1"], optimizer: optimizerConfigs[2], history: sampleHistory,
        metadata: ["description": "sample"])
    let path = folder.path(name)
    try HDF5ModelCodec.write(document, toPath: path, file: name, options: SaveOptions(compress: compress))
    return (path, document)
}

/// The message `read` fails with (`file` is "model.h5"), or nil (recorded as a failure) when it succeeds.
private func readError(_ path: String, limits: LoadLimits = LoadLimits(),
                       sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    expectError(ModelFileError.self, sourceLocation: sourceLocation) {
        _ = try HDF5ModelCodec.read(path: path, file: "model.h5", limits: limits)
    }?.description
}

/// Opens a written file for amending, under the HDF5 lock where raw C calls are needed.
private func tamper(_ path: String, _ body: (HDF5File) throws -> Void) throws {
    let file = try HDF5File.openReadWrite(at: path)
    try body(file)
}

/// Removes a link with a raw call (the wrapper never deletes anything).
private func unlink(_ file: HDF5File, _ path: String) throws {
    try HDF5Library.withHDF5 { try #require(H5Ldelete(file.id, path, mlp_H5P_DEFAULT()) >= 0, "delete \(path)") }
}

/// Writes a float32 dataset with a correct CRC-32C, as our writer would.
private func writeTensor(_ file: HDF5File, _ path: String, shape: [Int], values: [Float]) throws {
    let dataset = try file.createDataset(path, shape: shape, values: values)
    try dataset.setAttribute("crc32c", .uint32(values.withUnsafeBytes { CRC32C.checksum($0) }))
}

/// Replaces the architecture text and its checksum together, so that only the content is wrong.
private func replaceArchitecture(_ path: String, _ text: String) throws {
    try tamper(path) { file in
        try file.setAttribute("architecture", .string(text))
        try file.setAttribute("architecture_crc32c", .uint32(CRC32C.checksum(text)))
    }
}

/// Creates a dataset with raw calls: any type, layout and declared shape (the wrapper only writes honest ones).
private func rawDataset(_ file: HDF5File, _ path: String, type: hid_t, shape: [hsize_t], chunk: [hsize_t]? = nil,
                        gzip: Bool = false, data: UnsafeRawPointer? = nil,
                        configure: (hid_t) -> Void = { _ in }) throws {
    try HDF5Library.withHDF5 {
        let space = H5Screate_simple(Int32(shape.count), shape, nil)
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(mlp_H5P_DATASET_CREATE())
        defer { H5Pclose(dcpl) }
        if let chunk { try #require(H5Pset_chunk(dcpl, Int32(chunk.count), chunk) >= 0) }
        if gzip { try #require(H5Pset_deflate(dcpl, 9) >= 0) }
        configure(dcpl)
        let lcpl = H5Pcreate(mlp_H5P_LINK_CREATE())
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let id = H5Dcreate2(file.id, path, type, space, lcpl, dcpl, mlp_H5P_DEFAULT())
        try #require(id >= 0, "create \(path)")
        defer { H5Dclose(id) }
        if let data {
            try #require(H5Dwrite(id, type, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), data) >= 0)
        }
        let crc = H5Screate(H5S_SCALAR)
        defer { H5Sclose(crc) }
        let attribute = H5Acreate2(id, "crc32c", mlp_H5T_STD_U32LE(), crc, mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT())
        defer { H5Aclose(attribute) }
        var zero: UInt32 = 0
        H5Awrite(attribute, mlp_H5T_NATIVE_UINT32(), &zero)
    }
}

private func fileBytes(_ path: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) }
private func writeBytes(_ path: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// Replaces the single occurrence of `old` in the file with `new` (same length), e.g. inside a heap string.
private func patchBytes(_ path: String, _ old: String, _ new: String) throws {
    var bytes = try fileBytes(path)
    let needle = Array(old.utf8), replacement = Array(new.utf8)
    try #require(needle.count == replacement.count)
    let hits = (0...(bytes.count - needle.count)).filter { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    try #require(hits.count == 1, "\(old) occurs \(hits.count) times")
    bytes.replaceSubrange(hits[0]..<(hits[0] + needle.count), with: replacement)
    try writeBytes(path, bytes)
}

/// The numbers in an `h5dump -y -w 0` DATA block.
private func dumpedNumbers(_ dump: String) -> [String] {
    guard let start = dump.range(of: "DATA {") else { return [] }
    let rest = dump[start.upperBound...]
    let block = rest[..<(rest.range(of: "}")?.lowerBound ?? rest.endIndex)]
    return block.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
}

// MARK: - Round trips

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
        let dumped = dumpedNumbers(kernel.output).compactMap(Float.init)
        #expect(dumped.map(\.bitPattern) == document.weights[1].kernel.float32Values.map(\.bitPattern))
        let history = try run(h5dump, ["-d", "/training/history", path])
        #expect(history.output.contains("(0): \"[{\"epoch\":1,\"metrics\":{\"loss\":0.6931471805599453,"), "\(history.output)")
    }
}

// MARK: - Hostile and broken files

@Suite("HDF5 model codec: bad inputs")
struct HDF5ModelCodecBadInputTests {
    @Test("empty, non-HDF5, truncated files and HDF5 files that are not mlpconv models")
    func notModels() throws {
        let folder = try TemporaryFolder()
        let empty = try folder.write("empty.h5", [])
        #expect(readError(empty) == "model.h5: not a model file (the file is empty)")
        let text = try folder.write("text.h5", Array("{\"format\": \"mlpconv-model\"}\n".utf8))
        #expect(readError(text) == "model.h5: not an HDF5 file (file signature not found)")
        #expect(readError(folder.path("missing.h5")) == "model.h5: no such file")

        let (path, _) = try writeSample(folder)
        let bytes = try fileBytes(path)
        for fraction in [2, 4] {
            let truncated = try folder.write("truncated-\(fraction).h5", Array(bytes.prefix(bytes.count * (fraction - 1) / fraction)))
            let message = readError(truncated) ?? ""
            #expect(message.hasPrefix("model.h5: the HDF5 file is truncated (truncated file: eof = "), "\(message)")
            #expect(message.hasSuffix("): it is incomplete"), "\(message)")
        }

        // A Keras-style HDF5 file: no format attribute.
        let keras = folder.path("keras.h5")
        do {
            let file = try HDF5File.create(at: keras)
            try file.setAttribute("keras_version", .string("3.15.1"))
            try file.setAttribute("model_config", .string("{\"class_name\": \"Sequential\"}"))
            _ = try file.createDataset("model_weights/dense/dense/kernel", shape: [2, 2], values: [Float](repeating: 1, count: 4))
        }
        // The native codec on its own says it is not ours; the façade sees `model_config` and reads it as a Keras
        // file (KerasH5Reader), which finds the config incomplete.
        #expect(readError(keras) == "model.h5: not an mlpconv model (no format attribute; a Keras file?)")
        let routed = expectError(ModelFileError.self) { _ = try ModelFiles.load(keras) }
        #expect(routed?.description == "\(keras): /@model_config $.config: required key \"config\" is missing")
        let neither = folder.path("neither.h5")
        do {
            let file = try HDF5File.create(at: neither)
            try file.setAttribute("keras_version", .string("3.15.1"))
        }
        #expect(readError(neither) == "model.h5: not an mlpconv model (no format attribute; a Keras file?)")

        try tamper(path) { try $0.setAttribute("format", .string("something-else")) }
        #expect(readError(path) == "model.h5: not an mlpconv model (its format attribute is \"something-else\", expected \"mlpconv-model\")")
        try tamper(path) { try $0.setAttribute("format", .int64(1)) }
        #expect(readError(path) == "model.h5: not an mlpconv model (its format attribute is an integer, expected \"mlpconv-model\")")
        try tamper(path) {
            try $0.setAttribute("format", .string("mlpconv-model"))
            try $0.setAttribute("format_version", .int64(2))
        }
        #expect(readError(path) == "model.h5: /@format_version: the file has format version 2; this mlpconv reads up to 1: a newer mlpconv wrote it")
        try tamper(path) { try $0.setAttribute("format_version", .string("1")) }
        #expect(readError(path) == "model.h5: /@format_version: expected an integer, found a string")
    }

    @Test("a flipped byte in a tensor's data is caught by its checksum, naming the tensor")
    func flippedTensorByte() throws {
        let folder = try TemporaryFolder()
        let (path, document) = try writeSample(folder)
        let pristine = try fileBytes(path)
        let cases: [(object: String, tensor: Tensor)] = [
            ("/weights/dense_1/kernel", document.weights[1].kernel),
            ("/weights/dense/bias", try #require(document.weights[0].bias)),
            ("/optimizer/velocity/dense_1/bias", try #require(document.training?.optimizer.slots[1].tensors[3])),
        ]
        for (object, tensor) in cases {
            let offset = try #require(try HDF5File.openReadOnly(at: path).openDataset(object).info().dataOffset)
            var bytes = pristine
            let position = Int(offset) + tensor.byteCount / 2 + 1
            bytes[position] ^= 0x10
            try writeBytes(path, bytes)
            let stored = CRC32C.checksum(tensor)
            let computed = bytes[Int(offset)..<(Int(offset) + tensor.byteCount)].withUnsafeBytes { CRC32C.checksum($0) }
            #expect(readError(path) == "model.h5: \(object): checksum mismatch (stored crc32c \(CRC32C.hex(stored)), "
                    + "computed \(CRC32C.hex(computed))): the tensor data is corrupt")
        }
        // A compressed tensor: a flipped byte inside its chunk either breaks the gzip stream (zlib's own
        // checksum) or decodes to different data (ours); either way the message names the tensor.
        let (packed, _) = try writeSample(folder, name: "packed.h5", compress: true)
        let chunk = try HDF5Library.withHDF5 { () throws -> (offset: UInt64, size: UInt64) in
            let file = try HDF5File.openReadOnly(at: packed)
            let dataset = try file.openDataset("/weights/dense/kernel")
            #expect(try dataset.info().dataOffset == nil, "chunked: no single offset")
            var offset: [hsize_t] = [0, 0]
            var mask: UInt32 = 0
            var address: haddr_t = 0
            var size: hsize_t = 0
            let space = H5Dget_space(dataset.id)
            defer { H5Sclose(space) }
            try #require(H5Dget_chunk_info(dataset.id, space, 0, &offset, &mask, &address, &size) >= 0)
            return (UInt64(address), UInt64(size))
        }
        var bytes = try fileBytes(packed)
        bytes[Int(chunk.offset + chunk.size / 2)] ^= 0x01
        try writeBytes(packed, bytes)
        let message = readError(packed) ?? ""
        #expect(message.hasPrefix("model.h5: /weights/dense/kernel: "), "\(message)")
    }

    @Test("a changed architecture or history text is caught by its checksum")
    func changedTexts() throws {
        let folder = try TemporaryFolder()
        let (path, document) = try writeSample(folder)
        let text = DocumentJSON.architectureText(document.architecture)
        try patchBytes(path, "\"units\":3", "\"units\":4")
        let changed = text.replacingOccurrences(of: "\"units\":3", with: "\"units\":4")
        #expect(readError(path) == "model.h5: /@architecture: checksum mismatch (stored crc32c "
                + "\(CRC32C.hex(CRC32C.checksum(text))), computed \(CRC32C.hex(CRC32C.checksum(changed)))): "
                + "the architecture text is corrupt")

        let (second, _) = try writeSample(folder, name: "second.h5")
        try patchBytes(second, "\"epoch\":2", "\"epoch\":3")
        let message = readError(second) ?? ""
        #expect(message.hasPrefix("model.h5: /training/history: checksum mismatch (stored crc32c 0x"), "\(message)")
        #expect(message.hasSuffix("): the history text is corrupt"), "\(message)")

        let (third, _) = try writeSample(folder, name: "third.h5")
        try tamper(third) { file in try unlink(file, "weights/dense/kernel") }
        try tamper(third) { file in
            _ = try file.createDataset("weights/dense/kernel", shape: [4, 3], values: [Float](repeating: 0, count: 12))
        }
        #expect(readError(third) == "model.h5: /weights/dense/kernel@crc32c: missing: every mlpconv file stores a CRC-32C of the tensor data")
    }

    @Test("architecture contents: units ≤ 0, no layers, unknown names (with a valid checksum)")
    func architectureContents() throws {
        let folder = try TemporaryFolder()
        let (path, document) = try writeSample(folder)
        let good = DocumentJSON.architectureText(document.architecture)
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "\"units\":3", with: "\"units\":0"),
             "model.h5: /@architecture $.layers[0].units: expected a positive integer"),
            (good.replacingOccurrences(of: "\"units\":3", with: "\"units\":-3"),
             "model.h5: /@architecture $.layers[0].units: expected a positive integer"),
            ("{\"input_width\":4,\"layers\":[]}", "model.h5: /@architecture $.layers: a model needs at least one layer"),
            (good.replacingOccurrences(of: "\"input_width\":4", with: "\"input_width\":0"),
             "model.h5: /@architecture $.input_width: "),
            (good.replacingOccurrences(of: "\"relu\"", with: "\"relux\""),
             "model.h5: /@architecture $.layers[0].activation: unknown activation \"relux\"; supported: linear, relu, "),
            ("not json", "model.h5: /@architecture "),
        ]
        for (text, expected) in cases {
            try replaceArchitecture(path, text)
            let message = readError(path) ?? ""
            #expect(message.hasPrefix(expected), "\(message)")
            if text.contains("\"units\":-3") { #expect(message.contains("-3"), "\(message)") }
        }
        // Layer count mismatch: the architecture gains a layer the weights do not have.
        try replaceArchitecture(path, good.replacingOccurrences(
            of: "]}", with: ",{\"name\":\"extra\",\"units\":2,\"activation\":\"linear\"}]}"))
        #expect(readError(path) == "model.h5: /weights/extra: missing (the architecture has a layer \"extra\")")
    }

    @Test("unknown loss and optimizer names, and bad hyperparameters, name the attribute and list what is supported")
    func unknownNames() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        try tamper(path) { try $0.openGroup("training").setAttribute("loss", .string("mse2")) }
        #expect(readError(path)?.hasPrefix("model.h5: /training@loss: unknown loss \"mse2\"; supported: half_squared_error, mean_squared_error,") == true)
        try tamper(path) {
            try $0.openGroup("training").setAttribute("loss", .string("mse"))
            try $0.openGroup("optimizer").setAttribute("name", .string("adamax"))
        }
        #expect(readError(path) == "model.h5: /optimizer@name: unknown optimizer \"adamax\"; supported: sgd, adam, adamw, rmsprop, adagrad")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("name", .string("adam"))
            try $0.openGroup("optimizer").setAttribute("rho", .double(0.9))
        }
        #expect(readError(path)?.hasPrefix("model.h5: /optimizer@rho: adam has no hyperparameter \"rho\"; it takes ") == true)
        try tamper(path) {
            let optimizer = try $0.openGroup("optimizer")
            try HDF5Library.withHDF5 { try #require(H5Adelete(optimizer.id, "rho") >= 0) }
            try optimizer.setAttribute("beta_1", .double(1.5))
        }
        #expect(readError(path) == "model.h5: /optimizer@beta_1: optimizer hyperparameter beta_1: must be in [0, 1), got 1.5")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("beta_1", .double(0.9))
            try $0.openGroup("optimizer").setAttribute("amsgrad", .int64(2))
        }
        #expect(readError(path) == "model.h5: /optimizer@amsgrad: expected 0 or 1 (a boolean hyperparameter), found an integer")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("amsgrad", .int64(0))
            try $0.openGroup("optimizer").setAttribute("iterations", .int64(-1))
        }
        #expect(readError(path) == "model.h5: /optimizer@iterations: must be ≥ 0, got -1")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("iterations", .int64(1))
            try $0.openGroup("training").setAttribute("random_state", .uint64s([0, 0, 0, 0]))
        }
        #expect(readError(path) == "model.h5: /training@random_state: expected 4 words, not all zero; found [0, 0, 0, 0]")
        try tamper(path) { try $0.openGroup("training").setAttribute("random_state", .int64s([1, 2, 3, 4])) }
        #expect(readError(path) == "model.h5: /training: cannot read attribute 'random_state': attribute holds int64 values, expected unsigned integers")
    }

    @Test("shapes that disagree with the architecture name both shapes")
    func shapeMismatch() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        try tamper(path) { file in
            try unlink(file, "weights/dense_1/kernel")
            try writeTensor(file, "weights/dense_1/kernel", shape: [3, 16], values: [Float](repeating: 0.5, count: 48))
        }
        #expect(readError(path) == "model.h5: /weights/dense_1/kernel: shape [3, 16] does not match the architecture, which needs [3, 2] (layer \"dense_1\" has 3 inputs and 2 units)")
        try tamper(path) { file in
            try unlink(file, "weights/dense_1/kernel")
            try writeTensor(file, "weights/dense_1/kernel", shape: [6], values: [Float](repeating: 0.5, count: 6))
        }
        #expect(readError(path) == "model.h5: /weights/dense_1/kernel: shape [6] does not match the architecture, which needs [3, 2] (layer \"dense_1\" has 3 inputs and 2 units)")
        let (second, _) = try writeSample(folder, name: "second.h5")
        try tamper(second) { file in
            try unlink(file, "optimizer/momentum/dense/bias")
            try writeTensor(file, "optimizer/momentum/dense/bias", shape: [4], values: [1, 2, 3, 4])
        }
        #expect(readError(second) == "model.h5: /optimizer/momentum/dense/bias: shape [4] does not match the architecture, which needs [3] (layer \"dense\" has 3 units)")
    }

    @Test("missing and unexpected tensors, layers, slots and groups, each by name")
    func missingAndUnexpected() throws {
        let folder = try TemporaryFolder()
        var index = 0
        func check(_ change: (HDF5File) throws -> Void, _ expected: String,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
            index += 1
            let (path, _) = try writeSample(folder, name: "case-\(index).h5")
            try tamper(path, change)
            #expect(readError(path, sourceLocation: sourceLocation) == expected, sourceLocation: sourceLocation)
        }
        try check({ try unlink($0, "weights/dense/bias") },
                  "model.h5: /weights/dense/bias: missing (layer \"dense\" has a kernel and a bias)")
        try check({ try writeTensor($0, "weights/dense/extra", shape: [1], values: [1]) },
                  "model.h5: /weights/dense/extra: unexpected dataset (layer \"dense\" has a kernel and a bias)")
        try check({ try writeTensor($0, "weights/ghost/kernel", shape: [1], values: [1]) },
                  "model.h5: /weights/ghost: unexpected group (the architecture has no layer \"ghost\")")
        try check({ try unlink($0, "weights/dense_1") },
                  "model.h5: /weights/dense_1: missing (the architecture has a layer \"dense_1\")")
        try check({ try unlink($0, "optimizer/velocity") },
                  "model.h5: /optimizer/velocity: missing (adam with these settings keeps slots momentum, velocity)")
        try check({ try writeTensor($0, "optimizer/velocity_hat/dense/kernel", shape: [1], values: [1]) },
                  "model.h5: /optimizer/velocity_hat: unexpected group (adam with these settings keeps slots momentum, velocity)")
        try check({ try unlink($0, "optimizer/momentum/dense_1/kernel") },
                  "model.h5: /optimizer/momentum/dense_1/kernel: missing (layer \"dense_1\" has a kernel and a bias)")
        try check({ _ = try $0.createGroup("extras") },
                  "model.h5: /extras: unexpected group (an mlpconv model holds only /weights, /optimizer, /training and /metadata)")
        try check({ try unlink($0, "weights") }, "model.h5: /weights: missing (every mlpconv model has it)")
        try check({ try unlink($0, "optimizer") },
                  "model.h5: /optimizer: missing (the file has /training; a training record needs both)")
        try check({ try unlink($0, "training/history") },
                  "model.h5: /training/history: missing (the history JSON text)")
        try check({ _ = try $0.createDataset("metadata/notes", shape: [1], values: [Float(1)]) },
                  "model.h5: /metadata/notes: unexpected dataset (metadata are attributes)")
        try check({ try $0.openGroup("metadata").setAttribute("count", .int64(3)) },
                  "model.h5: /metadata@count: expected a string, found an integer")
        try check({ file in
            try unlink(file, "weights/dense/bias")
            _ = try file.createGroup("weights/dense/bias")
        }, "model.h5: /weights/dense/bias: expected a dataset, found a group")
        try check({ file in
            try HDF5Library.withHDF5 {
                try #require(H5Lcreate_soft("/weights/dense/kernel", file.id, "weights/dense/alias",
                                            mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
            }
        }, "model.h5: /weights/dense/alias: soft link to '/weights/dense/kernel'; an mlpconv model holds no links")
        // A layer without a bias whose file has one anyway.
        var factory = DocumentFactory(seed: 1)
        let (path, _) = try writeSample(folder, factory.document(names: ["a", "b"], useBias: [false, true]), name: "nobias.h5")
        try tamper(path) { try writeTensor($0, "weights/a/bias", shape: [3], values: [1, 2, 3]) }
        #expect(readError(path) == "model.h5: /weights/a/bias: unexpected dataset (layer \"a\" has only a kernel (use_bias is false))")
    }

    @Test("huge declared shapes are refused before allocation: limit, sparse chunks, unwritten storage")
    func hugeDeclaredShapes() throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 1)
        let (path, _) = try writeSample(folder, factory.document(inputWidth: 2, units: [2], names: ["big"]))
        let huge = "{\"input_width\":1000000,\"layers\":[{\"name\":\"big\",\"units\":1000000,\"activation\":\"linear\",\"use_bias\":false}]}"
        try replaceArchitecture(path, huge)
        let float32 = mlp_H5T_IEEE_F32LE()
        try tamper(path) { file in
            try unlink(file, "weights/big")
            // A chunked, compressed 1e6 × 1e6 float32 dataset (4 TB) with no chunk written: a tiny file.
            try rawDataset(file, "weights/big/kernel", type: float32, shape: [1_000_000, 1_000_000], chunk: [1000, 1000], gzip: true)
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < 20_000)
        #expect(readError(path) == "model.h5: /weights/big/kernel: shape [1000000, 1000000] of float32 decodes to 4000000000000 bytes, over the limit of 8589934592 bytes per tensor")
        let unlimited = LoadLimits(maxFileBytes: .max, maxTensorBytes: .max, maxTotalBytes: .max)
        #expect(readError(path, limits: unlimited) == "model.h5: /weights/big/kernel: declares 4000000000000 bytes of float32 but stores only 0 compressed bytes, more than gzip can expand to: chunks are missing or the sizes are forged")

        try tamper(path) { file in
            try unlink(file, "weights/big/kernel")
            try rawDataset(file, "weights/big/kernel", type: float32, shape: [1_000_000, 1_000_000], chunk: [1000, 1000])
        }
        #expect(readError(path, limits: unlimited) == "model.h5: /weights/big/kernel: declares 4000000000000 bytes of float32 but stores only 0: chunks are missing")

        try tamper(path) { file in
            try unlink(file, "weights/big/kernel")
            try rawDataset(file, "weights/big/kernel", type: float32, shape: [1_000_000, 1_000_000])
        }
        #expect(readError(path, limits: unlimited) == "model.h5: /weights/big/kernel: declares 4000000000000 bytes of float32 but stores no data (never written)")

    }

    @Test("a compression bomb is refused by its decoded size before anything is decompressed")
    func compressionBomb() throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 1)
        var document = factory.document(inputWidth: 2048, units: [2048], names: ["bomb"], useBias: [false])
        document.weights[0].kernel = Tensor(unchecked: [2048, 2048], storage: .float32([Float](repeating: 0, count: 2048 * 2048)))
        let (path, _) = try writeSample(folder, document, compress: true)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < 200_000, "16 MiB of zeros stored in \(size) bytes")
        let limits = LoadLimits(maxFileBytes: 1 << 30, maxTensorBytes: 1 << 20, maxTotalBytes: 1 << 30)
        #expect(readError(path, limits: limits) == "model.h5: /weights/bomb/kernel: shape [2048, 2048] of float32 decodes to 16777216 bytes, over the limit of 1048576 bytes per tensor")
        let total = LoadLimits(maxFileBytes: 1 << 30, maxTensorBytes: 1 << 30, maxTotalBytes: 8 << 20)
        #expect(readError(path, limits: total) == "model.h5: the tensors need more than 8388608 bytes in total (the load limit); /weights/bomb/kernel passes it")
        let small = LoadLimits(maxFileBytes: 1000, maxTensorBytes: 1 << 30, maxTotalBytes: 1 << 30)
        #expect(readError(path, limits: small) == "model.h5: the file is \(size) bytes, over the limit of 1000")
        // Within the limits it loads.
        #expect(try HDF5ModelCodec.read(path: path, file: "model.h5", limits: LoadLimits()) == document)
    }

    @Test("dtypes other than IEEE float32/float64 little-endian are named")
    func unsupportedDtypes() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        let cases: [(hid_t, String)] = [
            (mlp_H5T_STD_I32LE(), "int32"),
            (mlp_H5T_IEEE_F32BE(), "float32 big-endian"),
            (mlp_H5T_STD_U8LE(), "uint8"),
        ]
        for (type, name) in cases {
            try tamper(path) { file in
                try unlink(file, "weights/dense/bias")
                try rawDataset(file, "weights/dense/bias", type: type, shape: [3])
            }
            #expect(readError(path) == "model.h5: /weights/dense/bias: unsupported dtype \(name); tensors must be IEEE float32 or float64, little-endian")
        }
        try tamper(path) { file in
            try unlink(file, "weights/dense/bias")
            _ = try file.createStringDataset("weights/dense/bias", text: "1.5")
        }
        #expect(readError(path) == "model.h5: /weights/dense/bias: unsupported dtype variable-length string; tensors must be IEEE float32 or float64, little-endian")
        // float16 (a non-IEEE-32/64 float class) too.
        try tamper(path) { file in
            try unlink(file, "weights/dense/bias")
            try HDF5Library.withHDF5 {
                let half = float16Type()
                defer { H5Tclose(half) }
                try rawDataset(file, "weights/dense/bias", type: half, shape: [3])
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/bias: unsupported dtype float16 (non-IEEE layout); tensors must be IEEE float32 or float64, little-endian")
    }

    @Test("external links, external raw storage, virtual datasets and unknown filters are refused by name")
    func refusedStorage() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        let (source, _) = try writeSample(folder, name: "source.h5")
        try tamper(path) { file in
            try unlink(file, "weights/dense/kernel")
            try HDF5Library.withHDF5 {
                try #require(H5Lcreate_external(source, "/weights/dense/kernel", file.id, "weights/dense/kernel",
                                                mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/kernel: external link to '/weights/dense/kernel' in file '\(source)'; external links are refused")

        try tamper(path) { file in
            try unlink(file, "weights/dense/kernel")
            try rawDataset(file, "weights/dense/kernel", type: mlp_H5T_IEEE_F32LE(), shape: [4, 3]) { dcpl in
                H5Pset_external(dcpl, folder.path("raw.bin"), 0, 48)
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/kernel: stores its data in 1 external file(s); external raw storage is refused")

        try tamper(path) { file in
            try unlink(file, "weights/dense/kernel")
            try HDF5Library.withHDF5 {
                var dims: [hsize_t] = [4, 3]
                let space = H5Screate_simple(2, &dims, nil)
                defer { H5Sclose(space) }
                try rawDataset(file, "weights/dense/kernel", type: mlp_H5T_IEEE_F32LE(), shape: dims) { dcpl in
                    H5Pset_virtual(dcpl, space, source, "/weights/dense/kernel", space)
                }
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/kernel: cannot describe dataset: virtual dataset (its data and even its shape come from other files) is refused")

        // An optional filter HDF5 does not know is recorded in the pipeline; reading would search for a plugin.
        try tamper(path) { file in
            try unlink(file, "weights/dense/kernel")
            var values = [Float](repeating: 1, count: 12)
            try rawDataset(file, "weights/dense/kernel", type: mlp_H5T_IEEE_F32LE(), shape: [4, 3], chunk: [4, 3],
                           data: &values) { dcpl in
                H5Pset_filter(dcpl, 32_000, UInt32(H5Z_FLAG_OPTIONAL), 0, nil)
            }
        }
        let message = readError(path) ?? ""
        #expect(message.hasPrefix("model.h5: /weights/dense/kernel: uses the HDF5 filter 32000 "), "\(message)")
        #expect(message.hasSuffix("only fletcher32, gzip, shuffle are accepted"), "\(message)")
    }

    @Test("a superblock marked open for write (writer killed) is reported as likely incomplete")
    func openForWrite() throws {
        let folder = try TemporaryFolder()
        let live = folder.path("live.h5"), copy = folder.path("copy.h5")
        // HDF5 1.10 sets the mark in superblock v3 files (libver 1.10, h5py's libver="latest") while they are open for writing; a copy
        // taken while the writer still holds the file is what a crash leaves behind.
        try HDF5Library.withHDF5 {
            let fapl = H5Pcreate(mlp_H5P_FILE_ACCESS())
            defer { H5Pclose(fapl) }
            try #require(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0)
            let id = H5Fcreate(live, mlp_H5F_ACC_TRUNC(), mlp_H5P_DEFAULT(), fapl)
            try #require(id >= 0)
            defer { H5Fclose(id) }
            try #require(H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0)
            try FileManager.default.copyItem(atPath: live, toPath: copy)
        }
        #expect(try fileBytes(copy)[11] == 1, "file consistency flags")
        #expect(readError(copy) == "model.h5: the file was not closed cleanly (its superblock is marked open for write): it is likely incomplete; if you trust it, `h5clear -s` clears the mark")
    }

    @Test("writing refuses documents that do not hold together, naming the object")
    func writeRefusesInvalidDocuments() throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 1)
        var document = factory.document()
        document.weights[1].kernel = Tensor(unchecked: [3, 5], storage: .float32([Float](repeating: 0, count: 15)))
        let error = expectError(ModelFileError.self) {
            try HDF5ModelCodec.write(document, toPath: folder.path("x.h5"), file: "x.h5", options: SaveOptions())
        }
        #expect(error?.description == "x.h5: weights/dense_1/kernel: expected shape [3, 2], got [3, 5]")
        #expect(!FileManager.default.fileExists(atPath: folder.path("x.h5")))

        var metadata = factory.document(metadata: ["": "empty key"])
        let keyError = expectError(ModelFileError.self) {
            try HDF5ModelCodec.write(metadata, toPath: folder.path("y.h5"), file: "y.h5", options: SaveOptions())
        }
        #expect(keyError?.description == "y.h5: /metadata: metadata key \"\" cannot be an HDF5 attribute name (empty or contains NUL)")
        metadata.metadata = ["note": "a\u{0}b"]
        let valueError = expectError(ModelFileError.self) {
            try HDF5ModelCodec.write(metadata, toPath: folder.path("z.h5"), file: "z.h5", options: SaveOptions())
        }
        #expect(valueError?.description == "z.h5: /metadata: cannot write attribute 'note': string contains a NUL byte")
    }
}
