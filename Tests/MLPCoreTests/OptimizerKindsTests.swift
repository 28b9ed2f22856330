import Foundation
import Testing
@testable import MLPCore

/// Nadam, Adamax, Lion, Adadelta, Ftrl and Lamb against Keras, bit for bit: fixtures/reference/optimizer_updates_more.json
/// (written by fixtures/generate/generate_keras_optimizers.py) has the same form as optimizer_updates.json, plus
/// the optimizer-level scalars after the last step (Nadam's u_product). The generator checks a numpy replica of
/// every rule against Keras's eager `optimizer.apply` before writing a case; the Swift rules follow the replica.
struct MoreOptimizerUpdateCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let optimizer: [String: FixtureValue]
    let shapes: [[Int]]
    let initial: [[Float]]
    /// Per step, each parameter's gradient, unscaled (a loss-scaled case's Keras got them times the scale).
    let gradients: [[[Float]]]
    let after: [[[Float]]]
    let finalIterations: Int
    let finalSlots: [String: [[Float]]]
    let finalScalars: [String: Double]
    var testDescription: String { name }
}

let moreOptimizerUpdateCases = decodeFixture("reference/optimizer_updates_more.json", as: MoreOptimizerUpdateCase.self)

/// Applies `gradients` (copied: apply clips them in place) to `network` with `optimizer`.
func applyCopies(_ gradients: [[Float]], _ optimizer: inout Optimizer<Float>, _ network: inout Network<Float>) {
    let buffers = gradients.map { values in
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
        _ = buffer.initialize(from: values)
        return buffer
    }
    defer { buffers.forEach { $0.deallocate() } }
    optimizer.apply(gradients: buffers, of: network.parameters, to: &network)
}

/// Steps through every gradient of `testCase` once without a break and once saving the state after `split` steps
/// and restoring it into a new optimizer: state and weights must be the same bits.
func expectResumeIsExact(_ testCase: MoreOptimizerUpdateCase, config: OptimizerConfig, split: Int,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
    try expectResumeIsExact(testCase.name, network: try linearNetwork(shapes: testCase.shapes, values: testCase.initial),
                            steps: testCase.gradients.count, config: config, split: split, sourceLocation: sourceLocation) {
        applyCopies(testCase.gradients[$0], &$1, &$2)
    }
}

/// The same check for any network and any way of applying step `k`'s gradients.
func expectResumeIsExact(_ name: String, network: Network<Float>, steps: Int, config: OptimizerConfig, split: Int,
                         sourceLocation: SourceLocation = #_sourceLocation,
                         apply: (Int, inout Optimizer<Float>, inout Network<Float>) -> Void) throws {
    var straight = network
    var resumed = network
    var first = try Optimizer(config: config, network: straight)
    for step in 0..<steps { apply(step, &first, &straight) }
    var second = try Optimizer(config: config, network: resumed)
    for step in 0..<split { apply(step, &second, &resumed) }
    var restored = try Optimizer(config: config, state: second.state, network: resumed)
    for step in split..<steps { apply(step, &restored, &resumed) }
    #expect(restored.state == first.state, "\(name) split \(split)", sourceLocation: sourceLocation)
    for parameter in straight.parameters {
        #expect(straight[parameter].map(\.bitPattern) == resumed[parameter].map(\.bitPattern), "\(name) split \(split)",
                sourceLocation: sourceLocation)
    }
}

struct OptimizerKindsTests {
    @Test func everyNewOptimizerHasUpdateCases() {
        let kinds = Set(moreOptimizerUpdateCases.compactMap { $0.optimizer["name"]?.string })
        #expect(kinds.isSuperset(of: ["nadam", "adamax", "lion", "adadelta", "ftrl", "lamb"]))
        #expect(moreOptimizerUpdateCases.allSatisfy { $0.gradients.count == 5 })
    }

    @Test("weights after each step, the final slots and scalars are Keras's, bit for bit", arguments: moreOptimizerUpdateCases)
    func updatesMatchKerasBitForBit(testCase: MoreOptimizerUpdateCase) throws {
        let name = testCase.name
        let config = try optimizerConfig(testCase.optimizer)
        var network = try linearNetwork(shapes: testCase.shapes, values: testCase.initial)
        var optimizer = try Optimizer(config: config, network: network)
        let parameters = network.parameters
        try #require(testCase.gradients.count == testCase.after.count)
        for (step, (gradients, expected)) in zip(testCase.gradients, testCase.after).enumerated() {
            try #require(gradients.count == parameters.count && expected.count == parameters.count)
            applyCopies(gradients, &optimizer, &network)
            for (p, parameter) in parameters.enumerated() {
                expectBitIdentical(network[parameter], expected[p], "\(name) step \(step + 1) \(network.name(of: parameter))")
            }
        }
        #expect(optimizer.state.iterations == testCase.finalIterations, "\(name)")
        #expect(Set(testCase.finalSlots.keys) == Set(config.slotNames), "\(name): slot names")
        for slot in optimizer.state.slots {
            let expected = try #require(testCase.finalSlots[slot.name], "\(name): Keras has no slot \(slot.name)")
            try #require(expected.count == slot.values.count)
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

    /// Keras's defaults: a case built with only a learning rate lists every other setting at its default.
    @Test func defaultsAreKeras() throws {
        for name in ["nadam", "adamax", "lion", "adadelta", "ftrl", "lamb"] {
            let testCase = try #require(moreOptimizerUpdateCases.first { $0.name == name })
            let keras = try optimizerConfig(testCase.optimizer)
            let defaults = OptimizerConfig(keras.kind, learningRate: keras.learningRate)
            #expect(defaults == keras, "\(name)")
            #expect(defaults.hyperparameters.map(\.key) == keras.hyperparameters.map(\.key), "\(name)")
        }
        #expect(OptimizerConfig(.lion).beta2 == 0.99)
        #expect(OptimizerConfig(.adadelta).rho == 0.95)
        #expect(OptimizerConfig(.ftrl).hyperparameters.map(\.key) == [
            "learning_rate", "learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
            "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta", "weight_decay", "clipnorm",
            "global_clipnorm", "clipvalue"])
    }

    @Test func slotAndScalarNamesAreKerasVariableNames() {
        #expect(OptimizerConfig(.nadam).slotNames == ["momentum", "velocity"])
        #expect(OptimizerConfig(.nadam).scalarNames == ["u_product"])
        #expect(OptimizerConfig(.adamax).slotNames == ["momentum", "norm"])
        #expect(OptimizerConfig(.lion).slotNames == ["momentum"])
        #expect(OptimizerConfig(.adadelta).slotNames == ["accumulated_grad", "accumulated_delta_var"])
        #expect(OptimizerConfig(.ftrl).slotNames == ["accumulator", "linear"])
        #expect(OptimizerConfig(.lamb).slotNames == ["momentum", "velocity"])
        for kind in OptimizerKind.allCases where kind != .nadam { #expect(OptimizerConfig(kind).scalarNames.isEmpty) }
    }

    @Test func outOfRangeSettingsAreRefusedByName() {
        func refusal(_ kind: OptimizerKind, _ key: String, _ value: Hyperparameter) -> String? {
            do {
                _ = try OptimizerConfig(kind, hyperparameters: [key: value])
                return nil
            } catch {
                return error.description
            }
        }
        #expect(refusal(.lion, "beta_1", .number(0))?.contains("beta_1: must be in (0, 1]") == true)
        #expect(refusal(.lion, "beta_1", .number(1)) == nil)
        #expect(refusal(.nadam, "beta_1", .number(1))?.contains("beta_1: must be in [0, 1)") == true)
        #expect(refusal(.ftrl, "learning_rate_power", .number(0.5))?.contains("learning_rate_power") == true)
        #expect(refusal(.ftrl, "l1_regularization_strength", .number(-1))?.contains("l1_regularization_strength") == true)
        #expect(refusal(.ftrl, "learning_rate", .number(0))?.contains("must be > 0 for Ftrl") == true)
        #expect(refusal(.nadam, "rho", .number(0.9))?.contains("nadam has no hyperparameter \"rho\"") == true)
        #expect(refusal(.lion, "epsilon", .number(1e-7))?.contains("lion has no hyperparameter \"epsilon\"") == true)
        #expect(refusal(.adamax, "beta", .number(0)) != nil)
    }

    /// State restored from a snapshot continues exactly as the uninterrupted optimizer: u_product included.
    @Test("resuming from saved state is exact", arguments: moreOptimizerUpdateCases)
    func resumeIsExact(testCase: MoreOptimizerUpdateCase) throws {
        try expectResumeIsExact(testCase, config: try optimizerConfig(testCase.optimizer), split: 2)
    }

    @Test func restoredStateMustHoldTheScalars() throws {
        let network = try linearNetwork(shapes: [[2, 1], [1]], values: [[0.5, -0.5], [0]])
        let config = OptimizerConfig(.nadam)
        var state = OptimizerState(config: config, network: network)
        #expect(state[scalar: "u_product"] == 1)
        state.scalars = []
        #expect(throws: OptimizerError.self) { try Optimizer(config: config, state: state, network: network) }
        state.scalars = [.init(name: "u_product", value: .nan)]
        #expect(throws: OptimizerError.self) { try Optimizer(config: config, state: state, network: network) }
    }
}
