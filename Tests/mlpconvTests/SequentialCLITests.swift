import Foundation
import Testing

// End-to-end: `predict --sequential` on a BatchNorm state dict torch wrote (fixtures/torch/state_dict_batchnorm.pth),
// which `--activations` cannot describe (its ReLU follows the BatchNorm1d).

struct SequentialCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/torch")

    @Test func predictATorchBatchNormStateDict() throws {
        let scratch = try Scratch()
        let model = Self.fixtures.appendingPathComponent("state_dict_batchnorm.pth").path
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json"))) as? [String: Any]
        let entry = try #require((expected?["models"] as? [[String: Any]])?.first { $0["file"] as? String == "state_dict_batchnorm.pth" })
        let sequential = try #require(entry["sequential"] as? String)
        #expect(sequential == "Sequential(Linear(4, 6), BatchNorm1d(6), ReLU(), Linear(6, 2))")
        let inputs = try #require(entry["inputs"] as? [[Double]]), outputs = try #require(entry["predictions"] as? [[Double]])
        let data = scratch.path("x.csv")
        try ("f0,f1,f2,f3\n" + inputs.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n") + "\n")
            .write(toFile: data, atomically: false, encoding: .utf8)

        let predicted = try mlpconv(["predict", model, "--data", data, "--sequential", sequential, "--json"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let rows = try #require(try jsonObject(predicted.stdout)["predictions"] as? [[Double]])
        let worst = zip(rows.flatMap { $0 }, outputs.flatMap { $0 }).map { abs($0 - $1) }.max() ?? .infinity
        #expect(rows.count == 5 && worst <= 1e-6, "largest difference \(worst)")

        // What print(model) shows works as well.
        let printed = "Sequential(\n  (0): Linear(in_features=4, out_features=6, bias=True)\n"
            + "  (1): BatchNorm1d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n  (2): ReLU()\n"
            + "  (3): Linear(in_features=6, out_features=2, bias=True)\n)"
        let byPrinted = try mlpconv(["predict", model, "--data", data, "--sequential", printed, "--json"])
        #expect(byPrinted.stdout == predicted.stdout, "\(byPrinted.stderr)")

        let both = try mlpconv(["predict", model, "--data", data, "--sequential", sequential, "--activations", "relu,linear"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("give --activations or --sequential, not both"), "\(both.stderr)")

        let conv = try mlpconv(["inspect", model, "--sequential", "Sequential(Conv1d(1, 4, 3), Linear(4, 2))"])
        #expect(conv.status == 2)
        #expect(conv.stderr == "mlpconv: \(model): --sequential: Conv1d at column 12: mlpconv's models are multilayer "
            + "perceptrons, without convolutions or pooling\n")

        let wrong = try mlpconv(["inspect", model, "--sequential", "Sequential(Linear(4, 6), ReLU(), Linear(6, 2))"])
        #expect(wrong.status == 2)
        // Without the BatchNorm1d, its Linear is module 2, where the file has the BatchNorm1d's tensors.
        #expect(wrong.stderr == "mlpconv: \(model): data.pkl[\"2.weight\"]: missing (layer \"dense_1\" is Linear(6, 2))\n")
    }
}
