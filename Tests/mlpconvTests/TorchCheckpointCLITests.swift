import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing

private let torchFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures")

/// PyTorch checkpoints through the command line: torch's checkpoint → finetune → back to torch, with torch's own
/// continuation as the reference, and Keras → .pt with the optimizer carried over.
struct TorchCheckpointCLITests {
    /// A checkpoint torch wrote after 6 Adam steps, continued by `finetune` for one epoch as torch continued it
    /// (fixtures/torch/expected.json): every weight within 1e-5, the output a checkpoint torch loads (CI checks that).
    @Test func finetuneContinuesATorchCheckpointAsTorchDoes() throws {
        let expected = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: torchFixtures.appendingPathComponent("torch/expected.json"))) as? [String: Any])
        let entry = try #require((expected["models"] as? [[String: Any]])?.first { $0["file"] as? String == "adam_gelu_ce.pt" })
        let continuation = try #require((entry["optimizer"] as? [String: Any])?["continuation"] as? [String: Any])
        let inputs = try #require(continuation["inputs"] as? [[Double]])
        let labels = try #require(continuation["targets"] as? [Int])
        let scratch = try Scratch()
        let data = scratch.path("train.csv")
        let rows = zip(inputs, labels).map { row, label in (row.map { "\($0)" } + ["\(label)"]).joined(separator: ",") }
        try (rows.joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)
        let checkpoint = torchFixtures.appendingPathComponent("torch/adam_gelu_ce.pt").path
        let output = scratch.path("continued.pt")

        // Without the loss the optimizer state cannot be used: the message says which flag supplies it.
        let noLoss = try mlpconv(["inspect", checkpoint, "--activations", "GELU,GELU,Identity"])
        #expect(noLoss.status == 0 && noLoss.stdout.contains("give --loss"), "\(noLoss.stdout)")

        let run = try mlpconv(["finetune", checkpoint, "--data", data, "--output", output, "--epochs", "1",
                               "--batch-size", "4", "--no-shuffle", "--loss", "CrossEntropyLoss",
                               "--activations", "GELU,GELU,Identity", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let continued = try ModelFiles.load(output)
        #expect(continued.training?.optimizer.config.kind == .torchAdam)
        #expect(continued.training?.optimizer.iterations == 9)
        let weightsAfter = try #require(continuation["weights_after"] as? [String: Any])
        // Dense layers in order; torch's Linear modules are 0, 2 and 4.
        for (index, module) in [0, 2, 4].enumerated() {
            let kernel = try #require(continued.weights[index]["kernel"]).float32Values
            let torchWeight = try #require(weightsAfter["\(module).weight"] as? [[Double]])
            let outputs = torchWeight.count, inputsCount = torchWeight[0].count
            var difference = 0.0
            for o in 0..<outputs { for i in 0..<inputsCount { difference = max(difference, abs(Double(kernel[i * outputs + o]) - torchWeight[o][i])) } }
            let bias = try #require(continued.weights[index]["bias"]).float32Values
            let torchBias = try #require(weightsAfter["\(module).bias"] as? [Double])
            for (a, b) in zip(bias, torchBias) { difference = max(difference, abs(Double(a) - b)) }
            #expect(difference <= 1e-5, "layer \(module): \(difference)")
        }
        // The continued checkpoint records its loss and activations: it reads without flags.
        let inspect = try mlpconv(["inspect", output])
        #expect(inspect.status == 0 && inspect.stdout.contains("torch: Sequential(Linear(6, 16), GELU(), Linear(16, 8), GELU(), Linear(8, 2))"),
                "\(inspect.stdout)")
    }

    /// Keras → torch checkpoint: SGD's momentum carries over exactly, Adam's state with the ε difference named in
    /// one line; an optimizer torch's family lacks in mlpconv is left out, saying so.
    @Test func kerasToTorchCarriesTheOptimizerAndSaysHow() throws {
        let scratch = try Scratch()
        let cases: [(file: String, note: String, kind: OptimizerKind?)] = [
            ("keras/sgd_nesterov_tanh_sigmoid.keras", "optimizer sgd carried over to torch_sgd exactly", .torchSGD),
            ("keras/adam_gelu_softmax_sparse.keras", "optimizer adam carried over to torch_adam, state kept; the rules differ: Keras adds epsilon", .torchAdam),
            ("keras-optimizers/adamax_tanh_linear.keras", "training state left out: Keras's adamax has no torch.optim counterpart", nil),
        ]
        for (file, note, kind) in cases {
            let output = scratch.path(URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent + ".pt")
            let run = try mlpconv(["convert", torchFixtures.appendingPathComponent(file).path, output])
            #expect(run.status == 0 && run.stderr.contains(note), "\(file): \(run.stderr)")
            #expect(try ModelFiles.load(output).training?.optimizer.config.kind == kind, "\(file)")
        }
        // And back: torch's Adam to Keras, the difference named the other way.
        let back = try mlpconv(["convert", scratch.path("adam_gelu_softmax_sparse.pt"), scratch.path("back.keras")])
        #expect(back.status == 0 && back.stderr.contains("optimizer torch_adam carried over to adam, state kept"), "\(back.stderr)")
    }

    /// torch → Keras: the loss given for the torch checkpoint becomes Keras's form of it, the optimizer Keras's.
    @Test func torchToKerasWithTheLossGiven() throws {
        let scratch = try Scratch()
        let output = scratch.path("from-torch.keras")
        let run = try mlpconv(["convert", torchFixtures.appendingPathComponent("torch/adam_gelu_ce.pt").path, output,
                               "--activations", "gelu,gelu,linear", "--loss", "CrossEntropyLoss"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("loss cross_entropy (torch's CrossEntropyLoss) written as Keras's sparse_categorical_crossentropy with from_logits"))
        #expect(run.stderr.contains("optimizer torch_adam carried over to adam, state kept"))
        let keras = try ModelFiles.load(output)
        #expect(keras.training?.loss == (try Loss(.sparseCategoricalCrossentropy, fromLogits: true)))
        #expect(keras.training?.optimizer.config.kind == .adam && keras.training?.optimizer.iterations == 6)
        // Without --loss the state cannot be kept: the output says so.
        let plain = try mlpconv(["convert", torchFixtures.appendingPathComponent("torch/adam_gelu_ce.pt").path,
                                 scratch.path("plain.keras"), "--activations", "gelu,gelu,linear"])
        #expect(plain.status == 0 && plain.stdout.contains("no training state"), "\(plain.stdout)")
    }

    @Test func hostileCheckpointsExitWithTwoAndAReason() throws {
        let path = torchFixtures.appendingPathComponent("torch/bad/pickle_os_system.pt").path
        for command in [["inspect"], ["predict", "--data", digitsCSV], ["convert", "--to", "json"]] {
            var arguments = [command[0], path] + command.dropFirst()
            if command[0] == "convert" { arguments.append(FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID()).json").path) }
            let run = try mlpconv(arguments)
            #expect(run.status == 2 && run.stderr.contains("disallowed global os.system"), "\(command): \(run.stderr)")
        }
    }
}
