import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing

// End-to-end: `convert --to safetensors`, `inspect` of a safetensors file, `predict --activations` on a file written
// by torch.

struct SafetensorsCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/safetensors")

    @Test func convertToSafetensorsAndInspect() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let output = scratch.path("model.safetensors")
        let converted = try mlpconv(["convert", h5, output, "--to", "safetensors"])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch.path("model.optimizer.safetensors")))
        let loaded = try ModelFiles.load(output)
        #expect(loaded.weights == document.weights)
        #expect(loaded.training == document.training)

        // The extension alone picks the format too.
        let byExtension = scratch.path("again.safetensors")
        #expect(try mlpconv(["convert", output, byExtension]).status == 0)
        #expect(try ModelFiles.detectKind(at: byExtension) == .safetensors)

        let inspected = try mlpconv(["inspect", output])
        #expect(inspected.status == 0, "\(inspected.stderr)")
        #expect(inspected.stdout.hasPrefix("\(output): safetensors, "))
        #expect(inspected.stdout.contains("\ntorch: Sequential(Linear(4, 6), ReLU(), Linear(6, 3), Softmax(dim=-1))\n"))
        let json = try jsonObject(try mlpconv(["inspect", output, "--json"]).stdout)
        #expect(json["format"] as? String == "safetensors")
        #expect((json["torch"] as? [String: Any])?["sequential"] as? String == "Sequential(Linear(4, 6), ReLU(), Linear(6, 3), Softmax(dim=-1))")
    }

    @Test func inspectNamesWhatTorchCannotExpress() throws {
        let scratch = try Scratch()
        let path = try smallModelFile(scratch, name: "exp.json", hidden: .exponential, output: .softmax, loss: .categoricalCrossentropy)
        let inspected = try mlpconv(["inspect", path])
        #expect(inspected.stdout.contains("\ntorch: not expressible (architecture.layers[0] (\"hidden\"): the activation exponential has no torch.nn module)\n"))
        let json = try jsonObject(try mlpconv(["inspect", path, "--json"]).stdout)
        #expect((json["torch"] as? [String: Any])?["not_expressible"] as? String
            == "architecture.layers[0] (\"hidden\"): the activation exponential has no torch.nn module")
        let refused = try mlpconv(["convert", path, scratch.path("exp.safetensors")])
        #expect(refused.status == 2)
        #expect(refused.stderr == "mlpconv: \(scratch.path("exp.safetensors")): architecture.layers[0] (\"hidden\"): cannot be written as a torch model: the activation exponential has no torch.nn module\n")
    }

    /// A state dict written by torch: predict needs `--activations`, and then predicts what torch predicted.
    @Test func predictATorchStateDict() throws {
        let scratch = try Scratch()
        let model = Self.fixtures.appendingPathComponent("relu_softmax.safetensors").path
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json"))) as? [String: Any]
        let entry = try #require((expected?["models"] as? [[String: Any]])?.first { $0["file"] as? String == "relu_softmax.safetensors" })
        let inputs = try #require(entry["inputs"] as? [[Double]]), outputs = try #require(entry["outputs"] as? [[Double]])
        let data = scratch.path("x.csv")
        try ("f0,f1,f2,f3\n" + inputs.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n") + "\n")
            .write(toFile: data, atomically: false, encoding: .utf8)

        let missing = try mlpconv(["predict", model, "--data", data])
        #expect(missing.status == 2)
        #expect(missing.stderr == "mlpconv: \(model): state dict: the file has no mlpconv metadata, so its activations are unknown; "
            + "pass the model's definition with --sequential \"Sequential(…)\" (as print(model) shows it or the code builds it), "
            + "or one activation per Linear layer (3 here) with --activations, e.g. --activations relu,relu,linear\n")

        let predicted = try mlpconv(["predict", model, "--data", data, "--activations", "ReLU,relu,Softmax(dim=-1)", "--json"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let rows = try #require(try jsonObject(predicted.stdout)["predictions"] as? [[Double]])
        let worst = zip(rows.flatMap { $0 }, outputs.flatMap { $0 }).map { abs($0 - $1) }.max() ?? .infinity
        #expect(rows.count == 5 && worst <= 1e-6, "largest difference \(worst)")

        let unknown = try mlpconv(["inspect", model, "--activations", "relu,bogus,softmax"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("--activations: activation \"bogus\": unknown activation; supported: linear, relu"))

        let inspected = try mlpconv(["inspect", model, "--activations", "relu,relu,softmax"])
        #expect(inspected.status == 0)
        #expect(inspected.stdout.contains("source_format"))
    }
}
