import Foundation
import Testing
import MLPDocument
@testable import MLPModelFiles

// `evaluate` and `finetune` on models compiled with metrics (fixtures/keras-metrics, written by Keras 3.15.1 with
// generate_keras_metrics.py): Keras's history keys and values, and the metrics mlpconv does not compute, named.

private let metricsFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/keras-metrics")

/// A model of expected.json: its training data, Keras's evaluate results and its history one epoch on.
private struct MetricsFixture {
    let features: [Double], featureWidth: Int
    let targets: [Double], targetWidth: Int
    let evaluate: [String: Double]
    let history: [String: Double]
    let validationSplit: Double

    init(_ name: String) throws {
        let data = try Data(contentsOf: metricsFixtures.appendingPathComponent("expected.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try #require(root["models"] as? [[String: Any]])
        let model = try #require(models.first { $0["name"] as? String == name })
        let train = try #require(model["train"] as? [String: Any])
        features = try #require(train["x"] as? [Double])
        featureWidth = try #require((train["x_shape"] as? [Int])?.last)
        targets = try #require((train["y"] as? [NSNumber])?.map(\.doubleValue))
        let yShape = try #require(train["y_shape"] as? [Int])
        targetWidth = yShape.count == 1 ? 1 : yShape[1]
        evaluate = try #require((model["evaluate"] as? [String: Any])?["results"] as? [String: Double])
        let continuation = try #require(model["continuation"] as? [String: Any])
        history = try #require(continuation["history"] as? [String: [Double]]).compactMapValues(\.first)
        validationSplit = try #require(continuation["validation_split"] as? Double)
    }

    /// The data as CSV: features, then the targets (or the label), no header.
    func csv(_ scratch: Scratch) throws -> String {
        let rows = features.count / featureWidth
        let text = (0..<rows).map { row in
            (features[row * featureWidth..<(row + 1) * featureWidth] + targets[row * targetWidth..<(row + 1) * targetWidth])
                .map { "\($0)" }.joined(separator: ",")
        }.joined(separator: "\n") + "\n"
        let path = scratch.path("data.csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

private func close(_ actual: Double?, _ expected: Double) -> Bool {
    guard let actual else { return false }
    return abs(actual - expected) <= 1e-6 * abs(expected) + 1e-7
}

struct MetricsCommandTests {
    @Test func evaluateReportsTheCompiledMetrics() throws {
        let scratch = try Scratch()
        let fixture = try MetricsFixture("binary")
        let data = try fixture.csv(scratch)
        let model = metricsFixtures.appendingPathComponent("binary.keras").path
        let json = try mlpconv(["evaluate", model, "--data", data, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try jsonObject(json.stdout)
        let metrics = try #require(object["metrics"] as? [String: Double])
        let skipped = (object["metrics_not_computed"] as? [[String: String]] ?? []).compactMap { $0["name"] }
        #expect(skipped == ["precision", "recall"])
        #expect(Set(metrics.keys).union(skipped) == Set(fixture.evaluate.keys))
        for (key, value) in metrics {
            #expect(close(value, try #require(fixture.evaluate[key])), "\(key): \(value) vs Keras's \(fixture.evaluate[key] ?? .nan)")
        }
        // Keras's `accuracy` for two sigmoid outputs is categorical accuracy (its shape rule), not binary.
        #expect(metrics["accuracy"] == fixture.evaluate["accuracy"] && metrics["accuracy"] != metrics["binary_accuracy"])

        let text = try mlpconv(["evaluate", model, "--data", data])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("acc_03 "), "\(text.stdout)")
        #expect(text.stdout.hasSuffix("\nnot computed by mlpconv: precision, recall\n"), "\(text.stdout)")
    }

    @Test func finetuneRecordsKerasHistoryKeys() throws {
        let scratch = try Scratch()
        let fixture = try MetricsFixture("regression")
        let data = try fixture.csv(scratch)
        let output = scratch.path("out.keras")
        let result = try mlpconv(["finetune", metricsFixtures.appendingPathComponent("regression.keras").path,
                                  "--data", data, "--output", output, "--epochs", "1", "--batch-size", "8", "--no-shuffle",
                                  "--validation-split", "\(fixture.validationSplit)", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("r2_score"), "\(result.stderr)")
        let object = try jsonObject(result.stdout)
        let last = try #require(object["last_epoch"] as? [String: Double])
        #expect(Set(last.keys) == Set(fixture.history.keys).subtracting(["r2_score", "val_r2_score"]))
        for (key, value) in last {
            #expect(close(value, try #require(fixture.history[key])), "\(key): \(value) vs Keras's \(fixture.history[key] ?? .nan)")
        }
        #expect((object["metrics_not_computed"] as? [[String: String]])?.map { $0["name"] } == ["r2_score"])
        // The written file compiles the same metrics.
        let original = try ModelFiles.load(metricsFixtures.appendingPathComponent("regression.keras").path)
        #expect(try ModelFiles.load(output).metadata["keras_metrics"] == original.metadata["keras_metrics"])
    }

    /// Files that name no metrics keep the accuracy mlpconv always reported.
    @Test func noCompiledMetricsKeepsAccuracy() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch, rows: 30)
        let json = try mlpconv(["finetune", h5, "--data", data, "--output", scratch.path("o.h5"), "--epochs", "1", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let last = try #require(try jsonObject(json.stdout)["last_epoch"] as? [String: Double])
        #expect(Set(last.keys) == ["loss", "accuracy"])
    }
}
