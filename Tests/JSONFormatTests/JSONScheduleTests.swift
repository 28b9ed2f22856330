import Foundation
import MLPCore
import Testing
@testable import JSONSupport
import MLPDocument
import FormatSupport
@testable import JSONFormat
import TestSupport

/// Every kind, with awkward values (fractional steps, unset and set warmup, non-monotonic boundaries, numbers
/// that need 17 digits).
let sampleSchedules: [LearningRateSchedule] = [
    .exponentialDecay(initialLearningRate: 0.1, decaySteps: 100, decayRate: 0.96, staircase: true),
    .exponentialDecay(initialLearningRate: 1 / 3, decaySteps: 2.5, decayRate: 0.1 + 0.2),
    .piecewiseConstantDecay(boundaries: [30, 10.5], values: [0.1, 0.05, 1e-7]),
    .polynomialDecay(initialLearningRate: 0.02, decaySteps: 12.5, endLearningRate: 0, power: 0.5, cycle: true),
    .inverseTimeDecay(initialLearningRate: 0.05, decaySteps: 3, decayRate: 0.3),
    .cosineDecay(initialLearningRate: 0.01, decaySteps: 30, alpha: 0.1),
    .cosineDecay(initialLearningRate: 0, decaySteps: 40, warmupTarget: 0.1, warmupSteps: 10),
    .cosineDecayRestarts(initialLearningRate: 0.1, firstDecaySteps: 7, tMul: 1.5, mMul: 0.9, alpha: 0.05),
]

/// A small trained-looking document whose optimizer follows `schedule`.
func scheduledDocument(_ schedule: LearningRateSchedule, kind: OptimizerKind = .adam) throws -> ModelDocument {
    var config = OptimizerConfig(kind)
    config.schedule = schedule
    var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .relu), LayerSpec(2, .softmax)],
                                 loss: .categoricalCrossentropy, optimizer: config, seed: 3)
    let data = try Dataset<Float>(features: [0.5, -1, 2, 1, 0, -0.25], featureWidth: 3, targets: [1, 0, 0, 1], targetWidth: 2)
    _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 1))
    return ModelDocument(model: model)
}

/// A valid document's text with its optimizer's hyperparameters replaced.
private func document(hyperparameters: String) -> String {
    #"""
    {"format": "mlpconv-model", "format_version": 1,
     "architecture": {"input_width": 1, "layers": [{"name": "d", "units": 1, "activation": "linear", "use_bias": false}]},
     "weights": {"d": {"kernel": {"dtype": "float32", "shape": [1, 1], "data": [0.5]}}},
     "training": {"loss": "mse", "optimizer": {"name": "sgd", "hyperparameters": \#(hyperparameters), "iterations": 4,
                  "slots": {}}, "epochs_completed": 1, "history": []}}
    """#
}

@Suite("JSON model codec: learning-rate schedules")
struct JSONScheduleTests {
    @Test("a schedule round-trips bit for bit in both tensor encodings", arguments: sampleSchedules)
    func roundTrip(schedule: LearningRateSchedule) throws {
        let original = try scheduledDocument(schedule)
        for encoding in JSONTensorEncoding.allCases {
            let bytes = try encodeJSON(original, encoding, name: "schedule-\(schedule.kind.name)-\(sampleSchedules.firstIndex(of: schedule) ?? 0)")
            let decoded = try decodeJSON(bytes)
            #expect(decoded == original)
            let config = try #require(decoded.training?.optimizer.config)
            #expect(config.schedule == schedule)
            for (a, b) in zip(config.schedule?.parameters ?? [], schedule.parameters) {
                if case .number(let x) = a.value, case .number(let y) = b.value { #expect(x.bitPattern == y.bitPattern, "\(a.key)") }
            }
            // The rate training continues with is the schedule's.
            let model: Model<Float> = try decoded.model()
            #expect(model.training.optimizer.config.schedule == schedule)
        }
    }

    @Test func writtenForm() throws {
        var writer = JSONWriter()
        DocumentJSON.write(.cosineDecay(initialLearningRate: 0, decaySteps: 40, warmupTarget: 0.1, warmupSteps: 10), to: &writer)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"schedule":"cosine_decay","initial_learning_rate":0.0,"#
                + #""decay_steps":40.0,"alpha":0.0,"warmup_target":0.1,"warmup_steps":10.0}"#)
        // Only the required keys: the others take Keras's defaults.
        let minimal = try decodeJSON(document(hyperparameters: #"{"learning_rate": {"schedule": "polynomial_decay", "#
                                              + #""initial_learning_rate": 0.1, "decay_steps": 7}}"#))
        #expect(minimal.training?.optimizer.config.schedule == .polynomialDecay(initialLearningRate: 0.1, decaySteps: 7))
    }

    @Test("bad schedules are refused naming the member", arguments: [
        (#"{"schedule": "linear_decay", "initial_learning_rate": 0.1}"#, "learning_rate.schedule",
         #"unknown learning-rate schedule "linear_decay"; supported: exponential_decay, piecewise_constant_decay"#),
        (#"{"initial_learning_rate": 0.1, "decay_steps": 10}"#, "learning_rate.schedule", #"required key "schedule" is missing"#),
        (#"{"schedule": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9, "alpha": 0}"#,
         "learning_rate", #"unknown key "alpha"; expected decay_rate, decay_steps, initial_learning_rate, schedule, staircase"#),
        (#"{"schedule": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 10}"#, "learning_rate",
         "exponential_decay needs decay_rate"),
        (#"{"schedule": "inverse_time_decay", "initial_learning_rate": 0.1, "decay_steps": -2, "decay_rate": 0.5}"#,
         "learning_rate", "inverse_time_decay decay_steps must be a finite number > 0, got -2.0"),
        (#"{"schedule": "piecewise_constant_decay", "boundaries": 10, "values": [0.1, 0.01]}"#, "learning_rate",
         "boundaries must be a list of numbers"),
        (#"{"schedule": "piecewise_constant_decay", "boundaries": [10, "x"], "values": [0.1, 0.01, 0.001]}"#,
         "learning_rate.boundaries[1]", "expected a number"),
        (#"{"schedule": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "warmup_target": true}"#,
         "learning_rate", "warmup_target must be a number or null"),
    ])
    func badSchedule(schedule: String, path: String, reason: String) throws {
        let text = document(hyperparameters: #"{"learning_rate": \#(schedule), "momentum": 0.5}"#)
        let message = expectError(ModelFileError.self) { _ = try decodeJSON(text) }?.description ?? ""
        #expect(message.contains("$.training.optimizer.hyperparameters.\(path)") && message.contains(reason), "\(message)")
        // The schema must reject it too (CI's interop check).
        let name = String(reason.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.prefix(40).map(Character.init))
        try writeInteropFile(Array(text.utf8), name: "schedule-\(name).json", invalid: true)
    }

    /// The schema describes exactly the kinds, keys and required keys the reader takes.
    @Test func schemaMatchesTheReader() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schemas/mlpconv-model.schema.json")
        let definition = try JSONDocument.parse(contentsOfFile: url.path).root.object(at: "$defs").object(at: "learning_rate_schedule")
        let kinds = try definition.object(at: "properties").object(at: "schedule").value(at: "enum").array().map { try $0.string() }
        #expect(kinds == ScheduleKind.acceptedNames)
        for rule in try definition.value(at: "allOf").array() {
            let name = try rule.object(at: "if").object(at: "properties").object(at: "schedule").value(at: "const").string()
            let kind = try #require(ScheduleKind(name: name))
            let then = try rule.object(at: "then")
            let schedule = LearningRateSchedule(kind)
            #expect(Set(try then.object(at: "properties").keys()) == Set(schedule.parameters.map(\.key) + ["schedule"]), "\(name)")
            #expect(try then.value(at: "required").array().map { try $0.string() } == ["schedule"] + schedule.requiredKeys, "\(name)")
            #expect(try then.value(at: "additionalProperties").bool() == false)
        }
    }
}
