import Foundation
import MLPCore
import MLPDocument
@testable import MLPModelFiles
import Testing
import TestSupport

/// Values from flags and files that used to trap, run for minutes or succeed silently: each is refused with exit
/// status 2 and one line naming the flag (or the file and object) and the reason, before any work is done.
struct ValueValidationTests {
    private func leftovers(in scratch: Scratch) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.contains(".tmp-") }.sorted()
    }

    // MARK: Learning rates beyond float32 (issue 15, item 1)

    @Test func initRefusesALearningRateBeyondFloat32() throws {
        let scratch = try Scratch()
        let path = scratch.path("a.json")
        let result = try mlpconv(["init", path, "--inputs", "4", "--layer", "8:relu", "--learning-rate", "1e39"])
        #expect(result.status == 2)
        #expect(result.stderr == "mlpconv: --learning-rate 1e+39 is beyond float32's range (±3.4028235e+38), in which model files store it\n")
        #expect(!FileManager.default.fileExists(atPath: path))
        // A schedule's rate goes through the same rule.
        let schedule = try mlpconv(["init", path, "--inputs", "4", "--layer", "8:relu",
                                    "--lr-schedule", "exponential_decay:initial_learning_rate=1e39,decay_steps=10,decay_rate=0.5"])
        #expect(schedule.status == 2 && schedule.stderr.contains("beyond float32's range"), "\(schedule.stderr)")
    }

    /// A file written before the rule existed: every reader refuses it, and no writer is reached (the Keras writer
    /// trapped on it and left its temporary files behind).
    @Test func aStoredLearningRateBeyondFloat32IsRefusedOnRead() throws {
        let scratch = try Scratch()
        let path = try sampleModelFile(scratch, name: "m.json", format: .json).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"learning_rate\": 0.01"))
        try text.replacingOccurrences(of: "\"learning_rate\": 0.01", with: "\"learning_rate\": 1e39")
            .write(toFile: path, atomically: false, encoding: .utf8)
        for output in ["a.keras", "a.h5", "a.pt"] {
            let result = try mlpconv(["convert", path, scratch.path(output)])
            #expect(result.status == 2, "\(output): \(result.stderr)")
            #expect(result.stderr.contains("learning_rate") && result.stderr.contains("beyond float32's range"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path(output)))
        }
        #expect(try leftovers(in: scratch) == [])
    }

    /// finetune checks its flags before loading anything, so a bad rate cannot cost a training run.
    @Test func finetuneRefusesALearningRateBeyondFloat32BeforeTraining() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let result = try mlpconv(["finetune", model, "--data", data, "--output", scratch.path("o.keras"), "--learning-rate", "1e39"])
        #expect(result.status == 2)
        #expect(result.stderr == "mlpconv: --learning-rate 1e+39 is beyond float32's range (±3.4028235e+38), in which model files store it\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("o.keras")))
        #expect(try leftovers(in: scratch) == [])
    }

    // MARK: init and the readers' limits (item 3)

    @Test func initAppliesTheReadersLimitsBeforeAllocating() throws {
        let scratch = try Scratch()
        let path = scratch.path("big.h5")
        let start = ContinuousClock.now
        let wide = try mlpconv(["init", path, "--inputs", "4", "--layer", "16777217:relu"])
        #expect(wide.status == 2)
        #expect(wide.stderr == "mlpconv: --layer 16777217:relu (layer 1): 16777217 units exceed the readers' limit of 16777216\n")
        let huge = try mlpconv(["init", path, "--inputs", "100000", "--layer", "100000:relu"])
        #expect(huge.status == 2)
        #expect(huge.stderr.hasPrefix("mlpconv: --layer 100000:relu (layer 1): its kernel of shape [100000, 100000] would take more than the readers' limit of"), "\(huge.stderr)")
        let total = try mlpconv(["init", path, "--inputs", "40000", "--layer", "40000:relu"])
        #expect(total.status == 2)
        #expect(total.stderr.contains("2 optimizer slots per weight") && total.stderr.contains("in total"), "\(total.stderr)")
        let inputs = try mlpconv(["init", path, "--inputs", "16777217", "--layer", "1:relu"])
        #expect(inputs.status == 2)
        #expect(inputs.stderr == "mlpconv: --inputs 16777217 exceeds the readers' limit of 16777216 inputs\n")
        #expect(!FileManager.default.fileExists(atPath: path))
        // Refused from the widths alone: nothing was allocated, so none of these took long.
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    // MARK: Integer options (item 4)

    @Test func aBatchSizeOfIntMaxTrainsInOneBatch() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let output = scratch.path("o.h5")
        let result = try mlpconv(["finetune", model, "--data", data, "--output", output, "--batch-size", "9223372036854775807", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let before = try ModelFiles.load(model), after = try ModelFiles.load(output)
        #expect(after.training?.optimizer.iterations == (before.training?.optimizer.iterations ?? 0) + 1)
    }

    @Test func everyIntegerOptionIsRangeChecked() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let out = scratch.path("o.h5")
        let cases: [(arguments: [String], message: String)] = [
            (["finetune", model, "--data", data, "--output", out, "--epochs", "0"], "--epochs must be at least 1, got 0"),
            (["finetune", model, "--data", data, "--output", out, "--epochs", "-3"], "--epochs must be at least 1, got -3"),
            (["finetune", model, "--data", data, "--output", out, "--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
            (["finetune", model, "--data", data, "--output", out, "--checkpoint-every", "-2"], "--checkpoint-every must be at least 1, got -2"),
            (["finetune", model, "--data", data, "--output", out, "--epochs", "9223372036854775808"], "The value '9223372036854775808' is invalid for '--epochs <epochs>'"),
            (["finetune", model, "--data", data, "--output", out, "--seed", "-1"], "The value '-1' is invalid for '--seed <seed>'"),
            (["predict", model, "--data", data, "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
            (["evaluate", model, "--data", data, "--batch-size", "-5"], "--batch-size must be at least 1, got -5"),
            (["gradcheck", model, "--samples", "-1"], "--samples must be at least 1, got -1"),
            (["gradcheck", model, "--samples", "9223372036854775807"], "--samples must be at most 1048576, got 9223372036854775807"),
            (["gradcheck", model, "--max-elements", "0"], "--max-elements must be at least 1, got 0"),
            (["init", out, "--inputs", "-4", "--layer", "2:relu"], "--inputs must be a positive integer, got -4"),
            (["init", out, "--inputs", "4", "--layer", "2:relu", "--seed", "18446744073709551616"], "The value '18446744073709551616' is invalid for '--seed <seed>'"),
            (["convert", model, scratch.path("o.onnx"), "--opset", "-1"], "ONNX opset -1 is not supported"),
        ]
        for (arguments, message) in cases {
            let result = try mlpconv(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("mlpconv: ") && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        // A model whose epoch count is already at Int.max cannot count one more epoch.
        var document = try ModelFiles.load(model)
        document.training?.epochsCompleted = .max
        let full = scratch.path("full.h5")
        try ModelFiles.save(document, to: full, format: .h5)
        let result = try mlpconv(["finetune", full, "--data", data, "--output", out])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--epochs 1: the model has completed 9223372036854775807 epochs"), "\(result.stderr)")
    }

    /// gradcheck's random rows are held at once: a count that fits --samples' cap can still be too many rows of a
    /// wide model (it reserved samples × width doubles and trapped).
    @Test func gradcheckSamplesAreBoundedByTheirBytes() throws {
        let scratch = try Scratch()
        let model = scratch.path("wide.h5")
        #expect(try mlpconv(["init", model, "--inputs", "1048576", "--layer", "1:linear"]).status == 0)
        let result = try mlpconv(["gradcheck", model, "--samples", "1048576"])
        #expect(result.status == 2)
        #expect(result.stderr == "mlpconv: --samples 1048576: 1048576 random rows of 1048576 features and 1 targets would take "
                + "more than 8589934592 bytes; give fewer\n", "\(result.stderr)")
    }

    // MARK: Narrowing to float32 (item 12)

    @Test func convertRefusesToNarrowAValueBeyondFloat32() throws {
        let scratch = try Scratch()
        var document = try sampleModelFile(scratch, name: "m.json", format: .json).document.converted(to: .float64)
        var kernel = try #require(document.weights[1]["kernel"]).float64Values
        kernel[4] = 1e300
        document.weights[1]["kernel"] = try Tensor(shape: [6, 3], float64: kernel)
        let wide = scratch.path("wide.json")
        try ModelFiles.save(document, to: wide, format: .json)
        let output = scratch.path("narrow.h5")
        let result = try mlpconv(["convert", wide, output, "--dtype", "float32"])
        #expect(result.status == 2)
        #expect(result.stderr == "mlpconv: \(wide): weights/output/kernel: element [1, 1] is 1e+300, beyond float32's range; it would become +infinity\n")
        #expect(!FileManager.default.fileExists(atPath: output))
        // Training computes in float32: finetune refuses the same value instead of training an infinite weight.
        let data = try sampleDataFile(scratch)
        let finetune = try mlpconv(["finetune", wide, "--data", data, "--output", scratch.path("t.json"), "--allow-nonfinite"])
        #expect(finetune.status == 2)
        #expect(finetune.stderr.contains("weights/output/kernel: element [1, 1] is 1e+300, beyond float32's range"), "\(finetune.stderr)")
        // float64 output keeps it.
        #expect(try mlpconv(["convert", wide, scratch.path("kept.json"), "--dtype", "float64"]).status == 0)
    }

    // MARK: Messages for negative numbers and layer specs

    @Test func negativeNumbersGetTheirRealReason() throws {
        let scratch = try Scratch()
        let path = scratch.path("m.json")
        for arguments in [["--learning-rate", "-1"], ["--learning-rate=-1"]] {
            let result = try mlpconv(["init", path, "--inputs", "4", "--layer", "8:relu"] + arguments)
            #expect(result.status == 2)
            #expect(result.stderr == "mlpconv: --learning-rate must be a finite number ≥ 0, got -1.0\n", "\(arguments)")
        }
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let split = try mlpconv(["finetune", model, "--data", data, "--output", scratch.path("o.h5"), "--validation-split", "-0.5"])
        #expect(split.stderr == "mlpconv: --validation-split must be in [0, 1), got -0.5\n")
        let atol = try mlpconv(["diff", model, model, "--atol", "-1"])
        #expect(atol.stderr == "mlpconv: --atol must be a finite number ≥ 0, got -1.0\n")
    }

    @Test func everyBadLayerSpecSaysWhy() throws {
        let scratch = try Scratch()
        let cases: [(spec: String, reason: String)] = [
            ("0:relu", "a Dense layer needs at least 1 unit, got 0"),
            ("-3:relu", "a Dense layer needs at least 1 unit, got -3"),
            ("x:relu", "\"x\" is not a number of units"),
            ("99999999999999999999:relu", "99999999999999999999 units is more than an integer holds"),
            ("8:relux", "unknown activation \"relux\"; supported: "),
            ("8", "a Dense layer needs an activation, UNITS:ACTIVATION (e.g. 8:relu)"),
            ("dense", "unknown layer \"dense\"; a layer is UNITS:ACTIVATION"),
            ("", "unknown layer \"\"; a layer is UNITS:ACTIVATION"),
            ("dropout:1", "dropout rate must be in [0, 1), got 1"),
            ("dropout:x", "dropout rate \"x\" is not a number"),
            ("dropout", "dropout needs a value, dropout:RATE"),
            ("activation", "activation needs a value, activation:NAME"),
            ("activation:nope", "unknown activation \"nope\""),
            ("batch_normalization:3", "batch_normalization takes no settings"),
        ]
        for (spec, reason) in cases {
            let result = try mlpconv(["init", scratch.path("m.h5"), "--inputs", "4", "--layer", spec, "--layer", "2:linear"])
            #expect(result.status == 2, "\(spec)")
            #expect(result.stderr.hasPrefix("mlpconv: The value '\(spec)' is invalid for '--layer <layer>': \(reason)"), "\(spec): \(result.stderr)")
        }
    }
}
