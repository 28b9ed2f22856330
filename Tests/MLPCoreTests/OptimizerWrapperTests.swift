import Foundation
import Testing
@testable import MLPCore

/// Keras's base-optimizer settings (use_ema, ema_overwrite_frequency, gradient_accumulation_steps,
/// loss_scale_factor) and its LossScaleOptimizer against Keras, bit for bit:
/// fixtures/reference/optimizer_updates_wrappers.json (fixtures/generate/generate_keras_optimizer_wrappers.py) has
/// the form of optimizer_updates_more.json. Its gradients are those of the unscaled loss, some non-finite (written
/// "NaN"/"Infinity") for the loss-scale cases; `final_iterations` is Keras's `_iterations` counter.
let wrapperUpdateCases: [MoreOptimizerUpdateCase] = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
        positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    guard let data = try? Data(contentsOf: fixturesDirectory.appendingPathComponent("reference/optimizer_updates_wrappers.json")),
          let file = try? decoder.decode(FixtureFile<MoreOptimizerUpdateCase>.self, from: data) else { return [] }
    return file.cases
}()

/// The fixture's optimizer object without its `loss_scale_optimizer` marker (the wrapper's settings,
/// `initial_scale` and `dynamic_growth_steps`, are hyperparameter keys of their own).
func wrapperConfig(_ fixture: [String: FixtureValue]) throws -> OptimizerConfig {
    var fixture = fixture
    fixture["loss_scale_optimizer"] = nil
    return try optimizerConfig(fixture)
}

struct OptimizerWrapperTests {
    @Test func everySettingHasUpdateCases() throws {
        try #require(wrapperUpdateCases.count == 9, "fixtures/reference/optimizer_updates_wrappers.json did not load")
        let configs = try wrapperUpdateCases.map { try wrapperConfig($0.optimizer) }
        #expect(configs.contains { $0.useEMA && $0.emaOverwriteFrequency == nil })
        #expect(configs.contains { $0.useEMA && $0.emaOverwriteFrequency != nil })
        #expect(configs.contains { $0.gradientAccumulationSteps == 3 })
        #expect(configs.contains { $0.lossScaleFactor == 128 })
        #expect(configs.filter { $0.dynamicLossScale != nil }.count == 2)
        // Some steps skipped for non-finite gradients, and the accumulators saved mid-way (7 steps, 3 per update).
        #expect(wrapperUpdateCases.contains { $0.gradients.joined().joined().contains { !$0.isFinite } })
    }

    @Test("weights after each step, the final slots and scalars are Keras's, bit for bit", arguments: wrapperUpdateCases)
    func updatesMatchKerasBitForBit(testCase: MoreOptimizerUpdateCase) throws {
        let name = testCase.name
        let config = try wrapperConfig(testCase.optimizer)
        var network = try linearNetwork(shapes: testCase.shapes, values: testCase.initial)
        var optimizer = try Optimizer(config: config, network: network)
        let parameters = network.parameters
        for (step, (gradients, expected)) in zip(testCase.gradients, testCase.after).enumerated() {
            applyCopies(gradients, &optimizer, &network)
            for (p, parameter) in parameters.enumerated() {
                expectBitIdentical(network[parameter], expected[p], "\(name) step \(step + 1) \(network.name(of: parameter))")
            }
        }
        #expect(optimizer.state.iterations == testCase.finalIterations, "\(name)")
        #expect(Set(testCase.finalSlots.keys) == Set(config.slotNames), "\(name): slot names")
        for slot in optimizer.state.slots {
            let expected = try #require(testCase.finalSlots[slot.name], "\(name): Keras has no slot \(slot.name)")
            for (p, values) in slot.values.enumerated() {
                expectBitIdentical(values, expected[p], "\(name) slot \(slot.name)[\(p)]")
            }
        }
        #expect(Set(testCase.finalScalars.keys) == Set(config.scalarNames), "\(name): scalar names")
        for scalar in optimizer.state.scalars {
            let expected = try #require(testCase.finalScalars[scalar.name], "\(name): Keras has no \(scalar.name)")
            #expect(scalar.value.bitPattern == expected.bitPattern, "\(name) \(scalar.name): \(scalar.value) vs Keras's \(expected)")
        }
    }

    /// Saved mid-way (accumulators half full, a halved scale, an average) and restored: the same bits as going on.
    @Test("resuming from saved state is exact", arguments: wrapperUpdateCases)
    func resumeIsExact(testCase: MoreOptimizerUpdateCase) throws {
        try expectResumeIsExact(testCase, config: try wrapperConfig(testCase.optimizer), split: 4)
    }

    @Test func slotsAndScalarsAreInKerasOrder() throws {
        var config = OptimizerConfig(.adam)
        config.useEMA = true
        config.gradientAccumulationSteps = 2
        #expect(config.slotNames == ["average", "gradient_accumulator", "momentum", "velocity"])
        var nadam = OptimizerConfig(.nadam)
        nadam.dynamicLossScale = .init(initialScale: 8, dynamicGrowthSteps: 3)
        #expect(nadam.scalarNames == ["step_counter", "dynamic_scale", "u_product"])
        #expect(nadam.initialScalars.map(\.value) == [0, 8, 1])
        // Plain optimizers list exactly the hyperparameters they did before.
        #expect(!OptimizerConfig(.sgd).hyperparameters.contains { OptimizerConfig.wrapperKeys.contains($0.key) })
        let keys = try OptimizerConfig(.sgd, hyperparameters: [
            "use_ema": .flag(true), "gradient_accumulation_steps": .number(4), "initial_scale": .number(2)])
            .hyperparameters.map(\.key)
        #expect(keys.suffix(6) == ["use_ema", "ema_momentum", "ema_overwrite_frequency", "gradient_accumulation_steps",
                                   "initial_scale", "dynamic_growth_steps"])
    }

    @Test("bad settings are refused, naming the setting", arguments: [
        ("gradient_accumulation_steps", Hyperparameter.number(1), "gradient_accumulation_steps: must be an integer ≥ 2"),
        ("gradient_accumulation_steps", .number(-3), "gradient_accumulation_steps: must be an integer ≥ 2"),
        ("gradient_accumulation_steps", .number(2.5), "gradient_accumulation_steps: must be an integer ≥ 2"),
        ("ema_momentum", .number(1.5), "ema_momentum: must be in [0, 1], got 1.5"),
        ("ema_momentum", .number(-0.1), "ema_momentum: must be in [0, 1]"),
        ("ema_overwrite_frequency", .number(0), "ema_overwrite_frequency: must be an integer ≥ 1"),
        ("loss_scale_factor", .number(0), "loss_scale_factor: must be a finite number > 0"),
        ("loss_scale_factor", .number(-2), "loss_scale_factor: must be a finite number > 0"),
        ("initial_scale", .number(0), "initial_scale: must be a finite number > 0"),
        ("initial_scale", .number(1e300), "initial_scale: must be a finite number > 0 (in float32)"),
        ("dynamic_growth_steps", .number(5), "dynamic_growth_steps: applies only with initial_scale"),
        ("use_ema", .number(1), "use_ema: expected true or false"),
    ])
    func badSettings(key: String, value: Hyperparameter, message: String) {
        var hyperparameters = [key: value]
        if key == "ema_momentum" || key == "ema_overwrite_frequency" { hyperparameters["use_ema"] = .flag(true) }
        do {
            _ = try OptimizerConfig(.adam, hyperparameters: hyperparameters)
            Issue.record("\(key) = \(value) was accepted")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
        var growth = OptimizerConfig(.adam)
        growth.dynamicLossScale = .init(initialScale: 4, dynamicGrowthSteps: 0)
        #expect(throws: OptimizerError.self) { try growth.validate() }
    }

    @Test func restoredLossScaleStateIsChecked() throws {
        let network = try linearNetwork(shapes: [[2, 1], [1]], values: [[0.5, -0.5], [0]])
        var config = OptimizerConfig(.sgd)
        config.dynamicLossScale = .init(initialScale: 4, dynamicGrowthSteps: 2)
        var state = OptimizerState(config: config, network: network)
        #expect(state[scalar: "dynamic_scale"] == 4 && state[scalar: "step_counter"] == 0)
        state.scalars[1].value = 0
        #expect(throws: OptimizerError.self) { try Optimizer(config: config, state: state, network: network) }
        state.scalars[1].value = 4
        state.scalars[0].value = -1
        #expect(throws: OptimizerError.self) { try Optimizer(config: config, state: state, network: network) }
    }
}
