import TestSupport
import Foundation
import Testing
@testable import mlpconv
import MLPDocument
import MLPModelFiles

struct InspectTests {
    @Test func showsArchitectureTrainingStateAndMetadata() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let result = try mlpconv(["inspect", h5])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "\(h5): mlpconv HDF5, format version 1, \(try formattedSize(h5))")
        #expect(lines.contains("hidden  dense  4 → 6  relu        yes           30  float32"))
        #expect(lines.contains("output  dense  6 → 3  softmax     yes           21  float32"))
        #expect(lines.contains("input width 4, 2 layers, 51 parameters (204 B)"))
        #expect(lines.contains("  loss        categorical_crossentropy"))
        #expect(lines.contains("  optimizer   adam (learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=false)"))
        #expect(lines.contains("  state       step 12, slots: momentum, velocity"))
        #expect(lines.contains("  epochs      3"))
        #expect(lines.contains { $0.hasPrefix("  loss        ") && $0.count > 20 && $0.contains("→") })
        #expect(lines.contains("  description  sample"))
    }

    /// The first line names where a Keras model came from (its version, container and backend).
    @Test func namesTheKerasSourceOfAKerasFile() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/keras-reader")
        for (name, source) in [("adam.h5", "Keras 3.15.1 legacy HDF5 (backend jax)"),
                               ("adam.keras", "Keras 3.15.1 .keras archive")] {
            let path = fixtures.appendingPathComponent(name).path
            let result = try mlpconv(["inspect", path])
            #expect(result.status == 0)
            #expect(result.stdout.hasPrefix("\(path): \(source), "), "\(result.stdout.prefix(120))")
        }
    }

    @Test func jsonOutputHasStableKeys() throws {
        let scratch = try Scratch()
        let (json, document) = try sampleModelFile(scratch, name: "model.json", format: .json)
        let result = try mlpconv(["inspect", json, "--json", "--stats"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["file", "format", "format_version", "bytes", "input_width", "input_shape", "parameters",
                                     "trainable_parameters", "layers", "metadata", "training", "stats", "torch"])
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
