import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
@testable import MLPDataFiles

// End-to-end tests of `gradcheck`, `predict`, `evaluate` and `diff`, run through the built binary.

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
    let hidden = try Dense<Float>(
        name: "hidden", inputWidth: 2, units: 3, activation: .relu,
        kernel: [0.5, 0, -0.7,
                 0.3, 0, 0.9],
        bias: [0.1, 0, 0.2])
    let output = try Dense<Float>(name: "output", inputWidth: 3, units: 2, activation: .softmax,
                                  kernel: [0.4, -0.2, 0.8, -0.6, 0.1, 0.3], bias: [0, 0.05])
    let network = try Network(inputWidth: 2, layers: [hidden, output])
    let model = try Model(network: network, training: TrainingState(
        loss: .categoricalCrossentropy, optimizer: try Optimizer(config: OptimizerConfig(.sgd), network: network),
        random: RandomGenerator(seed: 1).state))
    let path = scratch.path(name)
    try ModelFiles.save(ModelDocument(model: model), to: path, format: .h5)
    return path
}

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

struct GradcheckCommandTests {
    @Test func passesOnATrainedModelWithRandomSamples() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let result = try mlpconv(["gradcheck", h5])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr == "")
        let out = lines(result.stdout)
        #expect(out[0].hasPrefix("\(h5): categorical_crossentropy on 8 random samples (seed 0), loss "))
        #expect(out[1].hasPrefix("central differences in float64, epsilon 1e-06, tolerance 0.0001 (relative; denominators floored at "))
        #expect(out[3].split(separator: " ", omittingEmptySubsequences: true)
                    == ["tensor", "shape", "checked", "max", "abs", "error", "max", "rel", "error", "result"])
        for (name, shape, count) in [("hidden/kernel", "4×6", 24), ("hidden/bias", "6", 6), ("output/kernel", "6×3", 18), ("output/bias", "3", 3)] {
            let row = try #require(out.first { $0.hasPrefix(name + " ") })
            let cells = row.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            #expect(cells[1] == shape && cells[2] == String(count) && cells[5] == "pass", "\(row)")
        }
        #expect(out.contains { $0.hasPrefix("passed: every tensor is within tolerance 0.0001 (max relative error ") })
    }

    @Test func passesOnDataRowsAndReportsJSON() throws {
        let scratch = try Scratch()
        let (json, _) = try sampleModelFile(scratch, name: "model.json", format: .json)
        let data = try sampleDataFile(scratch)
        let result = try mlpconv(["gradcheck", json, "--data", data, "--samples", "5", "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let object = try jsonObject(result.stdout)
        #expect(Set(object.keys) == ["file", "data", "samples", "seed", "loss", "loss_value", "scheme", "epsilon", "tolerance",
                                     "tiny", "passed", "failed_tensors", "max_relative_error", "warnings", "tensors"])
        #expect(object["data"] as? String == data)
        #expect(object["samples"] as? Int == 5)
        #expect(object["passed"] as? Bool == true)
        #expect(object["scheme"] as? String == "central")
        #expect(object["epsilon"] as? Double == 1e-6)
        #expect(object["tolerance"] as? Double == 1e-4)
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["name"] as? String } == ["hidden/kernel", "hidden/bias", "output/kernel", "output/bias"])
        #expect(tensors.map { $0["shape"] as? [Int] } == [[4, 6], [6], [6, 3], [3]])
        for tensor in tensors {
            #expect(Set(tensor.keys) == ["name", "shape", "elements", "checked", "max_abs_error", "max_rel_error", "passed",
                                         "worst_index", "analytic", "numeric"])
            #expect(tensor["checked"] as? Int == tensor["elements"] as? Int)
            #expect(try #require(tensor["max_rel_error"] as? Double) < 1e-4)
        }
        // The loss on the first five rows, as the model computes it in float64.
        let model: Model<Double> = try ModelFiles.load(json).model(as: Double.self)
        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: true)
        let rows = dataset.rows(0..<5)
        let expected = try model.evaluate(try Dataset(features: rows.features.map(Double.init), featureWidth: 4,
                                                      targets: rows.targets.map(Double.init), targetWidth: 3))
        // One batch either way; evaluate's mean over rows may round the last bit differently.
        let lossValue = try jsonNumber("loss_value", in: result.stdout)
        #expect(abs(lossValue - (expected["loss"] ?? .nan)) <= 1e-14 * lossValue)
        let text = try mlpconv(["gradcheck", json, "--data", data, "--samples", "5"])
        #expect(text.stdout.hasPrefix("\(json): categorical_crossentropy on the first 5 rows of \(data), loss "))
    }

    static let smoothCases: [(hidden: Activation, output: Activation, loss: Loss)] = [
        (.tanh, .softmax, .categoricalCrossentropy), (.sigmoid, .sigmoid, .binaryCrossentropy),
        (.gelu, .linear, .meanSquaredError), (.softplus, .softmax, .sparseCategoricalCrossentropy),
        (.silu, .tanh, .huber), (.mish, .linear, .halfSquaredError), (.tanh, .linear, .meanAbsoluteError),
        (.exponential, .logSoftmax, .meanSquaredError),
    ]

    @Test("passes on smooth models with either scheme", arguments: smoothCases.indices)
    func passesOnSmoothModels(index: Int) throws {
        let (hidden, output, loss) = Self.smoothCases[index]
        let scratch = try Scratch()
        let file = try smallModelFile(scratch, name: "m.json", hidden: hidden, output: output, loss: loss)
        for extra in [[], ["--scheme", "four-point"], ["--samples", "32", "--seed", "5"]] {
            let result = try mlpconv(["gradcheck", file, "--json"] + extra)
            let object = try jsonObject(result.stdout)
            #expect(result.status == 0, "\(hidden)/\(output)/\(loss) \(extra): \(result.stdout)")
            #expect(object["passed"] as? Bool == true)
            #expect(object["loss"] as? String == loss.name)
            #expect((object["warnings"] as? [String])?.isEmpty == true)
        }
    }

    @Test func failsWhereAFiniteDifferenceStraddlesAKink() throws {
        let scratch = try Scratch()
        let kink = try kinkModelFile(scratch)
        let result = try mlpconv(["gradcheck", kink])
        #expect(result.status == 1)
        let out = lines(result.stdout)
        let row = try #require(out.first { $0.hasPrefix("hidden/kernel ") })
        #expect(row.hasSuffix("FAIL"))
        #expect(out.contains { $0.hasPrefix("output/kernel ") && $0.hasSuffix("pass") })
        // The worst element is in the dead unit's column: backprop says 0, the difference does not.
        #expect(out.contains { $0.hasPrefix("  hidden/kernel[") && $0.contains(", 1]: backprop ") && $0.contains("0.00e+00, finite difference ") })
        #expect(out.contains { $0.hasPrefix("FAILED: 2 of 4 tensors exceed tolerance 0.0001 (max relative error ") })
        #expect(result.stderr.hasPrefix("mlpconv: warning: \(kink): layer hidden (relu): 8 of 24 pre-activations lie within "))
        #expect(result.stderr.split(separator: "\n").count == 1)

        let json = try mlpconv(["gradcheck", kink, "--json"])
        #expect(json.status == 1)
        let object = try jsonObject(json.stdout)
        #expect(object["passed"] as? Bool == false)
        #expect(object["failed_tensors"] as? Int == 2)
        #expect((object["warnings"] as? [String])?.count == 1)
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        let kernel = try #require(tensors.first { $0["name"] as? String == "hidden/kernel" })
        #expect(kernel["passed"] as? Bool == false)
        #expect(kernel["analytic"] as? Double == 0)
        #expect(try #require(kernel["max_rel_error"] as? Double) > 0.99)

        // On data rows too: the unit's pre-activation is 0 whatever the input.
        let data = scratch.path("kink.csv")
        try "a,b,label\n0.5,-1,0\n-0.25,0.75,1\n1,1,1\n".write(toFile: data, atomically: false, encoding: .utf8)
        let onData = try mlpconv(["gradcheck", kink, "--data", data])
        #expect(onData.status == 1)
        #expect(onData.stdout.contains("on the first 3 rows of \(data)"))
        #expect(onData.stderr.contains("3 of 9 pre-activations"))
    }

    @Test func needsALossWhenNoneIsStored() throws {
        let scratch = try Scratch()
        var random = RandomGenerator(seed: 2)
        let network = try Network<Float>(inputWidth: 3, layers: [LayerSpec(4, .tanh), LayerSpec(2, .linear)], random: &random)
        let bare = scratch.path("bare.json")
        try ModelFiles.save(ModelDocument(network: network), to: bare, format: .json)
        let refused = try mlpconv(["gradcheck", bare])
        #expect(refused.status == 2)
        #expect(refused.stderr.hasPrefix("mlpconv: \(bare): the model has no loss stored; give --loss ("))
        #expect(refused.stderr.split(separator: "\n").count == 1)
        #expect(refused.stdout == "")
        let given = try mlpconv(["gradcheck", bare, "--loss", "mse", "--json"])
        #expect(given.status == 0, "\(given.stdout)\(given.stderr)")
        #expect(try jsonObject(given.stdout)["loss"] as? String == "mean_squared_error")
    }

    @Test func samplesElementsOfLargeTensors() throws {
        let scratch = try Scratch()
        // 101 × 100 = 10,100 kernel elements: over the 10,000 checked whole by default.
        let big = try smallModelFile(scratch, name: "big.h5", inputs: 101, hidden: .tanh, units: 100, output: .linear,
                                     outputs: 2, loss: .meanSquaredError, format: .h5)
        let result = try mlpconv(["gradcheck", big, "--json", "--samples", "2"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let tensors = try #require(try jsonObject(result.stdout)["tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["checked"] as? Int } == [1000, 100, 200, 2])
        #expect(tensors.map { $0["elements"] as? Int } == [10_100, 100, 200, 2])
        let text = try mlpconv(["gradcheck", big, "--samples", "2"])
        #expect(lines(text.stdout).contains { $0.hasPrefix("hidden/kernel ") && $0.contains("1000 of 10100") })

        let limited = try mlpconv(["gradcheck", big, "--json", "--samples", "2", "--max-elements", "50"])
        let limitedTensors = try #require(try jsonObject(limited.stdout)["tensors"] as? [[String: Any]])
        #expect(limitedTensors.map { $0["checked"] as? Int } == [50, 50, 50, 2])
    }

    @Test func seedChoosesTheSamples() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let first = try mlpconv(["gradcheck", h5, "--json", "--seed", "7"])
        let again = try mlpconv(["gradcheck", h5, "--json", "--seed", "7"])
        let other = try mlpconv(["gradcheck", h5, "--json", "--seed", "8"])
        #expect(first.stdout == again.stdout)
        #expect(try jsonNumber("loss_value", in: first.stdout) != jsonNumber("loss_value", in: other.stdout))
        #expect(try jsonObject(first.stdout)["seed"] as? String == "7")
    }

    @Test func badInputsExitWithCodeTwo() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let missing = try mlpconv(["gradcheck", scratch.path("nope.h5")])
        #expect(missing.status == 2)
        #expect(missing.stderr == "mlpconv: \(scratch.path("nope.h5")): no such file\n")
        let text = scratch.path("notes.txt")
        try "not a model".write(toFile: text, atomically: false, encoding: .utf8)
        let wrongFormat = try mlpconv(["gradcheck", text])
        #expect(wrongFormat.status == 2)
        #expect(wrongFormat.stderr.hasPrefix("mlpconv: \(text): not a model file"))
        let data = scratch.path("narrow.csv")
        try "a,b,c,label\n1,2,3,0\n".write(toFile: data, atomically: false, encoding: .utf8)
        let narrow = try mlpconv(["gradcheck", h5, "--data", data])
        #expect(narrow.status == 2)
        #expect(narrow.stderr.hasPrefix("mlpconv: \(data): line "))
        #expect(narrow.stderr.contains("4 inputs"))
        #expect(narrow.stderr.split(separator: "\n").count == 1)
        for flags in [["--epsilon", "0"], ["--tolerance", "-1"], ["--samples", "0"], ["--scheme", "five-point"], ["--max-elements", "0"]] {
            let bad = try mlpconv(["gradcheck", h5] + flags)
            #expect(bad.status == 2, "\(flags)")
            #expect(bad.stderr.split(separator: "\n").count == 1, "\(flags): \(bad.stderr)")
        }
    }
}

struct PredictCommandTests {
    @Test func npyOutputIsNetworkPredictBitForBit() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch, rows: 300)
        let npy = scratch.path("pred.npy")
        let result = try mlpconv(["predict", h5, "--data", data, "--output", npy])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "wrote \(npy) (npy, 300 rows × 3 columns) from \(h5) on \(data)\n")

        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: false)
        let expected = try document.network().predict(dataset.features)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: npy)))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '<f4'") && header.contains("'shape': (300, 3)"))
        let body = Array(bytes[(10 + headerLength)...])
        #expect(body.count == expected.count * 4)
        let values = (0..<body.count / 4).map { i in
            Float(bitPattern: UInt32(body[4 * i]) | UInt32(body[4 * i + 1]) << 8 | UInt32(body[4 * i + 2]) << 16 | UInt32(body[4 * i + 3]) << 24)
        }
        #expect(values.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func csvOnStdoutMatchesTheOutputFile() throws {
        let scratch = try Scratch()
        let (json, document) = try sampleModelFile(scratch, name: "model.json", format: .json)
        let data = try sampleDataFile(scratch)
        let printed = try mlpconv(["predict", json, "--data", data])
        #expect(printed.status == 0)
        let csv = scratch.path("pred.csv")
        #expect(try mlpconv(["predict", json, "--data", data, "--output", csv]).status == 0)
        #expect(printed.stdout == (try String(contentsOfFile: csv, encoding: .utf8)))

        let rows = lines(printed.stdout)
        #expect(rows[0] == "output_0,output_1,output_2")
        #expect(rows.count == 22 && rows[21] == "")
        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: false)
        let expected = try document.network().predict(dataset.features)
        let parsed = rows[1...20].flatMap { $0.split(separator: ",").compactMap { Float(String($0)) } }
        #expect(parsed.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func jsonOutputHasStableKeys() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch, rows: 4)
        let inline = try mlpconv(["predict", h5, "--data", data, "--json"])
        #expect(inline.status == 0)
        let object = try jsonObject(inline.stdout)
        #expect(Set(object.keys) == ["rows", "columns", "predictions"])
        #expect(object["rows"] as? Int == 4 && object["columns"] as? Int == 3)
        let predictions = try #require(object["predictions"] as? [[Double]])
        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: false)
        let expected = try document.network().predict(dataset.features)
        #expect(predictions.flatMap { $0 }.map(Float.init) == expected)

        let npy = scratch.path("p.npy")
        let written = try mlpconv(["predict", h5, "--data", data, "--json", "--output", npy])
        let summary = try jsonObject(written.stdout)
        #expect(Set(summary.keys) == ["rows", "columns", "output", "format"])
        #expect(summary["rows"] as? Int == 4 && summary["columns"] as? Int == 3)
        #expect(summary["output"] as? String == npy && summary["format"] as? String == "npy")
    }

    @Test func readsFeatureOnlyFiles() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let features = scratch.path("x.csv")
        try "0.5,-1,2,0\n1,1,1,1\n".write(toFile: features, atomically: false, encoding: .utf8)
        let result = try mlpconv(["predict", h5, "--data", features, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let predictions = try #require(try jsonObject(result.stdout)["predictions"] as? [[Double]])
        #expect(predictions.flatMap { $0 }.map(Float.init) == (try document.network().predict([0.5, -1, 2, 0, 1, 1, 1, 1])))
    }

    @Test func refusesToOverwriteWithoutForce() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch)
        let csv = scratch.path("pred.csv")
        try "keep me".write(toFile: csv, atomically: false, encoding: .utf8)
        let refused = try mlpconv(["predict", h5, "--data", data, "--output", csv])
        #expect(refused.status == 2)
        #expect(refused.stderr == "mlpconv: \(csv): already exists; use --force to replace it\n")
        #expect(try String(contentsOfFile: csv, encoding: .utf8) == "keep me")
        #expect(try mlpconv(["predict", h5, "--data", data, "--output", csv, "--force"]).status == 0)
        #expect(try String(contentsOfFile: csv, encoding: .utf8).hasPrefix("output_0,output_1,output_2\n"))
    }

    @Test func badInputsExitWithCodeTwo() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch)
        let missing = try mlpconv(["predict", scratch.path("nope.json"), "--data", data])
        #expect(missing.status == 2)
        #expect(missing.stderr == "mlpconv: \(scratch.path("nope.json")): no such file\n")
        let missingData = try mlpconv(["predict", h5, "--data", scratch.path("nope.csv")])
        #expect(missingData.status == 2)
        #expect(missingData.stderr == "mlpconv: \(scratch.path("nope.csv")): no such file\n")
        let notAModel = scratch.path("model.txt")
        try "hello".write(toFile: notAModel, atomically: false, encoding: .utf8)
        let wrongFormat = try mlpconv(["predict", notAModel, "--data", data])
        #expect(wrongFormat.status == 2)
        #expect(wrongFormat.stderr.hasPrefix("mlpconv: \(notAModel): not a model file"))
        let wide = scratch.path("wide.csv")
        try "1,2,3,4,5,6,7,8,9\n".write(toFile: wide, atomically: false, encoding: .utf8)
        let wrongColumns = try mlpconv(["predict", h5, "--data", wide])
        #expect(wrongColumns.status == 2)
        #expect(wrongColumns.stderr.hasPrefix("mlpconv: \(wide): line 1"))
        #expect(wrongColumns.stderr.contains("9 columns"))
        #expect(wrongColumns.stderr.split(separator: "\n").count == 1)
        let ragged = scratch.path("ragged.csv")
        try "1,2,3,4\n1,2,3\n".write(toFile: ragged, atomically: false, encoding: .utf8)
        let raggedRows = try mlpconv(["predict", h5, "--data", ragged])
        #expect(raggedRows.status == 2)
        #expect(raggedRows.stderr.hasPrefix("mlpconv: \(ragged): line 2"))
        let unknown = try mlpconv(["predict", h5, "--data", data, "--output", scratch.path("p.txt")])
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "mlpconv: \(scratch.path("p.txt")): cannot tell the format from the extension; use .csv or .npy\n")
    }
}

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
        #expect(Set(object.keys) == ["file", "data", "rows", "loss_function", "loss", "accuracy", "metrics"])
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

struct DiffCommandTests {
    @Test func aFileAndItsConversionAreEqualMetadataAside() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let json = scratch.path("model.json")
        #expect(try mlpconv(["convert", h5, json]).status == 0)
        let result = try mlpconv(["diff", h5, json])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout == """
            a: \(h5) (hdf5)
            b: \(json) (json)
            compared bitwise

            metadata (listed, not compared; --metadata compares it)
              converted_from: (absent) vs "model.h5 (hdf5)"

            equal: architecture, weights, optimizer and training state match bitwise (1 metadata difference not compared)

            """)
        let counted = try mlpconv(["diff", h5, json, "--metadata"])
        #expect(counted.status == 1)
        #expect(lines(counted.stdout).dropLast().last == "different: 1 difference (metadata 1)")

        let object = try jsonObject(try mlpconv(["diff", json, h5, "--json"]).stdout)
        #expect(Set(object.keys) == ["a", "b", "a_format", "b_format", "atol", "rtol", "metadata_compared", "equal", "verdict",
                                     "counts", "differences", "tensors"])
        #expect(object["equal"] as? Bool == true)
        #expect(object["a_format"] as? String == "json" && object["b_format"] as? String == "hdf5")
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        // Four weights and, for Adam, two slots of four.
        #expect(tensors.count == 12)
        #expect(tensors.allSatisfy { $0["equal"] as? Bool == true && $0["differing"] as? Int == 0 })
        #expect(tensors.map { $0["name"] as? String }.prefix(5) == ["hidden/kernel", "hidden/bias", "output/kernel", "output/bias", "momentum/hidden/kernel"])
        let differences = try #require(object["differences"] as? [[String: Any]])
        #expect(differences.count == 1)
        #expect(differences.first?["section"] as? String == "metadata" && differences.first?["counted"] as? Bool == false)
    }

    @Test func finetuningMakesModelsDiffer() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch)
        let tuned = scratch.path("tuned.json")
        #expect(try mlpconv(["finetune", h5, "--data", data, "--output", tuned, "--quiet"]).status == 0)
        let result = try mlpconv(["diff", h5, tuned])
        #expect(result.status == 1)
        let out = lines(result.stdout)
        #expect(out.contains("weights"))
        #expect(out.contains { $0.hasPrefix("  hidden/kernel: [4, 6] float32: ") && $0.contains(" of 24 elements differ, max abs ") })
        #expect(out.contains("  iterations: 12 vs 13"))
        #expect(out.contains("  epochs_completed: 3 vs 4"))
        #expect(out.contains("  history: 3 epochs vs 4 epochs"))
        #expect(out.contains { $0.hasPrefix("  random_state: ") })
        #expect(out.contains { $0.hasPrefix("  trained_at: (absent) vs \"") })
        #expect(out.dropLast().last?.hasPrefix("different: ") == true)

        let object = try jsonObject(try mlpconv(["diff", h5, tuned, "--json"]).stdout)
        #expect(object["equal"] as? Bool == false)
        let counts = try #require(object["counts"] as? [String: Int])
        #expect(counts["weights"] == 4 && counts["architecture"] == 0 && counts["metadata"] == 0)
        #expect(counts["training"] == 3)
        // A tolerance cannot excuse a different step count.
        #expect(try mlpconv(["diff", h5, tuned, "--atol", "1e9"]).status == 1)
    }

    @Test func toleranceLetsSmallDifferencesPass() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        var nudged = document
        var kernel = nudged.weights[1].kernel.float32Values
        kernel[4] += 1e-5
        nudged.weights[1].kernel = try Tensor(shape: [6, 3], float32: kernel)
        let other = scratch.path("nudged.json")
        try ModelFiles.save(nudged, to: other, format: .json)

        let exact = try mlpconv(["diff", h5, other])
        #expect(exact.status == 1)
        #expect(lines(exact.stdout).contains { $0.hasPrefix("  output/kernel: [6, 3] float32: 1 of 18 elements differ, max abs 1.00e-05, max rel ") })
        #expect(lines(exact.stdout).dropLast().last == "different: 1 difference (weights 1)")

        let loose = try mlpconv(["diff", h5, other, "--atol", "1e-4"])
        #expect(loose.status == 0, "\(loose.stdout)")
        #expect(lines(loose.stdout).contains { $0.hasPrefix("  output/kernel: [6, 3] float32: 1 of 18 elements differ within tolerance, max abs ") })
        #expect(lines(loose.stdout).dropLast().last == "equal: architecture, weights, optimizer and training state match within atol 0.0001, rtol 0 (1 within tolerance)")
        #expect(try mlpconv(["diff", h5, other, "--atol", "1e-7"]).status == 1)
        #expect(try mlpconv(["diff", h5, other, "--rtol", "0.5"]).status == 0)

        let object = try jsonObject(try mlpconv(["diff", h5, other, "--atol", "1e-4", "--json"]).stdout)
        #expect(object["equal"] as? Bool == true)
        let tensor = try #require((object["tensors"] as? [[String: Any]])?.first { $0["name"] as? String == "output/kernel" })
        #expect(tensor["differing"] as? Int == 0 && tensor["changed"] as? Int == 1)
        #expect(abs(try #require(tensor["max_abs_difference"] as? Double) - 1e-5) < 1e-6)
    }

    @Test func nanEqualsNaNWithTheSameBits() throws {
        let scratch = try Scratch()
        let (_, document) = try sampleModelFile(scratch)
        func withBias(_ value: Float, name: String) throws -> String {
            var copy = document
            var bias = try #require(copy.weights[0].bias).float32Values
            bias[2] = value
            copy.weights[0].bias = try Tensor(shape: [6], float32: bias)
            let path = scratch.path(name)
            try ModelFiles.save(copy, to: path, format: name.hasSuffix(".h5") ? .h5 : .json)
            return path
        }
        let a = try withBias(.nan, name: "a.h5")
        let b = try withBias(.nan, name: "b.json")
        let c = try withBias(Float(nan: 5, signaling: false), name: "c.h5")
        #expect(try mlpconv(["diff", a, b]).status == 0)
        let payload = try mlpconv(["diff", a, c, "--atol", "1"])
        #expect(payload.status == 1)
        #expect(payload.stdout.contains("  hidden/bias: [6] float32: 1 of 6 elements differ, max abs inf, max rel inf"))
    }

    @Test func dtypeDifferencesCountOnlyWhenComparingBitwise() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let wide = scratch.path("wide.json")
        #expect(try mlpconv(["convert", h5, wide, "--dtype", "float64"]).status == 0)
        let exact = try mlpconv(["diff", h5, wide])
        #expect(exact.status == 1)
        #expect(exact.stdout.contains("  hidden/kernel: [4, 6] float32 vs float64: same values\n"))
        #expect(lines(exact.stdout).dropLast().last == "different: 12 differences (weights 4, optimizer 8)")
        let loose = try mlpconv(["diff", h5, wide, "--atol", "1e-30"])
        #expect(loose.status == 0, "\(loose.stdout)")
    }

    @Test func architectureDifferencesAreListed() throws {
        let scratch = try Scratch()
        let a = try smallModelFile(scratch, name: "a.json", hidden: .tanh, output: .softmax, loss: .categoricalCrossentropy)
        let b = try smallModelFile(scratch, name: "b.h5", hidden: .relu, units: 4, output: .softmax, loss: .sparseCategoricalCrossentropy,
                                   format: .h5)
        let result = try mlpconv(["diff", a, b])
        #expect(result.status == 1)
        let out = lines(result.stdout)
        #expect(out.contains("architecture"))
        #expect(out.contains("  layers[0].units: 5 vs 4"))
        #expect(out.contains("  layers[0].activation: tanh vs relu"))
        #expect(out.contains("  hidden/kernel: float32[3, 5] vs float32[3, 4]") || out.contains { $0.hasPrefix("  hidden/kernel: shape [3, 5] vs [3, 4]") })
        #expect(out.contains("  loss: categorical_crossentropy vs sparse_categorical_crossentropy"))
    }

    @Test func badInputsExitWithCodeTwo() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let missing = try mlpconv(["diff", h5, scratch.path("nope.h5")])
        #expect(missing.status == 2)
        #expect(missing.stderr == "mlpconv: \(scratch.path("nope.h5")): no such file\n")
        #expect(missing.stdout == "")
        let text = scratch.path("x.json")
        try "[1, 2]".write(toFile: text, atomically: false, encoding: .utf8)
        let wrongFormat = try mlpconv(["diff", text, h5])
        #expect(wrongFormat.status == 2)
        #expect(wrongFormat.stderr.hasPrefix("mlpconv: \(text): not a model file"))
        let negative = try mlpconv(["diff", h5, h5, "--atol", "-1"])
        #expect(negative.status == 2)
        #expect(try mlpconv(["diff", h5, h5]).status == 0)
    }
}

struct NewCommandHelpTests {
    @Test(arguments: [
        ("gradcheck", "USAGE: mlpconv gradcheck <file> [--data <data>] [--samples <samples>] [--seed <seed>] [--epsilon <epsilon>] [--tolerance <tolerance>] [--scheme <scheme>] [--tiny <tiny>] [--max-elements <max-elements>] [--loss <loss>] [--json]"),
        ("predict", "USAGE: mlpconv predict <file> --data <data> [--output <output>] [--batch-size <batch-size>] [--force] [--json]"),
        ("evaluate", "USAGE: mlpconv evaluate <file> --data <data> [--batch-size <batch-size>] [--loss <loss>] [--json]"),
        ("diff", "USAGE: mlpconv diff <a> <b> [--atol <atol>] [--rtol <rtol>] [--metadata] [--json]"),
    ])
    func helpShowsTheUsageLine(command: String, usage: String) throws {
        let help = try mlpconv([command, "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains(usage))
        #expect(try mlpconv(["help", command]).stdout.contains(usage))
    }

    @Test func rootHelpListsEveryCommandInOrder() throws {
        let help = try mlpconv(["--help"]).stdout
        let names = ["inspect", "convert", "gradcheck", "finetune", "init", "predict", "evaluate", "diff"]
        let positions = try names.map { name in try #require(help.range(of: "\n  \(name) ")).lowerBound }
        #expect(positions == positions.sorted())
    }
}

/// `formatMetric` as the CLI prints it.
private func formatted(_ value: Double) -> String {
    if value != 0 && (abs(value) < 1e-3 || abs(value) >= 1e5) { return String(format: "%.3e", value) }
    return String(format: "%.4f", value)
}
