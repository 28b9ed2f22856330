import TestSupport
import Foundation
import Testing
@testable import MLPCore

/// fixtures/reference/schedules.json, written by fixtures/generate/generate_keras_schedules.py: Keras 3.15.1's
/// learning rate at each step as its jitted training step computes it (float32, exact), for every schedule
/// configuration, and XLA's float32 logarithm on a table of inputs.
private struct ScheduleFixture: Decodable {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let className: String
        let config: [String: ScheduleFixtureValue]
        let learningRates: [ScheduleFixtureValue]
        var testDescription: String { name }
    }
    struct LogTable: Decodable {
        let inputs: [Double]
        let outputs: [Double]
    }
    let steps: [Int]
    let schedules: [Case]
    let log: LogTable
}

/// A JSON value of a Keras config or a rate: numbers, booleans, null, lists of numbers, and "NaN".
private enum ScheduleFixtureValue: Decodable, Sendable {
    case number(Double), flag(Bool), null, numbers([Double]), text(String)

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let flag = try? container.decode(Bool.self) { self = .flag(flag) }
        else if let number = try? container.decode(Double.self) { self = .number(number) }
        else if let list = try? container.decode([Double].self) { self = .numbers(list) }
        else { self = .text(try container.decode(String.self)) }
    }

    var float: Float? {
        switch self {
        case .number(let x): Float(x)
        case .text("NaN"): .nan
        default: nil
        }
    }
}

private let fixture: ScheduleFixture? = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let data = try? Data(contentsOf: fixturesDirectory.appendingPathComponent("reference/schedules.json")) else { return nil }
    return try? decoder.decode(ScheduleFixture.self, from: data)
}()

/// The core's kind for a Keras class name (the test's own table; the Keras reader has its own).
private let kinds: [String: ScheduleKind] = [
    "ExponentialDecay": .exponentialDecay, "PiecewiseConstantDecay": .piecewiseConstantDecay,
    "PolynomialDecay": .polynomialDecay, "InverseTimeDecay": .inverseTimeDecay, "CosineDecay": .cosineDecay,
    "CosineDecayRestarts": .cosineDecayRestarts,
]

/// The schedule a fixture case describes, through the core's own key/value constructor.
private func schedule(_ testCase: ScheduleFixture.Case) throws -> LearningRateSchedule {
    let kind = try #require(kinds[testCase.className])
    var parameters: [String: ScheduleParameter] = [:]
    for (key, value) in testCase.config {
        switch value {
        case .number(let x): parameters[key] = .number(x)
        case .flag(let flag): parameters[key] = .flag(flag)
        case .null: parameters[key] = .optionalNumber(nil)
        case .numbers(let list): parameters[key] = .numbers(list)
        case .text(let text): Issue.record("unexpected \(key): \(text)")
        }
    }
    return try LearningRateSchedule(kind, parameters: parameters)
}

struct LearningRateScheduleTests {
    @Test func fixtureIsPresent() throws {
        let fixture = try #require(fixture)
        #expect(fixture.schedules.count >= 60)
        #expect(Set(fixture.schedules.map(\.className)) == Set(kinds.keys))
        #expect(fixture.log.inputs.count > 1000)
    }

    /// Bit for bit: every rate Keras's training step uses, at steps 0…64 and up to 2³¹ − 1, NaN where Keras's is.
    @Test("float32 rates equal Keras's bit for bit", arguments: fixture?.schedules ?? [])
    fileprivate func ratesMatchKeras(testCase: ScheduleFixture.Case) throws {
        let steps = try #require(fixture?.steps)
        let schedule = try schedule(testCase)
        #expect(testCase.learningRates.count == steps.count)
        var mismatches: [String] = []
        for (step, expected) in zip(steps, testCase.learningRates) {
            let keras = try #require(expected.float)
            let rate = schedule.learningRate(atStep: step, as: Float.self)
            if rate.bitPattern != keras.bitPattern && !(rate.isNaN && keras.isNaN) {
                mismatches.append("step \(step): \(rate) vs Keras \(keras)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(steps.count): \(mismatches.prefix(5))")
    }

    @Test func xlaLogarithmIsReproduced() throws {
        let table = try #require(fixture?.log)
        let wrong = zip(table.inputs, table.outputs).filter { input, output in
            Float.polynomialLog(Float(input)).bitPattern != Float(output).bitPattern
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(table.inputs.count): \(wrong.prefix(5))")
        #expect(Float.polynomialLog(0) == -.infinity && Float.polynomialLog(.infinity) == .infinity)
        #expect(Float.polynomialLog(-1).isNaN && Float.polynomialLog(.nan).isNaN)
    }

    /// In double the same formulas hold to double's rounding; checked against the closed forms evaluated
    /// independently here (Foundation's pow and cos on the textbook definitions).
    @Test func doublePrecisionFollowsTheDefinitions() throws {
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-14 * max(abs(b), 1e-300) + 1e-300 }
        let exponential = LearningRateSchedule.exponentialDecay(initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.96)
        let polynomial = LearningRateSchedule.polynomialDecay(initialLearningRate: 0.1, decaySteps: 40, endLearningRate: 0.001, power: 1.5)
        let cosine = LearningRateSchedule.cosineDecay(initialLearningRate: 0, decaySteps: 40, alpha: 0.1, warmupTarget: 0.1, warmupSteps: 10)
        let restarts = LearningRateSchedule.cosineDecayRestarts(initialLearningRate: 0.1, firstDecaySteps: 5, tMul: 2, mMul: 0.5)
        for step in [0, 1, 7, 10, 23, 39, 40, 45, 60, 200] {
            let s = Double(step)
            #expect(close(exponential.learningRate(atStep: step, as: Double.self), 0.1 * pow(0.96, s / 10)))
            #expect(close(polynomial.learningRate(atStep: step, as: Double.self),
                          0.099 * pow(1 - min(s, 40) / 40, 1.5) + 0.001), "\(step)")
            let expectedCosine = s < 10 ? 0.1 * s / 10
                : 0.1 * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * (min(s, 50) - 10) / 40)))
            #expect(close(cosine.learningRate(atStep: step, as: Double.self), expectedCosine), "\(step)")
            // Periods 5, 10, 20, 40, …: period i starts at 5(2^i − 1).
            let period = floor(log2(s / 5 + 1)), start = 5 * (pow(2, period) - 1), length = 5 * pow(2, period)
            let expectedRestart = 0.1 * pow(0.5, period) * 0.5 * (1 + cos(Double.pi * (s - start) / length))
            #expect(abs(restarts.learningRate(atStep: step, as: Double.self) - expectedRestart) <= 1e-12, "\(step)")
        }
    }

    @Test func polynomialNaNIsReported() {
        let nan = LearningRateSchedule.polynomialDecay(initialLearningRate: 0.1, decaySteps: 3, power: 0.5)
        #expect(nan.firstNonFiniteStep(through: 1000) == 3)
        let fine = LearningRateSchedule.polynomialDecay(initialLearningRate: 0.1, decaySteps: 50, power: 0.5)
        #expect(fine.firstNonFiniteStep(through: 1000) == nil)
        #expect(LearningRateSchedule.exponentialDecay(initialLearningRate: 0.1, decaySteps: 3, decayRate: 0.5)
            .firstNonFiniteStep(through: 1000) == nil)
    }

    @Test("bad parameters are refused naming the schedule and the key", arguments: [
        (ScheduleKind.exponentialDecay, ["initial_learning_rate": ScheduleParameter.number(0.1), "decay_steps": .number(0),
                                         "decay_rate": .number(0.9)], "exponential_decay decay_steps must be a finite number > 0, got 0.0"),
        (.exponentialDecay, ["initial_learning_rate": .number(0.1), "decay_steps": .number(10)], "exponential_decay needs decay_rate"),
        (.exponentialDecay, ["initial_learning_rate": .number(0.1), "decay_steps": .number(10), "decay_rate": .number(0.9),
                             "decay": .number(1)], "exponential_decay has no hyperparameter \"decay\""),
        (.exponentialDecay, ["initial_learning_rate": .number(0.1), "decay_steps": .number(10), "decay_rate": .number(0.9),
                             "staircase": .number(1)], "staircase must be true or false"),
        (.piecewiseConstantDecay, ["boundaries": .numbers([10, 20]), "values": .numbers([0.1, 0.01])],
         "needs one value more than boundaries, got 2 boundaries and 2 values"),
        (.piecewiseConstantDecay, ["boundaries": .numbers([1e10]), "values": .numbers([0.1, 0.01])], "int32"),
        (.piecewiseConstantDecay, ["boundaries": .numbers([10]), "values": .numbers([0.1, -0.01])], "values must be a finite number ≥ 0"),
        (.polynomialDecay, ["initial_learning_rate": .number(0.1), "decay_steps": .number(10), "power": .number(-1)], "power must be"),
        (.cosineDecay, ["initial_learning_rate": .number(0.1), "decay_steps": .number(10), "warmup_steps": .number(-1)], "warmup_steps"),
        (.cosineDecayRestarts, ["initial_learning_rate": .number(0.1), "first_decay_steps": .number(10), "t_mul": .number(0.5)], "t_mul must be"),
        (.cosineDecayRestarts, ["initial_learning_rate": .number(.nan), "first_decay_steps": .number(10)], "initial_learning_rate must be"),
    ] as [(ScheduleKind, [String: ScheduleParameter], String)])
    func badParameters(kind: ScheduleKind, parameters: [String: ScheduleParameter], expected: String) {
        do {
            _ = try LearningRateSchedule(kind, parameters: parameters)
            Issue.record("accepted \(parameters)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.contains(kind.name), "\(error.description)")
        }
    }

    @Test func optimizerFollowsItsScheduleAndKeepsTheInitialRate() throws {
        var config = OptimizerConfig(.sgd)
        config.schedule = .piecewiseConstantDecay(boundaries: [1], values: [0.5, 0.25])
        #expect(config.learningRate == 0.5)
        var bad = config
        bad.schedule?.values = [0.5]
        #expect(throws: OptimizerError.self) { try bad.validate() }
        // One weight, gradient 1 from the loss ½(w·x − t)² with x = 1, t = w: steps of −lr·g with lr 0.5, 0.5, 0.25.
        let network = try Network<Float>(inputWidth: 1, layers: [
            try Layer.dense(name: "d", inputWidth: 1, units: 1, activation: .linear, useBias: false, kernel: [0], bias: nil)])
        var model = try Model(network: network, training: TrainingState(
            loss: .halfSquaredError, optimizer: try Optimizer(config: config, network: network),
            random: RandomGenerator(seed: 1).state))
        let data = try Dataset<Float>(features: [1], featureWidth: 1, targets: [-1], targetWidth: 1)
        var kernels: [Float] = []
        for _ in 0..<3 {
            _ = try model.fit(data, options: FitOptions(epochs: 1, batchSize: 1, shuffle: false))
            kernels.append(model.network.layers[0].kernel[0])
        }
        // w − lr·(w + 1): 0 → −0.5 → −0.75 → −0.8125 (lr 0.5, 0.5, 0.25).
        #expect(kernels == [-0.5, -0.75, -0.8125])
    }
}
