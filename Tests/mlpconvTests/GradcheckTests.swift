import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
@testable import MLPDataFiles

// End-to-end tests of `gradcheck`, run through the built binary.

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
