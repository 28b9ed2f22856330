import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import mlpconv
@testable import MLPModelFiles

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

struct ConvertTests {
    @Test func convertsLosslesslyBothWays() throws {
        let scratch = try Scratch()
        let (h5, original) = try sampleModelFile(scratch)
        let json = scratch.path("model.json")
        let result = try mlpconv(["convert", h5, json])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "wrote \(json) (json, \(try formattedSize(json)), 51 parameters, with optimizer and training state) from \(h5) (hdf5)\n")
        var converted = try ModelFiles.load(json)
        #expect(converted.metadata.removeValue(forKey: "converted_from") == "model.h5 (hdf5)")
        #expect(converted == original)

        let back = scratch.path("back.hdf5")
        #expect(try mlpconv(["convert", json, back, "--json"]).stdout.contains(#""format": "h5""#))
        var twice = try ModelFiles.load(back)
        #expect(twice.metadata.removeValue(forKey: "converted_from") == "model.json (json)")
        #expect(twice == original)
    }

    @Test func refusesToOverwriteWithoutForce() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let json = scratch.path("out.json")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: json))
        let refused = try mlpconv(["convert", h5, json])
        #expect(refused.status == 2)
        #expect(refused.stderr == "mlpconv: \(json): already exists; use --force to replace it\n")
        #expect(try String(contentsOfFile: json, encoding: .utf8) == "keep me")
        #expect(try mlpconv(["convert", h5, json, "--force"]).status == 0)
        #expect(try ModelFiles.detectKind(at: json) == .json)
    }

    @Test func flagsChangeWhatIsWritten() throws {
        let scratch = try Scratch()
        let (h5, original) = try sampleModelFile(scratch)
        let wide = scratch.path("wide.json")
        #expect(try mlpconv(["convert", h5, wide, "--dtype", "float64", "--json-tensors", "array", "--drop-optimizer"]).status == 0)
        let document = try ModelFiles.load(wide)
        #expect(document.training == nil)
        #expect(document.weights.allSatisfy { $0.kernel.dtype == .float64 && $0.bias?.dtype == .float64 })
        #expect(document.weights.map { $0.kernel.float32Values } == original.weights.map { $0.kernel.float32Values })
        let text = try String(contentsOfFile: wide, encoding: .utf8)
        #expect(text.contains(#""dtype": "float64""#))

        let compressed = scratch.path("small.bin")
        #expect(try mlpconv(["convert", h5, compressed, "--to", "h5", "--compress"]).status == 0)
        var reloaded = try ModelFiles.load(compressed)
        reloaded.metadata["converted_from"] = nil
        #expect(reloaded == original)
    }

    @Test func badInputsExitWithCodeTwoAndOneLine() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let unknownExtension = try mlpconv(["convert", h5, scratch.path("out.bin")])
        #expect(unknownExtension.status == 2)
        #expect(unknownExtension.stderr == "mlpconv: \(scratch.path("out.bin")): cannot tell the output format from the extension; use --to json, h5, keras or keras-h5\n")
        let missing = try mlpconv(["convert", scratch.path("nope.h5"), scratch.path("out.json")])
        #expect(missing.status == 2)
        #expect(missing.stderr == "mlpconv: \(scratch.path("nope.h5")): no such file\n")
        let notAModel = scratch.path("notes.txt")
        try Data("just text".utf8).write(to: URL(fileURLWithPath: notAModel))
        let wrongFormat = try mlpconv(["convert", notAModel, scratch.path("out.json")])
        #expect(wrongFormat.status == 2)
        #expect(wrongFormat.stderr.hasPrefix("mlpconv: \(notAModel): not a model file"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out.json")))
        let badFlag = try mlpconv(["convert", h5, scratch.path("o.json"), "--dtype", "float16"])
        #expect(badFlag.status == 2)
        #expect(badFlag.stderr.split(separator: "\n").count == 1)
    }
}

struct InspectTests {
    @Test func showsArchitectureTrainingStateAndMetadata() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let result = try mlpconv(["inspect", h5])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "\(h5): mlpconv HDF5, format version 1, \(try formattedSize(h5))")
        #expect(lines.contains("hidden  4 → 6  relu        yes           30  float32"))
        #expect(lines.contains("output  6 → 3  softmax     yes           21  float32"))
        #expect(lines.contains("input width 4, 2 layers, 51 parameters (204 B)"))
        #expect(lines.contains("  loss        categorical_crossentropy"))
        #expect(lines.contains("  optimizer   adam (learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=false)"))
        #expect(lines.contains("  state       step 12, slots: momentum, velocity"))
        #expect(lines.contains("  epochs      3"))
        #expect(lines.contains { $0.hasPrefix("  loss        ") && $0.count > 20 && $0.contains("→") })
        #expect(lines.contains("  description  sample"))
    }

    @Test func jsonOutputHasStableKeys() throws {
        let scratch = try Scratch()
        let (json, document) = try sampleModelFile(scratch, name: "model.json", format: .json)
        let result = try mlpconv(["inspect", json, "--json", "--stats"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["file", "format", "format_version", "bytes", "input_width", "parameters", "layers",
                                     "metadata", "training", "stats"])
        #expect(object["parameters"] as? Int == 51)
        let training = try #require(object["training"] as? [String: Any])
        #expect((training["optimizer"] as? [String: Any])?["iterations"] as? Int == 12)
        let stats = try #require(object["stats"] as? [[String: Any]])
        // Four parameters and two Adam slots for each.
        #expect(stats.count == 12)
        let kernel = try #require(stats.first)
        #expect(kernel["tensor"] as? String == "hidden/kernel")
        let values = document.weights[0].kernel.float32Values.map(Double.init)
        // Compared as float32: the values are float32 and Foundation's JSON reader may be an ulp off in double.
        #expect((kernel["min"] as? Double).map(Float.init) == values.min().map(Float.init))
        #expect((kernel["max"] as? Double).map(Float.init) == values.max().map(Float.init))
    }

    @Test func corruptFilesNameTheObject() throws {
        let scratch = try Scratch()
        let (json, _) = try sampleModelFile(scratch, name: "model.json", format: .json)
        var text = try String(contentsOfFile: json, encoding: .utf8)
        text = text.replacingOccurrences(of: #""units": 6"#, with: #""units": -3"#)
        try text.write(toFile: json, atomically: false, encoding: .utf8)
        let result = try mlpconv(["inspect", json])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("mlpconv: \(json): $.architecture.layers[0].units: "))
        #expect(result.stderr.contains("-3"))
    }

    @Test func versionAndHelp() throws {
        #expect(try mlpconv(["--version"]).stdout == MLPConvVersion.string + "\n")
        let help = try mlpconv(["inspect", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: mlpconv inspect <file> [--stats] [--json]"))
        let convertHelp = try mlpconv(["convert", "--help"])
        #expect(convertHelp.stdout.contains("--json-tensors <json-tensors>"))
        #expect(convertHelp.stdout.contains("--drop-optimizer"))
    }
}

func formattedSize(_ path: String) throws -> String {
    let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(bytes), unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
