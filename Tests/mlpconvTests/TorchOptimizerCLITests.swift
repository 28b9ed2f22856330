import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import mlpconv
@testable import MLPModelFiles
import TestSupport

/// The torch_* optimizers through the command line: init, inspect, finetune (resuming and switching), and a
/// Keras output, which carries the translated optimizer.
struct TorchOptimizerCLITests {
    @Test func initInspectAndFinetuneWithATorchOptimizer() throws {
        let scratch = try Scratch()
        let start = scratch.path("start.json")
        let made = try mlpconv(["init", start, "--inputs", "64", "--layer", "16:tanh", "--layer", "10:softmax",
                                "--loss", "sparse_categorical_crossentropy", "--optimizer", "torch_adam:amsgrad=true,weight_decay=0.001",
                                "--learning-rate", "0.01", "--seed", "3"])
        #expect(made.status == 0, "\(made.stderr)")
        let config = try #require(try ModelFiles.load(start).training?.optimizer.config)
        #expect(config.kind == .torchAdam && config.amsgrad && config.torchWeightDecay == 0.001 && config.learningRate == 0.01)

        let inspect = try mlpconv(["inspect", start])
        #expect(inspect.status == 0 && inspect.stdout.contains("torch_adam (learning_rate=0.01"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("maximize=false"), "\(inspect.stdout)")

        // Two epochs equal one epoch twice, through the file: the torch state resumes exactly.
        let common = ["--data", digitsCSV, "--batch-size", "128", "--quiet"]
        let straight = scratch.path("straight.h5"), once = scratch.path("once.h5")
        #expect(try mlpconv(["finetune", start, "--output", straight, "--epochs", "2"] + common).status == 0)
        #expect(try mlpconv(["finetune", start, "--output", once, "--epochs", "1"] + common).status == 0)
        #expect(try mlpconv(["finetune", once, "--output", once, "--epochs", "1"] + common).status == 0)
        let a = try ModelFiles.load(straight), b = try ModelFiles.load(once)
        #expect(a.weights == b.weights)
        #expect(a.training?.optimizer == b.training?.optimizer)
        let slots = a.training?.optimizer.slots.map(\.name)
        #expect(slots == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"])
        #expect(try mlpconv(["inspect", straight]).stdout.contains("slots: exp_avg, exp_avg_sq, max_exp_avg_sq"))

        // Switching to torch's SGD with momentum starts fresh state under torch's keys.
        let switched = scratch.path("sgd.json")
        let run = try mlpconv(["finetune", start, "--output", switched, "--epochs", "1",
                               "--optimizer", "torch.optim.SGD:momentum=0.9,nesterov=true", "--data", digitsCSV,
                               "--batch-size", "128"])
        #expect(run.status == 0 && run.stderr.contains("optimizer changed from torch_adam to torch_sgd"), "\(run.stderr)")
        let sgd = try #require(try ModelFiles.load(switched).training?.optimizer)
        #expect(sgd.config.kind == .torchSGD && sgd.config.nesterov && sgd.slots.map(\.name) == ["momentum_buffer"])

        // Keras holds the translation: torch's SGD momentum exactly.
        let keras = scratch.path("sgd.keras")
        #expect(try mlpconv(["convert", switched, keras]).status == 0)
        #expect(try ModelFiles.load(keras).training?.optimizer.config.kind == .sgd)
    }

    @Test func kerasSettingsOnATorchOptimizerAreRefusedByName() throws {
        let scratch = try Scratch()
        for setting in ["clipnorm=1", "use_ema=true", "rho=0.9"] {
            let key = String(setting.prefix { $0 != "=" })
            let run = try mlpconv(["init", scratch.path("m.json"), "--inputs", "4", "--layer", "2:softmax",
                                   "--loss", "categorical_crossentropy", "--optimizer", "torch_rmsprop:" + setting])
            #expect(run.status != 0 && run.stderr.contains("\(key): is a Keras optimizer setting"), "\(run.stderr)")
        }
        let unknown = try mlpconv(["init", scratch.path("m.json"), "--inputs", "4", "--layer", "2:softmax",
                                   "--loss", "categorical_crossentropy", "--optimizer", "torch_sgd:beta_1=0.9"])
        #expect(unknown.status != 0 && unknown.stderr.contains("torch_sgd has no setting \"beta_1\""), "\(unknown.stderr)")
    }
}
