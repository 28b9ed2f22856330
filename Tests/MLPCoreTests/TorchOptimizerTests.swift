import Foundation
import Testing
@testable import MLPCore

/// torch.optim's SGD, Adam, AdamW, RMSprop and Adagrad against torch 2.15 itself:
/// fixtures/reference/torch_optimizer_updates.json (written by fixtures/generate/generate_torch_optimizers.py)
/// holds, per configuration and dtype, made-up gradients and torch's parameters and `state` after every step.
struct TorchOptimizerCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let optimizer: [String: FixtureValue]
    let dtype: String
    let shapes: [[Int]]
    let initial: [[Double]]
    let gradients: [[[Double]]]
    let after: [[[Double]]]
    /// Per step, torch's state entries by key (mlpconv's slot names), one tensor per parameter.
    let slotsAfter: [[String: [[Double]]]]
    var testDescription: String { name }
}

struct TorchOptimizerFixture: Decodable, Sendable {
    let defaults: [String: [String: FixtureValue]]
    let cases: [TorchOptimizerCase]
}

let torchOptimizerFixture: TorchOptimizerFixture? = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let data = try? Data(contentsOf: fixturesDirectory.appendingPathComponent("reference/torch_optimizer_updates.json"))
    else { return nil }
    return try? decoder.decode(TorchOptimizerFixture.self, from: data)
}()
let torchOptimizerCases = torchOptimizerFixture?.cases ?? []

/// How far mlpconv may be from torch: |mlpconv − torch| ≤ tolerance · max(|torch|, the tensor's largest |value|).
/// mlpconv follows torch's kernels' operations and their fused multiply-adds (OptimizerUpdate+Torch.swift), and
/// the parameters then agree to an ulp or two; but a one-ulp difference in a term that nearly cancels becomes many
/// ulps of a small result — RMSprop's momentum buffer `buffer·μ + g/avg` has terms near 10 and a sum near 1
/// (16 ulps of it) — so each value is measured against the scale of its tensor. A wrong formula is off by far more:
/// dropping `1 − dampening` or swapping ε's place shifts whole tensors by 1e-3 and more. 1e-6 in float32 (about 8
/// ulps of the tensor's scale), 1e-13 in float64.
func torchTolerance<T: MLPScalar>(_: T.Type) -> Double { T.self == Float.self ? 1e-6 : 1e-13 }

func expectClose<T: MLPScalar>(_ actual: [T], _ expected: [Double], tolerance: Double, _ what: @autoclosure () -> String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what()): \(actual.count) values, expected \(expected.count)",
            sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let scale = expected.map(abs).max() ?? 0
    var worst = 0.0, worstIndex = 0
    for (i, e) in expected.enumerated() {
        let difference = abs(Double(actual[i]) - e) / max(abs(e), scale, .leastNormalMagnitude)
        if !(difference <= worst) { worst = difference; worstIndex = i }
    }
    #expect(worst <= tolerance,
            "\(what()): \(Double(actual[worstIndex])) vs torch's \(expected[worstIndex]) at \(worstIndex) (relative \(worst))",
            sourceLocation: sourceLocation)
}

/// Linear Dense layers shaped as the fixture's parameters (as `linearNetwork`, in either precision).
func torchCaseNetwork<T: MLPScalar>(_ testCase: TorchOptimizerCase, as _: T.Type) throws -> Network<T> {
    let shapes = testCase.shapes, values = testCase.initial.map { $0.map { T($0) } }
    var layers: [Layer<T>] = []
    var index = 0
    while index < shapes.count {
        let kernel = shapes[index]
        try #require(kernel.count == 2)
        let hasBias = index + 1 < shapes.count && shapes[index + 1] == [kernel[1]]
        layers.append(try Layer.dense(
            name: "dense\(layers.count)", inputWidth: kernel[0], units: kernel[1], activation: .linear, useBias: hasBias,
            kernel: values[index], bias: hasBias ? values[index + 1] : nil))
        index += hasBias ? 2 : 1
    }
    return try Network(inputWidth: shapes[0][0], layers: layers)
}

/// Applies copies of `gradients` (apply uses them as scratch).
func applyCopies<T: MLPScalar>(_ gradients: [[Double]], _ optimizer: inout Optimizer<T>, _ network: inout Network<T>) {
    let buffers = gradients.map { values in
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: values.count)
        _ = buffer.initialize(from: values.map { T($0) })
        return buffer
    }
    defer { buffers.forEach { $0.deallocate() } }
    optimizer.apply(gradients: buffers, of: network.parameters, to: &network)
}

struct TorchOptimizerTests {
    @Test func everyTorchKindHasFloat32AndFloat64Cases() {
        let kinds = OptimizerKind.allCases.filter(\.isTorch).map(\.name)
        #expect(kinds.count == 5)
        for kind in kinds {
            for dtype in ["float32", "float64"] {
                let count = torchOptimizerCases.filter { $0.optimizer["name"]?.string == kind && $0.dtype == dtype }.count
                #expect(count >= 2, "\(kind) \(dtype): \(count) cases")
            }
        }
        #expect(torchOptimizerCases.allSatisfy { $0.gradients.count >= 5 && $0.after.count == $0.gradients.count })
    }

    @Test("parameters and state after every step are torch's", arguments: torchOptimizerCases)
    func updatesMatchTorch(testCase: TorchOptimizerCase) throws {
        if testCase.dtype == "float32" { try check(testCase, as: Float.self) } else { try check(testCase, as: Double.self) }
    }

    private func check<T: MLPScalar>(_ testCase: TorchOptimizerCase, as _: T.Type) throws {
        let name = testCase.name, tolerance = torchTolerance(T.self)
        let config = try optimizerConfig(testCase.optimizer)
        var network: Network<T> = try torchCaseNetwork(testCase, as: T.self)
        var optimizer = try Optimizer(config: config, network: network)
        let parameters = network.parameters
        try #require(parameters.map { network.shape(of: $0) } == testCase.shapes)
        for (step, gradients) in testCase.gradients.enumerated() {
            applyCopies(gradients, &optimizer, &network)
            #expect(optimizer.state.iterations == step + 1)
            for (p, parameter) in parameters.enumerated() {
                expectClose(network[parameter], testCase.after[step][p], tolerance: tolerance,
                            "\(name) step \(step + 1) \(network.name(of: parameter))")
            }
            let expectedSlots = testCase.slotsAfter[step]
            #expect(optimizer.state.slots.map(\.name) == config.slotNames)
            #expect(Set(expectedSlots.keys) == Set(config.slotNames), "\(name): torch's state keys \(expectedSlots.keys.sorted())")
            for slot in optimizer.state.slots {
                let expected = try #require(expectedSlots[slot.name], "\(name): torch has no state \(slot.name)")
                for (p, values) in slot.values.enumerated() {
                    expectClose(values, expected[p], tolerance: tolerance, "\(name) step \(step + 1) \(slot.name)[\(p)]")
                }
            }
        }
    }

    /// torch's defaults, as each optimizer reports them, are the configuration's.
    @Test func defaultsAreTorchs() throws {
        let defaults = try #require(torchOptimizerFixture?.defaults)
        #expect(defaults.count == 5)
        for (name, fixture) in defaults {
            let torch = try optimizerConfig(fixture)
            let kind = try #require(OptimizerKind(name: name))
            #expect(OptimizerConfig(kind) == torch, "\(name)")
            #expect(OptimizerConfig(kind).hyperparameters.map(\.key).sorted() == fixture.keys.filter { $0 != "name" }.sorted())
        }
        #expect(OptimizerConfig(.torchAdamW).torchWeightDecay == 0.01)
        #expect(OptimizerConfig(.torchAdamW).weightDecay == nil)
    }

    @Test func namesParseInTorchsSpelling() {
        #expect(OptimizerKind(name: "torch.optim.SGD") == .torchSGD)
        #expect(OptimizerKind(name: "torch.optim.AdamW") == .torchAdamW)
        #expect(OptimizerKind(name: "Torch_RMSprop") == .torchRMSprop)
        #expect(OptimizerKind(name: "torch.optim.Nadam") == nil)
        #expect(OptimizerKind.torchAdagrad.name == "torch_adagrad")
    }

    @Test func slotsAreTorchsStateKeys() throws {
        func slots(_ kind: OptimizerKind, _ settings: [String: Hyperparameter] = [:]) throws -> [String] {
            try OptimizerConfig(kind, hyperparameters: settings).slotNames
        }
        #expect(try slots(.torchSGD) == [])
        #expect(try slots(.torchSGD, ["momentum": .number(0.9)]) == ["momentum_buffer"])
        #expect(try slots(.torchAdam) == ["exp_avg", "exp_avg_sq"])
        #expect(try slots(.torchAdamW, ["amsgrad": .flag(true)]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"])
        #expect(try slots(.torchRMSprop, ["momentum": .number(0.5), "centered": .flag(true)])
                == ["square_avg", "momentum_buffer", "grad_avg"])
        #expect(try slots(.torchAdagrad) == ["sum"])
        let network = try linearNetwork(shapes: [[2, 1], [1]], values: [[0.5, -0.5], [0]])
        let state = OptimizerState(config: try OptimizerConfig(.torchAdagrad, hyperparameters: ["initial_accumulator_value": .number(0.25)]),
                                   network: network)
        #expect(state[slot: "sum"] == [[0.25, 0.25], [0.25]])
    }

    /// torch's ValueError checks, and Keras's base settings, each refused by key.
    @Test func torchRangesAndKerasSettingsAreRefusedByName() {
        func refusal(_ kind: OptimizerKind, _ settings: [String: Hyperparameter]) -> String? {
            do {
                _ = try OptimizerConfig(kind, hyperparameters: settings)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(refusal(.torchSGD, ["momentum": .number(-0.1)])?.contains("momentum: must be a finite number ≥ 0") == true)
        #expect(refusal(.torchSGD, ["momentum": .number(1.5)]) == nil)  // torch accepts it
        #expect(refusal(.torchSGD, ["nesterov": .flag(true)])?.contains("nesterov: requires a momentum and zero dampening") == true)
        #expect(refusal(.torchSGD, ["nesterov": .flag(true), "momentum": .number(0.9), "dampening": .number(0.1)]) != nil)
        #expect(refusal(.torchAdam, ["beta_2": .number(1)])?.contains("beta_2: must be in [0, 1)") == true)
        #expect(refusal(.torchAdam, ["epsilon": .number(-1)])?.contains("epsilon") == true)
        #expect(refusal(.torchAdamW, ["weight_decay": .number(-0.01)])?.contains("weight_decay") == true)
        #expect(refusal(.torchAdamW, ["weight_decay": .optionalNumber(nil)])?.contains("weight_decay: expected a number") == true)
        #expect(refusal(.torchRMSprop, ["alpha": .number(-1)])?.contains("alpha") == true)
        #expect(refusal(.torchAdagrad, ["lr_decay": .number(-1)])?.contains("lr_decay") == true)
        #expect(refusal(.torchAdagrad, ["initial_accumulator_value": .number(-1)])?.contains("initial_accumulator_value") == true)
        #expect(refusal(.torchAdam, ["learning_rate": .number(-1)])?.contains("learning_rate") == true)
        for key in ["clipnorm", "global_clipnorm", "clipvalue", "rho"] {
            #expect(refusal(.torchAdam, [key: .number(1)])?.contains("\(key): is a Keras optimizer setting") == true, "\(key)")
        }
        #expect(refusal(.torchAdam, ["use_ema": .flag(true)])?.contains("use_ema: is a Keras optimizer setting") == true)
        #expect(refusal(.torchSGD, ["gradient_accumulation_steps": .number(2)])?.contains("gradient_accumulation_steps") == true)
        #expect(refusal(.torchSGD, ["loss_scale_factor": .number(2)])?.contains("loss_scale_factor") == true)
        #expect(refusal(.torchSGD, ["initial_scale": .number(2)])?.contains("initial_scale") == true)
        #expect(refusal(.torchSGD, ["beta_1": .number(0.9)])?.contains("torch_sgd has no hyperparameter \"beta_1\"") == true)
        var config = OptimizerConfig(.torchAdam)
        config.weightDecay = 0.004
        #expect(throws: OptimizerError.self) { try config.validate() }
        config = OptimizerConfig(.torchAdam)
        config.schedule = .exponentialDecay(initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5)
        #expect(throws: OptimizerError.self) { try config.validate() }
    }

    /// State saved after some steps and restored into a new optimizer continues exactly (SGD's momentum buffer
    /// included, whose first step differs from the others).
    @Test("resuming from saved state is exact", arguments: torchOptimizerCases.filter { $0.dtype == "float32" })
    func resumeIsExact(testCase: TorchOptimizerCase) throws {
        let config = try optimizerConfig(testCase.optimizer)
        for split in [1, 3] {
            try expectResumeIsExact(testCase.name, network: try torchCaseNetwork(testCase, as: Float.self),
                                    steps: testCase.gradients.count, config: config, split: split) {
                applyCopies(testCase.gradients[$0], &$1, &$2)
            }
        }
    }
}
