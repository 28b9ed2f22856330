import TestSupport
import Foundation
import Testing
import MLPDocument
@testable import MLPModelFiles

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
        #expect(unknownExtension.stderr == "mlpconv: \(scratch.path("out.bin")): cannot tell the output format from the extension; use --to json, h5, keras, keras-h5, safetensors or pt\n")
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
