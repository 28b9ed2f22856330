import TestSupport
import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles

// End-to-end tests of `diff`, run through the built binary.

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
