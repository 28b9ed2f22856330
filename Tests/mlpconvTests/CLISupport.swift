import Foundation
import FileSupport
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

/// The `mlpconv` binary built next to the test bundle.
let mlpconvPath: String = {
    let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    return folder.appendingPathComponent("mlpconv").path
}()

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `mlpconv` with `arguments` and waits for it.
@discardableResult
func mlpconv(_ arguments: [String], in folder: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: mlpconvPath)
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting, so a full pipe cannot deadlock the child.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// A fresh folder under the system temporary directory, removed when the value goes away.
final class Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("mlpconv-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

// MARK: Fixtures: model and data files the command tests run on

/// The bundled digits dataset.
let digitsCSV = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/data/digits.csv").path

/// A small trained model with Adam state, saved in `format`.
func sampleModelFile(_ scratch: Scratch, name: String = "model.h5", format: ModelFormat = .h5) throws -> (path: String, document: ModelDocument) {
    var model = try Model<Float>(
        inputWidth: 4, layers: [LayerSpec(6, .relu, name: "hidden"), LayerSpec(3, .softmax, name: "output")],
        loss: .categoricalCrossentropy, optimizer: OptimizerConfig(.adam, learningRate: 0.01), seed: 3)
    var random = RandomGenerator(seed: 4)
    var features: [Float] = [], targets: [Float] = []
    for _ in 0..<32 {
        let label = random.nextInt(below: 3)
        features += (0..<4).map { _ in Float(random.nextStandardNormal()) + (label == 0 ? 1 : 0) }
        targets += (0..<3).map { $0 == label ? 1 : 0 }
    }
    try model.fit(try Dataset(features: features, featureWidth: 4, targets: targets, targetWidth: 3),
                  options: FitOptions(epochs: 3, batchSize: 8))
    let document = ModelDocument(model: model, metadata: ["description": "sample"])
    let path = scratch.path(name)
    try ModelFiles.save(document, to: path, format: format)
    return (path, document)
}

/// `rows` rows for `sampleModelFile`'s model: four features, then a class label in 0..<3, with a header.
func sampleDataFile(_ scratch: Scratch, name: String = "data.csv", rows: Int = 20, seed: UInt64 = 9) throws -> String {
    var random = RandomGenerator(seed: seed)
    var text = "f0,f1,f2,f3,label\n"
    for _ in 0..<rows {
        let label = random.nextInt(below: 3)
        let features = (0..<4).map { _ in Float(random.nextStandardNormal()) + (label == 0 ? 1 : 0) }
        text += features.map { "\($0)" }.joined(separator: ",") + ",\(label)\n"
    }
    let path = scratch.path(name)
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    return path
}

/// A freshly initialized model with a hidden layer of `hidden` and an output of `output`, trained with `loss`.
func smallModelFile(_ scratch: Scratch, name: String, inputs: Int = 3, hidden: Activation, units: Int = 5,
                    output: Activation, outputs: Int = 3, loss: Loss, format: ModelFormat = .json) throws -> String {
    let model = try Model<Float>(
        inputWidth: inputs, layers: [LayerSpec(units, hidden, name: "hidden"), LayerSpec(outputs, output, name: "output")],
        loss: loss, optimizer: OptimizerConfig(.sgd), seed: 11)
    let path = scratch.path(name)
    try ModelFiles.save(ModelDocument(model: model), to: path, format: format)
    return path
}

/// A relu model whose second hidden unit has a zero kernel column and a zero bias: its pre-activation is exactly 0
/// for every input, where relu has a kink. Backprop takes relu′(0) = 0; a central difference sees slope ½.
func kinkModelFile(_ scratch: Scratch, name: String = "kink.h5") throws -> String {
    let hidden = try Layer<Float>.dense(
        name: "hidden", inputWidth: 2, units: 3, activation: .relu,
        kernel: [0.5, 0, -0.7,
                 0.3, 0, 0.9],
        bias: [0.1, 0, 0.2])
    let output = try Layer<Float>.dense(name: "output", inputWidth: 3, units: 2, activation: .softmax,
                                  kernel: [0.4, -0.2, 0.8, -0.6, 0.1, 0.3], bias: [0, 0.05])
    let network = try Network(inputWidth: 2, layers: [hidden, output])
    let model = try Model(network: network, training: TrainingState(
        loss: .categoricalCrossentropy, optimizer: try Optimizer(config: OptimizerConfig(.sgd), network: network),
        random: RandomGenerator(seed: 1).state))
    let path = scratch.path(name)
    try ModelFiles.save(ModelDocument(model: model), to: path, format: .h5)
    return path
}

// MARK: Reading what the commands print

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

/// The literal text of a top-level number in `--json` output, parsed by Swift (Foundation's reader may be an ulp off).
func jsonNumber(_ key: String, in text: String) throws -> Double {
    let range = try #require(text.range(of: "\"\(key)\": ([-+0-9.eE]+|\"NaN\")", options: .regularExpression))
    let literal = text[range].split(separator: " ").last.map(String.init) ?? ""
    return try #require(Double(literal))
}

func lines(_ text: String) -> [String] {
    text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

/// The file's size as the CLI prints it (`formatBytes`).
func formattedSize(_ path: String) throws -> String {
    formatBytes((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0)
}
