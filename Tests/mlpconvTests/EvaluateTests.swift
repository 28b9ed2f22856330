import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
@testable import MLPDataFiles

// End-to-end tests of `evaluate`, run through the built binary.

struct EvaluateCommandTests {
    @Test func matchesModelEvaluate() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch, rows: 300)
        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: true)
        let model: Model<Float> = try document.model()
        let expected = try model.evaluate(dataset)
        let expectedLoss = try #require(expected["loss"]), expectedAccuracy = try #require(expected["accuracy"])

        let json = try mlpconv(["evaluate", h5, "--data", data, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try jsonObject(json.stdout)
        #expect(Set(object.keys) == ["file", "data", "rows", "loss_function", "loss", "accuracy", "metrics", "metrics_not_computed"])
        #expect((object["metrics_not_computed"] as? [Any])?.isEmpty == true)
        #expect(object["rows"] as? Int == 300)
        #expect(object["loss_function"] as? String == "categorical_crossentropy")
        #expect(try jsonNumber("loss", in: json.stdout) == expectedLoss)
        #expect(try jsonNumber("accuracy", in: json.stdout) == expectedAccuracy)
        #expect(Set((object["metrics"] as? [String: Double] ?? [:]).keys) == ["loss", "accuracy"])

        let text = try mlpconv(["evaluate", h5, "--data", data])
        #expect(text.stdout == "\(h5) on \(data) (300 rows, categorical_crossentropy): loss \(formatted(expectedLoss)), accuracy \(formatted(expectedAccuracy))\n")

        // Batches change nothing but the grouping of the sum.
        let batched = try mlpconv(["evaluate", h5, "--data", data, "--json", "--batch-size", "7"])
        let batchedExpected = try model.evaluate(dataset, batchSize: 7)
        #expect(try jsonNumber("loss", in: batched.stdout) == batchedExpected["loss"])
    }

    @Test func lossOverrideAndModelsWithoutTrainingState() throws {
        let scratch = try Scratch()
        var random = RandomGenerator(seed: 3)
        let network = try Network<Float>(inputWidth: 4, layers: [LayerSpec(3, .linear)], random: &random)
        let bare = scratch.path("bare.h5")
        try ModelFiles.save(ModelDocument(network: network), to: bare, format: .h5)
        let data = scratch.path("regression.csv")
        try "1,2,3,4,0.5,0.25,1\n-1,0,1,2,1,1,1\n".write(toFile: data, atomically: false, encoding: .utf8)
        let refused = try mlpconv(["evaluate", bare, "--data", data])
        #expect(refused.status == 2)
        #expect(refused.stderr.hasPrefix("mlpconv: \(bare): the model has no loss stored; give --loss ("))
        let result = try mlpconv(["evaluate", bare, "--data", data, "--loss", "mae", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try jsonObject(result.stdout)
        #expect(object["accuracy"] is NSNull)
        #expect(object["loss_function"] as? String == "mean_absolute_error")
        let outputs = try network.predict([1, 2, 3, 4, -1, 0, 1, 2])
        let targets: [Float] = [0.5, 0.25, 1, 1, 1, 1]
        let mae = zip(outputs, targets).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } / 6
        #expect(abs(try jsonNumber("loss", in: result.stdout) - Double(mae)) < 1e-6)
        let text = try mlpconv(["evaluate", bare, "--data", data, "--loss", "mae"])
        #expect(text.stdout.hasPrefix("\(bare) on \(data) (2 rows, mean_absolute_error): loss "))
        #expect(!text.stdout.contains("accuracy"))
    }

    @Test func badInputsExitWithCodeTwo() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let features = scratch.path("x.csv")
        try "1,2,3,4\n".write(toFile: features, atomically: false, encoding: .utf8)
        let noTargets = try mlpconv(["evaluate", h5, "--data", features])
        #expect(noTargets.status == 2)
        #expect(noTargets.stderr.hasPrefix("mlpconv: \(features): line 1"))
        let labels = scratch.path("labels.csv")
        try "1,2,3,4,7\n".write(toFile: labels, atomically: false, encoding: .utf8)
        let outOfRange = try mlpconv(["evaluate", h5, "--data", labels])
        #expect(outOfRange.status == 2)
        #expect(outOfRange.stderr.hasPrefix("mlpconv: \(labels): line 1, column 5"))
        #expect(outOfRange.stderr.contains("out of range"))
        let missing = try mlpconv(["evaluate", scratch.path("none.h5"), "--data", labels])
        #expect(missing.status == 2)
        #expect(missing.stderr == "mlpconv: \(scratch.path("none.h5")): no such file\n")
    }
}

/// `formatMetric` as the CLI prints it.
private func formatted(_ value: Double) -> String {
    if value != 0 && (abs(value) < 1e-3 || abs(value) >= 1e5) { return String(format: "%.3e", value) }
    return String(format: "%.4f", value)
}
