import Foundation
import MLPDocument
import MLPModelFiles
import Testing

// End-to-end: `inspect`, `predict`, `convert` and `diff` on ONNX files written by torch.onnx.export (dynamo), and the
// refusals' exit status and message.

struct ONNXImportCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/onnx")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// The fixture's rows and onnxruntime's outputs on them, from expected.json.
    static func expected(_ file: String) throws -> (x: [[Double]], outputs: [[Double]]) {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("expected.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try #require(root["models"] as? [[String: Any]])
        let model = try #require(models.first { $0["file"] as? String == file })
        return (try #require(model["x"] as? [[Double]]), try #require(model["onnxruntime_outputs"] as? [[Double]]))
    }

    @Test func inspectShowsTheLayersOfATorchExport() throws {
        let path = Self.fixture("dynamo18_gelu_silu_mish.onnx")
        let result = try mlpconv(["inspect", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("\(path): ONNX, "))
        #expect(result.stdout.contains("dense    dense  4 → 6  gelu"))
        #expect(result.stdout.contains("dense_1  dense  6 → 5  silu"))
        #expect(result.stdout.contains("dense_2  dense  5 → 3  mish"))
        #expect(result.stdout.contains("onnx_producer  pytorch 2.15.0"))
    }

    @Test func predictMatchesOnnxruntime() throws {
        let file = "dynamo18_softplus_softsign_log_softmax.onnx"
        let (x, outputs) = try Self.expected(file)
        let scratch = try Scratch()
        let csv = scratch.path("x.csv")
        try x.map { $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let result = try mlpconv(["predict", Self.fixture(file), "--data", csv])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",").compactMap { Double($0) } }
        #expect(rows.count == outputs.count)
        let worst = zip(rows.joined(), outputs.joined()).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-6, "largest difference from onnxruntime \(worst)")
    }

    @Test func convertedToH5TheDiffIsEqual() throws {
        let scratch = try Scratch()
        let onnx = Self.fixture("ts17_relu_tanh_sigmoid.onnx")
        let h5 = scratch.path("model.h5")
        let converted = try mlpconv(["convert", onnx, h5])
        #expect(converted.status == 0, "\(converted.stderr)")
        let diff = try mlpconv(["diff", onnx, h5])
        #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")
        #expect(diff.stdout.contains("equal: architecture, weights"))
    }

    @Test func refusalsExitWithStatus2NamingTheNode() throws {
        let path = Self.fixture("dynamo18_leaky_relu_0.01.onnx")
        let result = try mlpconv(["inspect", path])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("mlpconv: \(path): graph node 1 "))
        #expect(result.stderr.hasSuffix("(LeakyRelu): alpha 0.01: the core's leaky_relu has slope 0.2 (Keras's); other slopes have no activation\n"))

        let bad = Self.fixture("bad/huge_dims.onnx")
        let refused = try mlpconv(["predict", bad, "--data", "unused.csv"])
        #expect(refused.status == 2)
        #expect(refused.stderr == "mlpconv: \(bad): initializer weight: raw_data holds 24 bytes, dims [1000000, 1000] of float32 need 4000000000\n")
    }
}
