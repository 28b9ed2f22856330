import CCRC32C
import CHDF5
import Foundation
import FormatSupport
import MLPCore
import Testing
import HDF5Support
import MLPDocument
@testable import HDF5Format
import TestSupport

// What the HDF5 model codec suites share: sample documents, and files written, tampered with and read back.

// MARK: - Building documents

/// Draws test documents: random weights with special values mixed in, every optimizer's slots, history with
/// non-finite metrics, unicode names and metadata.
struct DocumentFactory {
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
let optimizerConfigs: [OptimizerConfig] = {
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

let sampleHistory = [
    EpochRecord(epoch: 1, metrics: ["loss": 0.6931471805599453, "accuracy": 0.5, "val_loss": .nan]),
    EpochRecord(epoch: 2, metrics: ["loss": .infinity, "accuracy": -0.0, "val_loss": -.infinity]),
]

// MARK: - Files

/// A valid model file to tamper with, and the document it holds.
func writeSample(_ folder: TemporaryFolder, _ document: ModelDocument? = nil,
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
func readError(_ path: String, limits: LoadLimits = LoadLimits(),
               sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    expectError(ModelFileError.self, sourceLocation: sourceLocation) {
        _ = try HDF5ModelCodec.read(path: path, file: "model.h5", limits: limits)
    }?.description
}

/// Opens a written file for amending, under the HDF5 lock where raw C calls are needed.
func tamper(_ path: String, _ body: (HDF5File) throws -> Void) throws {
    let file = try HDF5File.openReadWrite(at: path)
    try body(file)
}

/// Removes a link with a raw call (the wrapper never deletes anything).
func deleteLink(_ file: HDF5File, _ path: String) throws {
    try HDF5Library.withHDF5 { try #require(H5Ldelete(file.id, path, mlp_H5P_DEFAULT()) >= 0, "delete \(path)") }
}

/// Writes a float32 dataset with a correct CRC-32C, as our writer would.
func writeTensor(_ file: HDF5File, _ path: String, shape: [Int], values: [Float]) throws {
    let dataset = try file.createDataset(path, shape: shape, values: values)
    try dataset.setAttribute("crc32c", .uint32(values.withUnsafeBytes { CRC32C.checksum($0) }))
}

/// Replaces the architecture text and its checksum together, so that only the content is wrong.
func replaceArchitecture(_ path: String, _ text: String) throws {
    try tamper(path) { file in
        try file.setAttribute("architecture", .string(text))
        try file.setAttribute("architecture_crc32c", .uint32(CRC32C.checksum(text)))
    }
}

/// Creates a dataset with raw calls: any type, layout and declared shape (the wrapper only writes honest ones).
func rawDataset(_ file: HDF5File, _ path: String, type: hid_t, shape: [hsize_t], chunk: [hsize_t]? = nil,
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

func fileBytes(_ path: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) }
func writeBytes(_ path: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// Replaces the single occurrence of `old` in the file with `new` (same length), e.g. inside a heap string.
func patchBytes(_ path: String, _ old: String, _ new: String) throws {
    var bytes = try fileBytes(path)
    let needle = Array(old.utf8), replacement = Array(new.utf8)
    try #require(needle.count == replacement.count)
    let hits = (0...(bytes.count - needle.count)).filter { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    try #require(hits.count == 1, "\(old) occurs \(hits.count) times")
    bytes.replaceSubrange(hits[0]..<(hits[0] + needle.count), with: replacement)
    try writeBytes(path, bytes)
}
