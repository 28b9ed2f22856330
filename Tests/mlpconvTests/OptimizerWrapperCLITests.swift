import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

private let wrappersFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/keras-optimizer-wrappers")

/// `--optimizer NAME:KEY=VALUE,…` and the wrapper settings through the command.
struct OptimizerWrapperCLITests {
    @Test func initSetsTheWrappersAndInspectShowsThem() throws {
        let scratch = try Scratch()
        let path = scratch.path("m.json")
        let result = try mlpconv(["init", path, "--inputs", "4", "--layer", "3:softmax", "--optimizer",
                                  "sgd:momentum=0.9,use_ema=true,ema_overwrite_frequency=5,gradient_accumulation_steps=4,initial_scale=1024",
                                  "--learning-rate", "0.05"])
        #expect(result.status == 0, "\(result.stderr)")
        let config = try #require(try ModelFiles.load(path).training?.optimizer.config)
        #expect(config.kind == .sgd && config.momentum == 0.9 && config.learningRate == 0.05)
        #expect(config.useEMA && config.emaOverwriteFrequency == 5 && config.gradientAccumulationSteps == 4)
        #expect(config.dynamicLossScale == .init(initialScale: 1024, dynamicGrowthSteps: 2000))
        let inspect = try mlpconv(["inspect", path])
        #expect(inspect.stdout.contains("gradients accumulated over 4 steps") && inspect.stdout.contains("dynamic loss scale 1024.0"),
                "\(inspect.stdout)")
        #expect(inspect.stdout.contains("slots: average, gradient_accumulator, momentum"), "\(inspect.stdout)")
    }

    @Test("bad --optimizer settings are refused with the reason", arguments: [
        ("adam:gradient_accumulation_steps=1", "gradient_accumulation_steps: must be an integer ≥ 2"),
        ("adam:ema_momentum=1.5,use_ema=true", "ema_momentum: must be in [0, 1]"),
        ("adam:initial_scale=0", "initial_scale: must be a finite number > 0"),
        ("adam:loss_scale_factor=-1", "loss_scale_factor: must be a finite number > 0"),
        ("adam:rho=0.5", "adam has no setting \"rho\""),
        ("adam:use_ema", "\"use_ema\" is not KEY=VALUE"),
        ("adam:use_ema=maybe", "use_ema: expected a number, true, false or none"),
    ])
    func badSettings(spec: String, reason: String) throws {
        let scratch = try Scratch()
        let result = try mlpconv(["init", scratch.path("m.json"), "--inputs", "4", "--layer", "3:softmax", "--optimizer", spec])
        #expect(result.status == 2 && result.stderr.contains(reason), "\(result.stderr)")
        #expect(result.stderr.contains("--optimizer"), "\(result.stderr)")
    }

    /// `finetune --epochs 2` = `--epochs 1` twice through a file, with every wrapper on (finetune runs one fit per
    /// epoch, so each epoch ends with the moving averages in the weights).
    @Test("finetune resumes exactly with the wrappers", arguments: ["h5", "json", "keras"])
    func twoEpochsEqualOneEpochTwice(format: String) throws {
        let scratch = try Scratch()
        let start = scratch.path("start." + format)
        #expect(try mlpconv(["init", start, "--inputs", "64", "--layer", "16:tanh", "--layer", "10:softmax",
                             "--loss", "sparse_categorical_crossentropy", "--seed", "9", "--optimizer",
                             "adam:use_ema=true,ema_overwrite_frequency=7,gradient_accumulation_steps=3,initial_scale=4096,dynamic_growth_steps=5"]).status == 0)
        let straight = scratch.path("straight." + format), once = scratch.path("once." + format)
        let common = ["--data", digitsCSV, "--batch-size", "64", "--quiet"]
        #expect(try mlpconv(["finetune", start, "--output", straight, "--epochs", "2"] + common).status == 0)
        #expect(try mlpconv(["finetune", start, "--output", once, "--epochs", "1"] + common).status == 0)
        #expect(try mlpconv(["finetune", once, "--output", once, "--epochs", "1"] + common).status == 0)
        let a = try ModelFiles.load(straight), b = try ModelFiles.load(once)
        #expect(a.weights == b.weights)
        #expect(a.training?.optimizer == b.training?.optimizer)
        let optimizer = try #require(a.training?.optimizer)
        // 1797 rows in batches of 64: 29 steps an epoch, 58 in all: 19 updates, one step accumulated.
        #expect(optimizer.iterations == 58 && optimizer.scalar("dynamic_scale") > 4096)
        #expect(optimizer.slots.map(\.name) == ["average", "gradient_accumulator", "momentum", "velocity"])
    }

    /// `finetune` on Keras's LossScaleOptimizer checkpoint continues as Keras continued it.
    @Test func finetuneContinuesAKerasLossScaleCheckpoint() throws {
        struct Expected: Decodable {
            struct Model: Decodable {
                let name: String
                let train: Train
                let continuation: Continuation
            }
            struct Train: Decodable { let x: [Double]; let y: [Double] }
            struct Continuation: Decodable { let iterations: Int; let weights: [Weights] }
            struct Weights: Decodable { let kernel: [Double]; let bias: [Double]? }
            let models: [Model]
        }
        let data = try Data(contentsOf: wrappersFolder.appendingPathComponent("expected.json"))
        let model = try #require(try JSONDecoder().decode(Expected.self, from: data).models.first {
            $0.name == "loss_scale_optimizer_adam_tanh_linear" })
        let scratch = try Scratch()
        // 4 features and 3 targets per row.
        var csv = "f0,f1,f2,f3,t0,t1,t2\n"
        for row in 0..<(model.train.x.count / 4) {
            csv += (model.train.x[(row * 4)..<(row * 4 + 4)] + model.train.y[(row * 3)..<(row * 3 + 3)]).map { "\($0)" }
                .joined(separator: ",") + "\n"
        }
        try csv.write(toFile: scratch.path("d.csv"), atomically: true, encoding: .utf8)
        let out = scratch.path("out.keras")
        let result = try mlpconv(["finetune", wrappersFolder.appendingPathComponent("loss_scale_optimizer_adam_tanh_linear.keras").path,
                                  "--data", scratch.path("d.csv"), "--output", out, "--batch-size", "8", "--no-shuffle", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let trained = try ModelFiles.load(out)
        #expect(trained.training?.optimizer.iterations == model.continuation.iterations)
        #expect(trained.training?.optimizer.scalar("dynamic_scale") == 4096)
        for (weights, expected) in zip(trained.weights, model.continuation.weights) {
            let kernel = weights.kernel.values(as: Double.self)
            #expect(kernel.count == expected.kernel.count && zip(kernel, expected.kernel).allSatisfy { abs($0 - $1) <= 1e-5 })
        }
    }
}
