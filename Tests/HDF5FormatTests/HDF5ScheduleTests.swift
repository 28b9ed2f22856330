import Foundation
import MLPCore
import Testing
import HDF5Support
import MLPDocument
import FormatSupport
@testable import HDF5Format
import TestSupport

/// A document whose optimizer follows `schedule`, from the shared factory.
private func scheduledDocument(_ schedule: LearningRateSchedule) -> ModelDocument {
    var config = OptimizerConfig(.sgd)
    config.momentum = 0.9
    config.schedule = schedule
    var factory = DocumentFactory(seed: 5)
    return factory.document(optimizer: config, history: sampleHistory)
}

@Suite("HDF5 model codec: learning-rate schedules")
struct HDF5ScheduleTests {
    @Test("a schedule round-trips bit for bit, as the JSON object's text in /optimizer@learning_rate", arguments: [
        LearningRateSchedule.exponentialDecay(initialLearningRate: 1 / 3, decaySteps: 2.5, decayRate: 0.1 + 0.2, staircase: true),
        .piecewiseConstantDecay(boundaries: [30, 10.5], values: [0.1, 0.05, 1e-7]),
        .polynomialDecay(initialLearningRate: 0.02, decaySteps: 12.5, endLearningRate: 0, power: 0.5, cycle: true),
        .inverseTimeDecay(initialLearningRate: 0.05, decaySteps: 3, decayRate: 0.3),
        .cosineDecay(initialLearningRate: 0, decaySteps: 40, alpha: 0.1, warmupTarget: 0.1, warmupSteps: 10),
        .cosineDecayRestarts(initialLearningRate: 0.1, firstDecaySteps: 7, tMul: 1.5, mMul: 0.9, alpha: 0.05),
    ])
    func roundTrip(schedule: LearningRateSchedule) throws {
        let document = scheduledDocument(schedule)
        let folder = try TemporaryFolder()
        for compress in [false, true] {
            let (path, _) = try writeSample(folder, document, name: "m\(compress).h5", compress: compress)
            let text = try HDF5File.openReadOnly(at: path).openGroup("optimizer").stringAttribute("learning_rate")
            #expect(text == DocumentJSON.scheduleText(schedule))
            let back = try HDF5ModelCodec.read(path: path, file: "m.h5", limits: LoadLimits())
            #expect(back == document)
            #expect(back.training?.optimizer.config.schedule == schedule)
        }
    }

    @Test("a bad schedule text is refused naming the attribute", arguments: [
        (#"{"schedule": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 10}"#,
         "/optimizer@learning_rate $: optimizer hyperparameter learning_rate: exponential_decay needs decay_rate"),
        (#"{"schedule": "step_decay"}"#, "/optimizer@learning_rate $.schedule: unknown learning-rate schedule \"step_decay\""),
        (#"{"schedule": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "warmup": 2}"#,
         "/optimizer@learning_rate $: unknown key \"warmup\""),
        ("not json", "/optimizer@learning_rate"),
        // Held to float32's range as a constant rate is, and named at the attribute, not the whole optimizer.
        (#"{"schedule": "exponential_decay", "initial_learning_rate": 1e300, "decay_steps": 10, "decay_rate": 0.5}"#,
         "model.h5: /optimizer@learning_rate: optimizer hyperparameter learning_rate: 1e+300 is beyond float32's range"),
    ])
    func badScheduleText(text: String, expected: String) throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder, scheduledDocument(.inverseTimeDecay(initialLearningRate: 0.1, decaySteps: 3, decayRate: 0.5)))
        try tamper(path) { try $0.openGroup("optimizer").setAttribute("learning_rate", .string(text)) }
        let message = readError(path) ?? ""
        #expect(message.contains(expected), "\(message)")
    }

    @Test func aStringLearningRateOtherThanAScheduleIsRefused() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        try tamper(path) { try $0.openGroup("optimizer").setAttribute("beta_1", .string("0.9")) }
        #expect(readError(path)?.contains("/optimizer@beta_1: expected a number, found") == true)
    }
}
