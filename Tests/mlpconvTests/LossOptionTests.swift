import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

/// `--loss` with the loss's settings: `--from-logits`, `--label-smoothing`, `--huber-delta`, on init, finetune and
/// evaluate; inspect shows them.
struct LossOptionTests {
    @Test func initAndInspectALogitsModel() throws {
        let scratch = try Scratch()
        let path = scratch.path("logits.h5")
        let created = try mlpconv(["init", path, "--inputs", "64", "--layer", "16:relu", "--layer", "10:linear",
                                   "--loss", "sparse_categorical_crossentropy", "--from-logits", "--seed", "2"])
        #expect(created.status == 0)
        #expect(created.stdout.contains("; loss sparse_categorical_crossentropy (from_logits), optimizer adam"), "\(created.stdout)")
        #expect(try ModelFiles.load(path).training?.loss == Loss(.sparseCategoricalCrossentropy, fromLogits: true))
        let text = try mlpconv(["inspect", path]).stdout
        #expect(text.contains("  loss        sparse_categorical_crossentropy (from_logits)\n"), "\(text)")
        let json = try mlpconv(["inspect", path, "--json"]).stdout
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let training = try #require(report["training"] as? [String: Any])
        #expect(training["loss"] as? String == "sparse_categorical_crossentropy")
        #expect(training["loss_settings"] as? [String: Bool] == ["from_logits": true])

        // Accuracy on logits is argmax, as for probabilities.
        let evaluated = try mlpconv(["evaluate", path, "--data", digitsCSV, "--json"])
        #expect(evaluated.status == 0)
        #expect(evaluated.stdout.contains("\"accuracy\""), "\(evaluated.stdout)")
    }

    @Test func finetuneChangesTheSettingsAndSaysSo() throws {
        let scratch = try Scratch()
        let path = scratch.path("m.json"), out = scratch.path("out.json")
        #expect(try mlpconv(["init", path, "--inputs", "64", "--layer", "10:linear", "--loss", "categorical_crossentropy",
                             "--from-logits"]).status == 0)
        let trained = try mlpconv(["finetune", path, "--data", digitsCSV, "--output", out, "--epochs", "1",
                                   "--label-smoothing", "0.1", "--quiet"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(try ModelFiles.load(out).training?.loss
                == Loss(.categoricalCrossentropy, fromLogits: true, labelSmoothing: 0.1))
        // --loss names a loss with its default settings.
        let plain = try mlpconv(["finetune", out, "--data", digitsCSV, "--output", out, "--epochs", "1",
                                 "--loss", "categorical_crossentropy", "--json"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stderr.contains("loss changed from categorical_crossentropy (from_logits, label_smoothing 0.1) to categorical_crossentropy"),
                "\(plain.stderr)")
        #expect(try ModelFiles.load(out).training?.loss == .categoricalCrossentropy)
    }

    @Test func settingsALossDoesNotHaveAreRefused() throws {
        let scratch = try Scratch()
        let path = scratch.path("m.h5")
        let noDelta = try mlpconv(["init", path, "--inputs", "2", "--layer", "1:linear", "--huber-delta", "2"])
        #expect(noDelta.status != 0)
        #expect(noDelta.stderr == "mlpconv: loss mean_squared_error has no delta (only huber has one)\n")
        let sparse = try mlpconv(["init", path, "--inputs", "2", "--layer", "3:linear", "--loss", "sparse_categorical_crossentropy",
                                  "--label-smoothing", "0.1"])
        #expect(sparse.stderr.hasPrefix("mlpconv: loss sparse_categorical_crossentropy has no label smoothing"), "\(sparse.stderr)")
        let range = try mlpconv(["init", path, "--inputs", "2", "--layer", "2:linear", "--loss", "bce", "--label-smoothing", "2"])
        #expect(range.stderr == "mlpconv: loss binary_crossentropy label_smoothing must be in [0, 1], got 2.0\n")
        #expect(try mlpconv(["init", path, "--inputs", "2", "--layer", "1:linear", "--loss", "huber", "--huber-delta", "0.5"]).status == 0)
        #expect(try ModelFiles.load(path).training?.loss == Loss(.huber, delta: 0.5))
    }
}
