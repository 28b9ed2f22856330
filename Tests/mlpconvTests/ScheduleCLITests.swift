import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

private let schedulesFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/keras-schedules")

/// `init` with `--lr-schedule`, returning the schedule the written file holds.
private func initialized(_ scratch: Scratch, _ extra: [String]) throws -> (CommandResult, LearningRateSchedule?) {
    let path = scratch.path("m.json")
    let result = try mlpconv(["init", path, "--inputs", "4", "--layer", "3:softmax", "--force"] + extra)
    let schedule = result.status == 0 ? try ModelFiles.load(path).training?.optimizer.config.schedule : nil
    return (result, schedule)
}

struct ScheduleCLITests {
    @Test func initSelectsASchedule() throws {
        let scratch = try Scratch()
        let (result, schedule) = try initialized(scratch, [
            "--optimizer", "sgd", "--learning-rate", "0.05",
            "--lr-schedule", "exponential_decay:decay_steps=100,decay_rate=0.9,staircase=true"])
        #expect(result.status == 0, "\(result.stderr)")
        // initial_learning_rate comes from --learning-rate.
        #expect(schedule == .exponentialDecay(initialLearningRate: 0.05, decaySteps: 100, decayRate: 0.9, staircase: true))
        #expect(result.stdout.contains("exponential_decay(initial_learning_rate=0.05, decay_steps=100"), "\(result.stdout)")

        let (listed, piecewise) = try initialized(scratch, [
            "--lr-schedule", "piecewise_constant_decay:boundaries=100/200,values=0.1/0.01/0.001", "--json"])
        #expect(listed.status == 0 && listed.stdout.contains("\"lr_schedule\": \"piecewise_constant_decay("), "\(listed.stdout)")
        #expect(piecewise == .piecewiseConstantDecay(boundaries: [100, 200], values: [0.1, 0.01, 0.001]))

        let (_, cosine) = try initialized(scratch, [
            "--lr-schedule", "cosine_decay:initial_learning_rate=0,decay_steps=50,warmup_target=0.01,warmup_steps=5"])
        #expect(cosine == .cosineDecay(initialLearningRate: 0, decaySteps: 50, warmupTarget: 0.01, warmupSteps: 5))
    }

    @Test("bad --lr-schedule values are refused with the reason", arguments: [
        ("linear:decay_steps=3", "unknown schedule \"linear\"; supported: constant, exponential_decay"),
        ("exponential_decay:decay_step=3,decay_rate=0.5", "exponential_decay has no parameter \"decay_step\"; it takes initial_learning_rate, decay_steps"),
        ("exponential_decay:decay_steps=three,decay_rate=0.5", "decay_steps: expected a number, got \"three\""),
        ("exponential_decay:decay_steps=3,decay_steps=4,decay_rate=0.5", "decay_steps is given twice"),
        ("exponential_decay:decay_steps", "\"decay_steps\" is not KEY=VALUE"),
        ("inverse_time_decay:decay_steps=3,decay_rate=0.5,staircase=yes", "staircase: expected true or false, got \"yes\""),
        ("exponential_decay:decay_steps=10", "--lr-schedule: exponential_decay needs decay_rate"),
        ("cosine_decay:decay_steps=0", "--lr-schedule: cosine_decay decay_steps must be a finite number > 0, got 0.0"),
        ("piecewise_constant_decay:boundaries=10,values=0.1", "needs one value more than boundaries"),
    ])
    func badSpecification(specification: String, expected: String) throws {
        let (result, _) = try initialized(try Scratch(), ["--lr-schedule", specification])
        #expect(result.status != 0 && result.stderr.contains(expected), "\(result.stderr)")
    }

    @Test func kerasOwnNaNIsWarnedAbout() throws {
        let (result, schedule) = try initialized(try Scratch(), ["--lr-schedule", "polynomial_decay:decay_steps=3,power=0.5"])
        #expect(result.status == 0 && schedule != nil)
        #expect(result.stderr.contains("NaN learning rate from step 3 on, as Keras computes it"), "\(result.stderr)")
    }

    /// `finetune --no-shuffle` on a Keras checkpoint trained with a schedule continues as Keras did.
    @Test(arguments: ["sgd_piecewise.keras", "sgd_piecewise.h5"])
    func finetuneContinuesAsKeras(file: String) throws {
        struct Expected: Decodable {
            struct Model: Decodable {
                let name: String
                let train: KerasTrain
                let continuation: Continuation
            }
            struct KerasTrain: Decodable { let x: [Double]; let y: [Double] }
            struct Continuation: Decodable { let iterations: Int; let weights: [Weights] }
            struct Weights: Decodable { let kernel: [Double]; let bias: [Double]? }
            let models: [Model]
        }
        let data = try Data(contentsOf: schedulesFolder.appendingPathComponent("expected.json"))
        let model = try #require(try JSONDecoder().decode(Expected.self, from: data).models.first { $0.name == "sgd_piecewise" })
        let scratch = try Scratch()
        // 5 features and a 0/1 target per row.
        var csv = "f0,f1,f2,f3,f4,y\n"
        for row in 0..<model.train.y.count {
            csv += (model.train.x[(row * 5)..<(row * 5 + 5)].map { "\($0)" } + ["\(model.train.y[row])"]).joined(separator: ",") + "\n"
        }
        try csv.write(toFile: scratch.path("d.csv"), atomically: true, encoding: .utf8)
        let out = scratch.path("out.json")
        let result = try mlpconv(["finetune", schedulesFolder.appendingPathComponent(file).path, "--data", scratch.path("d.csv"),
                                  "--output", out, "--batch-size", "8", "--no-shuffle", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let trained = try ModelFiles.load(out)
        #expect(trained.training?.optimizer.iterations == model.continuation.iterations)
        #expect(trained.training?.optimizer.config.schedule == .piecewiseConstantDecay(boundaries: [3, 9], values: [0.2, 0.1, 0.05]))
        for (weights, expected) in zip(trained.weights, model.continuation.weights) {
            let kernel = weights.kernel.values(as: Double.self)
            #expect(zip(kernel, expected.kernel).allSatisfy { abs($0 - $1) <= 1e-5 } && kernel.count == expected.kernel.count)
            if let bias = weights.bias, let expectedBias = expected.bias {
                #expect(zip(bias.values(as: Double.self), expectedBias).allSatisfy { abs($0 - $1) <= 1e-5 })
            }
        }
    }

    @Test func finetuneChangesOrRemovesTheSchedule() throws {
        let scratch = try Scratch()
        let (created, _) = try initialized(scratch, ["--lr-schedule", "exponential_decay:decay_steps=10,decay_rate=0.5"])
        #expect(created.status == 0)
        let data = try sampleDataFile(scratch, rows: 8)
        func finetune(_ extra: [String], from input: String = "m.json", to output: String = "out.json") throws -> (CommandResult, OptimizerConfig?) {
            let out = scratch.path(output)
            // out.json is written again and again: replacing an existing file takes --force.
            let result = try mlpconv(["finetune", scratch.path(input), "--data", data, "--output", out, "--force"] + extra)
            return (result, result.status == 0 ? try ModelFiles.load(out).training?.optimizer.config : nil)
        }
        // 8 rows in one batch: one step per epoch.
        let (kept, keptConfig) = try finetune([], to: "stepped.json")
        #expect(kept.status == 0 && keptConfig?.schedule?.kind == .exponentialDecay, "\(kept.stderr)")

        let (changed, changedConfig) = try finetune(["--lr-schedule", "inverse_time_decay:decay_steps=5,decay_rate=1"])
        #expect(changed.stderr.contains("learning rate follows inverse_time_decay(initial_learning_rate=0.001"), "\(changed.stderr)")
        #expect(changedConfig?.schedule == .inverseTimeDecay(initialLearningRate: 0.001, decaySteps: 5, decayRate: 1))

        let (constant, constantConfig) = try finetune(["--learning-rate", "0.02"])
        #expect(constant.stderr.contains("replaced by a constant rate"), "\(constant.stderr)")
        #expect(constantConfig?.schedule == nil && constantConfig?.learningRate == 0.02)

        // `constant` freezes the rate the schedule had reached: step 1 of exponential_decay(0.001, 10, 0.5).
        let (frozen, frozenConfig) = try finetune(["--lr-schedule", "constant"], from: "stepped.json")
        #expect(frozen.status == 0 && frozenConfig?.schedule == nil)
        let reached = LearningRateSchedule.exponentialDecay(initialLearningRate: 0.001, decaySteps: 10, decayRate: 0.5)
            .learningRate(atStep: 1, as: Float.self)
        #expect(frozenConfig?.learningRate == Double(reached))
    }

    @Test func inspectShowsTheScheduleAndTheRateNow() throws {
        let file = schedulesFolder.appendingPathComponent("adam_cosine_warmup.keras").path
        let text = try mlpconv(["inspect", file])
        #expect(text.status == 0)
        #expect(text.stdout.contains("learning_rate=schedule"), "\(text.stdout)")
        #expect(text.stdout.contains("schedule    cosine_decay(initial_learning_rate=0, decay_steps=8, alpha=0.1, warmup_target=0.02, warmup_steps=3)"),
                "\(text.stdout)")
        let schedule = LearningRateSchedule.cosineDecay(initialLearningRate: 0, decaySteps: 8, alpha: 0.1, warmupTarget: 0.02, warmupSteps: 3)
        let rate = schedule.learningRate(atStep: 8, as: Float.self)
        #expect(text.stdout.contains("rate now    \(rate) at step 8"), "\(text.stdout)")

        let json = try mlpconv(["inspect", file, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let training = try #require(object["training"] as? [String: Any])
        let optimizer = try #require(training["optimizer"] as? [String: Any])
        let hyperparameters = try #require(optimizer["hyperparameters"] as? [String: Any])
        let learningRate = try #require(hyperparameters["learning_rate"] as? [String: Any])
        #expect(learningRate["schedule"] as? String == "cosine_decay")
        #expect((learningRate["rate_now"] as? NSNumber).map { Float($0.doubleValue) } == rate)
        #expect((learningRate["step"] as? NSNumber)?.intValue == 8)
    }
}
