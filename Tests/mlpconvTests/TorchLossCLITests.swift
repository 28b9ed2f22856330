import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

/// torch's losses through the command: `finetune --loss CrossEntropyLoss` on class indices and on probabilities,
/// `--loss nll_loss` on a log_softmax model, `--smooth-l1-beta`, and Keras files refusing the torch-only losses.
struct TorchLossCLITests {
    /// Rows of 4 features and a class of 3, on a fixed pattern (no randomness to seed).
    private static let rows: [(features: [Double], label: Int)] = (0..<12).map { row in
        ((0..<4).map { column in Double((row * 5 + column * 3) % 7) / 4 - 0.75 }, row % 3)
    }

    private static func write(_ path: String, targets: (Int) -> [Double]) throws {
        let text = rows.map { row in
            (row.features + targets(row.label)).map { String($0) }.joined(separator: ",")
        }.joined(separator: "\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private static func oneHot(_ label: Int) -> [Double] { (0..<3).map { $0 == label ? 1 : 0 } }

    @Test func crossEntropyLossTrainsOnClassIndicesAndOnProbabilities() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.json")
        let created = try mlpconv(["init", model, "--inputs", "4", "--layer", "6:tanh", "--layer", "3:linear",
                                   "--loss", "CrossEntropyLoss", "--optimizer", "sgd", "--seed", "5"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try ModelFiles.load(model).training?.loss == Loss(.crossEntropy))

        let indices = scratch.path("indices.csv"), probabilities = scratch.path("probabilities.csv")
        let soft = scratch.path("soft.csv")
        try Self.write(indices) { [Double($0)] }
        try Self.write(probabilities, targets: Self.oneHot)
        try Self.write(soft) { label in Self.oneHot(label).map { 0.8 * $0 + 0.2 / 3 } }
        let common = ["--epochs", "2", "--batch-size", "4", "--no-shuffle", "--quiet"]
        for (data, output) in [(indices, "a.json"), (probabilities, "b.json"), (soft, "c.json")] {
            let run = try mlpconv(["finetune", model, "--data", data, "--output", scratch.path(output)] + common)
            #expect(run.status == 0, "\(data): \(run.stderr)")
        }
        // A class index and its one-hot probability row are the same target, to the bit.
        let a = try ModelFiles.load(scratch.path("a.json")), b = try ModelFiles.load(scratch.path("b.json"))
        #expect(a.weights == b.weights)
        #expect(a.training?.history == b.training?.history)
        // Soft probabilities are a different target, so they train to other weights.
        #expect(try ModelFiles.load(scratch.path("c.json")).weights != a.weights)
        #expect(try ModelFiles.load(model).weights != a.weights)

        // Keras's sparse loss keeps its meaning: it still refuses one target column per output.
        let sparse = try mlpconv(["finetune", model, "--data", probabilities, "--output", scratch.path("d.json"),
                                  "--loss", "sparse_categorical_crossentropy", "--from-logits", "--quiet"])
        #expect(sparse.status != 0, "\(sparse.stdout)")
    }

    /// NLL on log_softmax outputs is cross-entropy on the logits: the log_softmax model trained with nll_loss
    /// lands where the same linear model trained with CrossEntropyLoss does (up to rounding: the two compute
    /// softmax − onehot in different orders).
    @Test func nllLossOnALogSoftmaxModelTrainsAsCrossEntropyOnLogits() throws {
        let scratch = try Scratch()
        let logSoftmax = scratch.path("ls.h5"), linear = scratch.path("lin.h5")
        #expect(try mlpconv(["init", logSoftmax, "--inputs", "4", "--layer", "6:tanh", "--layer", "3:log_softmax",
                             "--loss", "nll_loss", "--optimizer", "sgd", "--seed", "8"]).status == 0)
        #expect(try mlpconv(["init", linear, "--inputs", "4", "--layer", "6:tanh", "--layer", "3:linear",
                             "--loss", "CrossEntropyLoss", "--optimizer", "sgd", "--seed", "8"]).status == 0)
        #expect(try ModelFiles.load(logSoftmax).weights == ModelFiles.load(linear).weights)
        #expect(try ModelFiles.load(logSoftmax).training?.loss == Loss(.nllLoss))
        let data = scratch.path("labels.csv")
        try Self.write(data) { [Double($0)] }
        let common = ["--data", data, "--epochs", "3", "--batch-size", "4", "--no-shuffle", "--quiet"]
        let nll = try mlpconv(["finetune", logSoftmax, "--output", scratch.path("nll.h5")] + common)
        let crossEntropy = try mlpconv(["finetune", linear, "--output", scratch.path("ce.h5")] + common)
        #expect(nll.status == 0 && crossEntropy.status == 0, "\(nll.stderr) \(crossEntropy.stderr)")
        let a = try ModelFiles.load(scratch.path("nll.h5")), b = try ModelFiles.load(scratch.path("ce.h5"))
        let before = try ModelFiles.load(logSoftmax)
        for (index, layer) in a.weights.enumerated() {
            for (name, tensor) in layer.tensors {
                let x = tensor.float64Values, y = b.weights[index][name]?.float64Values ?? []
                let moved = zip(x, before.weights[index][name]?.float64Values ?? []).map { abs($0 - $1) }.max() ?? 0
                #expect(moved > 1e-3, "\(name) should have trained")
                #expect(zip(x, y).map { abs($0 - $1) }.max() ?? 1 <= 1e-5, "\(name): \(x) vs \(y)")
            }
        }
        let losses = a.training?.history.compactMap { $0.metrics["loss"] } ?? []
        let reference = b.training?.history.compactMap { $0.metrics["loss"] } ?? []
        #expect(losses.count == 3 && zip(losses, reference).allSatisfy { abs($0 - $1) <= 1e-5 * $1 }, "\(losses) \(reference)")
        // Labels only: a probability per output is refused, as for Keras's sparse loss.
        let wide = scratch.path("wide.csv")
        try Self.write(wide, targets: Self.oneHot)
        let refused = try mlpconv(["finetune", logSoftmax, "--data", wide, "--output", scratch.path("x.h5"), "--quiet"])
        #expect(refused.status != 0 && refused.stderr.contains("expected 5 (features and a class label)"), "\(refused.stderr)")
    }

    @Test func smoothL1BetaIsStoredAndKerasRefusesTorchOnlyLosses() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.h5")
        let created = try mlpconv(["init", model, "--inputs", "4", "--layer", "2:linear", "--loss", "SmoothL1Loss",
                                   "--smooth-l1-beta", "0.5"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try ModelFiles.load(model).training?.loss == Loss(.smoothL1, beta: 0.5))
        let inspected = try mlpconv(["inspect", model]).stdout
        #expect(inspected.contains("smooth_l1_loss (beta 0.5)"), "\(inspected)")
        // β = 1 is Huber.
        let huber = scratch.path("h.json")
        #expect(try mlpconv(["init", huber, "--inputs", "4", "--layer", "2:linear", "--loss", "SmoothL1Loss"]).status == 0)
        #expect(try ModelFiles.load(huber).training?.loss == .huber)
        // BCEWithLogitsLoss is Keras's binary cross-entropy on logits.
        let bce = scratch.path("bce.json")
        #expect(try mlpconv(["init", bce, "--inputs", "4", "--layer", "2:linear", "--loss", "BCEWithLogitsLoss"]).status == 0)
        #expect(try ModelFiles.load(bce).training?.loss == Loss(.binaryCrossentropy, fromLogits: true))

        let refused = try mlpconv(["convert", model, scratch.path("m.keras")])
        #expect(refused.status != 0 && refused.stderr.contains("smooth_l1_loss (beta 0.5) has no Keras equivalent"),
                "\(refused.stderr)")
        #expect(try mlpconv(["convert", model, scratch.path("m.keras"), "--drop-optimizer"]).status == 0)
    }
}
