import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import mlpconv
@testable import MLPModelFiles
import TestSupport

struct FinetuneTests {
    /// The property the command exists for: `--epochs 2` ≡ `--epochs 1` twice, in every format, bit for bit.
    @Test(arguments: ["h5", "json"])
    func twoEpochsEqualOneEpochTwice(format: String) throws {
        let scratch = try Scratch()
        let start = scratch.path("start." + format)
        #expect(try mlpconv(["init", start, "--inputs", "64", "--layer", "16:tanh", "--layer", "10:softmax",
                             "--loss", "sparse_categorical_crossentropy", "--optimizer", "rmsprop", "--seed", "9"]).status == 0)
        let straight = scratch.path("straight." + format), once = scratch.path("once." + format)
        let common = ["--data", digitsCSV, "--batch-size", "64", "--validation-split", "0.1", "--quiet"]
        #expect(try mlpconv(["finetune", start, "--output", straight, "--epochs", "2"] + common).status == 0)
        #expect(try mlpconv(["finetune", start, "--output", once, "--epochs", "1"] + common).status == 0)
        // Resuming in place: OUT equals FILE.
        #expect(try mlpconv(["finetune", once, "--output", once, "--epochs", "1"] + common).status == 0)

        let a = try ModelFiles.load(straight), b = try ModelFiles.load(once)
        #expect(a.weights == b.weights)
        #expect(a.training?.optimizer == b.training?.optimizer)
        #expect(a.training?.randomState == b.training?.randomState)
        #expect(a.training?.history == b.training?.history)
        #expect(b.training?.epochsCompleted == 2)
    }

    /// A Keras model compiled with a setting mlpconv cannot train with (a frozen layer): inspect says why there is no training state,
    /// finetune refuses naming the setting, and with --loss/--optimizer it trains.
    @Test func kerasTrainingSetupNotRead() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/keras-reader/untrainable_frozen.h5").path
        let inspect = try mlpconv(["inspect", file])
        #expect(inspect.status == 0 && inspect.stdout.contains("no training state: the Keras file's was not read"))
        #expect(inspect.stdout.contains("frozen"))
        let scratch = try Scratch()
        let data = scratch.path("d.csv")
        try "a,b,c,d,label\n0,1,0,1,2\n1,0,1,0,0\n".write(toFile: data, atomically: true, encoding: .utf8)
        let refused = try mlpconv(["finetune", file, "--data", data, "--output", scratch.path("o.h5")])
        #expect(refused.status == 2 && refused.stderr.contains("frozen") && refused.stderr.contains("give --loss"), "\(refused.stderr)")
        let trained = try mlpconv(["finetune", file, "--data", data, "--output", scratch.path("o.h5"), "--quiet",
                                   "--loss", "categorical_crossentropy", "--optimizer", "adam"])
        #expect(trained.status == 0, "\(trained.stderr)")
    }

    /// A Keras checkpoint with BatchNormalization, fine-tuned through the command and written back as `.keras`: the
    /// same layers, the moving statistics updated; a mixed-precision file says that mlpconv trains in float32.
    @Test func kerasLayersThroughTheCommand() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/keras-layers")
        let scratch = try Scratch()
        let data = scratch.path("d.csv")
        var rows: [String] = []
        for row in 0..<12 {
            let features: [String] = (0..<6).map { column in String(Double((row * 7 + column * 3) % 11) / 8 - 0.6) }
            rows.append(features.joined(separator: ",") + ",\(row % 3)")
        }
        try rows.joined(separator: "\n").write(toFile: data, atomically: true, encoding: .utf8)
        let input = folder.appendingPathComponent("bn_relu_adam.keras").path, output = scratch.path("out.keras")
        let run = try mlpconv(["finetune", input, "--data", data, "--output", output, "--no-shuffle", "--batch-size", "4"])
        #expect(run.status == 0, "\(run.stderr)")
        let before = try ModelFiles.load(input), after = try ModelFiles.load(output)
        #expect(after.architecture == before.architecture)
        #expect(after.training?.optimizer.iterations == (before.training?.optimizer.iterations ?? 0) + 3)
        #expect(after.weights[1]["moving_mean"] != before.weights[1]["moving_mean"])

        let mixed = folder.appendingPathComponent("mixed_bfloat16_sgd.keras").path
        let regression = scratch.path("r.csv")
        let regressionRows: [String] = (0..<4).map { row in
            (0..<7).map { column in String(Double(row + column) / 10) }.joined(separator: ",")
        }
        try regressionRows.joined(separator: "\n").write(toFile: regression, atomically: true, encoding: .utf8)
        let mixedRun = try mlpconv(["finetune", mixed, "--data", regression, "--output", scratch.path("m.keras")])
        #expect(mixedRun.status == 0 && mixedRun.stderr.contains("mixed_bfloat16 policy computes in half precision"),
                "\(mixedRun.stderr)")
        #expect(try ModelFiles.load(scratch.path("m.keras")).metadata["keras_dtype_policy"] == "mixed_bfloat16")
    }

    @Test func progressSummaryAndJSON() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.h5"), out = scratch.path("out.json")
        #expect(try mlpconv(["init", model, "--inputs", "64", "--layer", "10:softmax", "--loss", "sparse_categorical_crossentropy"]).status == 0)
        let run = try mlpconv(["finetune", model, "--data", digitsCSV, "--output", out, "--epochs", "2", "--plot", scratch.path("curve.svg")])
        #expect(run.status == 0, "\(run.stderr)")
        // Not a terminal: one line per epoch on stderr.
        let progress = run.stderr.split(separator: "\n")
        #expect(progress.count == 2)
        #expect(progress.first?.hasPrefix("epoch 1/2 (1 in all)  loss ") == true)
        #expect(run.stdout.contains("trained 2 epochs (now 2 in all, step 114)"))
        #expect(run.stdout.contains("\nbefore: loss "))
        #expect(run.stdout.hasSuffix("wrote \(out)\n"))
        let svg = try String(contentsOfFile: scratch.path("curve.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.contains("<polyline") && svg.contains(">loss</text>") && svg.contains(">accuracy</text>"))

        let quiet = try mlpconv(["finetune", out, "--data", digitsCSV, "--output", out, "--quiet", "--json"])
        #expect(quiet.status == 0)
        #expect(quiet.stderr.isEmpty)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(quiet.stdout.utf8)) as? [String: Any])
        #expect(summary["epochs_completed"] as? Int == 3)
        #expect(summary["iterations"] as? Int == 171)
        #expect(Set(summary.keys).isSuperset(of: ["output", "epochs", "before", "after", "seconds", "samples_per_second", "last_epoch"]))
    }

    @Test func overridesAreAnnounced() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.h5")
        #expect(try mlpconv(["init", model, "--inputs", "64", "--layer", "10:softmax", "--loss", "sparse_categorical_crossentropy"]).status == 0)
        let changed = try mlpconv(["finetune", model, "--data", digitsCSV, "--output", model, "--optimizer", "sgd", "--learning-rate", "0.1"])
        #expect(changed.status == 0)
        #expect(changed.stderr.contains("mlpconv: optimizer changed from adam to sgd: starting with fresh optimizer state"))
        let document = try ModelFiles.load(model)
        #expect(document.training?.optimizer.config.kind == .sgd)
        #expect(document.training?.optimizer.config.learningRate == 0.1)

        // A new learning rate for the same optimizer keeps its step count.
        #expect(try mlpconv(["finetune", model, "--data", digitsCSV, "--output", model, "--learning-rate", "0.05", "--quiet"]).status == 0)
        let again = try ModelFiles.load(model)
        #expect(again.training?.optimizer.config.learningRate == 0.05)
        #expect(again.training?.optimizer.iterations == 2 * 57)
    }

    @Test func badInputs() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.h5")
        #expect(try mlpconv(["init", model, "--inputs", "5", "--layer", "2:softmax"]).status == 0)
        let wrongWidth = try mlpconv(["finetune", model, "--data", digitsCSV, "--output", scratch.path("o.h5")])
        #expect(wrongWidth.status == 2)
        #expect(wrongWidth.stderr.hasPrefix("mlpconv: \(digitsCSV): line 1: 65 columns; the model takes 5 inputs and 2 outputs"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("o.h5")))

        let bare = scratch.path("bare.json")
        let network = try Network<Float>(inputWidth: 64, layers: [LayerSpec(10, .softmax)], random: &RandomGeneratorBox.random)
        try ModelFiles.save(ModelDocument(network: network), to: bare, format: .json)
        let noLoss = try mlpconv(["finetune", bare, "--data", digitsCSV, "--output", bare])
        #expect(noLoss.status == 2)
        #expect(noLoss.stderr == "mlpconv: \(bare): the model has no loss or optimizer stored; give --loss (and optionally --optimizer, --learning-rate)\n")
        let withLoss = try mlpconv(["finetune", bare, "--data", digitsCSV, "--output", bare, "--loss", "sparse_categorical_crossentropy", "--quiet"])
        #expect(withLoss.status == 0)
        #expect(try ModelFiles.load(bare).training?.epochsCompleted == 1)

        let usage = try mlpconv(["finetune", model, "--data", digitsCSV, "--output", model, "--epochs", "0"])
        #expect(usage.status == 2)
        #expect(usage.stderr == "mlpconv: --epochs must be at least 1, got 0\n")
    }
}

/// finetune's work besides the epochs is timed as phases: in the summary once each (checkpoints summed), and in
/// --json's phase_seconds.
struct FinetunePhaseTests {
    @Test func fixedCostsAreReportedAsPhases() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.h5"), out = scratch.path("out.h5")
        #expect(try mlpconv(["init", model, "--inputs", "64", "--layer", "10:softmax", "--loss", "sparse_categorical_crossentropy"]).status == 0)
        let run = try mlpconv(["finetune", model, "--data", digitsCSV, "--output", out, "--epochs", "3",
                               "--checkpoint-every", "1", "--plot", scratch.path("curve.svg")])
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(run.stdout.split(separator: "\n").first { $0.hasPrefix("besides training: ") })
        let names = ["loading the model", "loading the data", "evaluating before training", "writing a checkpoint",
                     "saving", "evaluating after training", "plotting"]
        for name in names {
            #expect(line.components(separatedBy: name + " ").count == 2, "\(name) once in: \(line)")
        }
        let json = try mlpconv(["finetune", out, "--data", digitsCSV, "--output", out, "--quiet", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let phases = try #require(summary["phase_seconds"] as? [String: Double])
        #expect(Set(phases.keys) == ["loading the model", "loading the data", "evaluating before training", "saving",
                                     "evaluating after training"])
        #expect(phases.values.allSatisfy { $0 >= 0 })
    }
}

/// The restarted run after mlpconv chose OpenBLAS kernels itself (BLASKernelChoice): it checks a product in the
/// kernels it asked for and says in one line what it did; a user's own OPENBLAS_CORETYPE is never overridden.
struct BLASKernelChoiceTests {
    @Test func aSwitchedRunChecksAndSaysSo() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.json")
        let switched = try mlpconv(["init", model, "--inputs", "4", "--layer", "3:softmax"],
                                   environment: ["OPENBLAS_CORETYPE": "Haswell", "MLPCONV_OPENBLAS_SWITCHED_FROM": "Prescott"])
        #expect(switched.status == 0, "\(switched.stderr)")
        #expect(switched.stderr == "mlpconv: note: OpenBLAS chose its generic Prescott kernels for this CPU; using its Haswell kernels instead (set OPENBLAS_CORETYPE to choose yourself)\n")
        let chosenByUser = try mlpconv(["inspect", model], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        #expect(chosenByUser.status == 0 && chosenByUser.stderr.isEmpty, "\(chosenByUser.stderr)")
    }
}
