import Foundation
import MLPCore
import Testing
import HDF5Support
import JSONSupport
import MLPDocument
@testable import MLPModelFiles
@testable import KerasFormat
import TestSupport
import ZIPFoundation

/// fixtures/keras-schedules/expected.json, written by fixtures/generate/generate_keras_schedules.py with Keras
/// 3.15.1 (JAX): models trained 2 epochs with an optimizer following a learning-rate schedule, saved as .keras and
/// .h5, then trained one more epoch in Keras.
private struct ScheduleModels: Decodable {
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Continuation: Decodable, Sendable {
            let iterations: Int
            let weights: [KerasFixtureWeights]
        }
        struct Layout: Decodable, Sendable {
            let optimizerWeightNames: [String]
        }
        let name: String
        let h5: String
        let keras: String
        let iterations: Int
        let train: KerasFixtureTraining
        let inputs: [Double]
        let outputs: [Double]
        let continuation: Continuation
        let h5Layout: Layout
        let optimizerVariablesSaved: [[String: ScheduleFixtureAny]]
        var testDescription: String { name }
    }
    let models: [Model]
}

/// Any JSON value, for the parts of the fixture only counted.
private struct ScheduleFixtureAny: Decodable, Sendable {
    init(from decoder: Decoder) throws {}
}

private let folder = kerasFixtureFolder("keras-schedules")
private let models = decodeKerasFixture(ScheduleModels.self, at: folder.appendingPathComponent("expected.json"))?.models ?? []

/// The test's own reading of a Keras schedule object (class names and JSON kinds mapped by hand, not through
/// KerasSchedule), built with the core's key/value constructor.
private func expectedSchedule(_ object: JSONValue) throws -> LearningRateSchedule {
    let kinds: [String: ScheduleKind] = [
        "ExponentialDecay": .exponentialDecay, "PiecewiseConstantDecay": .piecewiseConstantDecay,
        "PolynomialDecay": .polynomialDecay, "InverseTimeDecay": .inverseTimeDecay, "CosineDecay": .cosineDecay,
        "CosineDecayRestarts": .cosineDecayRestarts,
    ]
    let kind = try #require(kinds[try object.value(at: "class_name").string()])
    var parameters: [String: ScheduleParameter] = [:]
    for (key, member) in try object.object(at: "config").members() where key != "name" {
        switch member.kind {
        case .null: parameters[key] = .optionalNumber(nil)
        case .bool: parameters[key] = .flag(try member.bool())
        case .array: parameters[key] = .numbers(try member.array().map { try $0.double() })
        default: parameters[key] = .number(try member.double())
        }
    }
    return try LearningRateSchedule(kind, parameters: parameters)
}

/// The schedule object of each model in expected.json, by model name.
private func fixtureSchedules() throws -> [String: LearningRateSchedule] {
    let root = try JSONDocument.parse(contentsOfFile: folder.appendingPathComponent("expected.json").path).root
    var result: [String: LearningRateSchedule] = [:]
    for model in try root.value(at: "models").array() {
        let rate = try model.object(at: "optimizer").object(at: "config").object(at: "learning_rate")
        result[try model.value(at: "name").string()] = try expectedSchedule(rate)
    }
    return result
}

/// JSON values equal member by member, object keys in the same order; numbers compared as doubles (Keras writes
/// `40.0` where mlpconv writes the step count `40`).
private func sameJSON(_ a: JSONValue, _ b: JSONValue) throws -> Bool {
    switch (a.kind, b.kind) {
    case (.object, .object):
        let (x, y) = (try a.members(), try b.members())
        guard x.map(\.key) == y.map(\.key) else { return false }
        return try zip(x, y).allSatisfy { try sameJSON($0.value, $1.value) }
    case (.array, .array):
        let (x, y) = (try a.array(), try b.array())
        return try x.count == y.count && zip(x, y).allSatisfy { try sameJSON($0, $1) }
    case (.integer, .integer), (.number, .number), (.integer, .number), (.number, .integer):
        return try a.double() == b.double()
    case (.string, .string): return try a.string() == b.string()
    case (.bool, .bool): return try a.bool() == b.bool()
    case (.null, .null): return true
    default: return false
    }
}

private func load(_ file: String) throws -> ModelDocument {
    try ModelFiles.load(folder.appendingPathComponent(file).path)
}

struct KerasScheduleTests {
    @Test func fixturesArePresent() throws {
        #expect(models.count == 6)
        #expect(Set(try fixtureSchedules().values.map(\.kind)) == Set(ScheduleKind.allCases))
    }

    @Test("the schedule and the optimizer state are read from both formats", arguments: models)
    fileprivate func scheduleIsRead(model: ScheduleModels.Model) throws {
        let expected = try #require(try fixtureSchedules()[model.name])
        // Keras keeps no learning_rate variable with a schedule: iteration, then the slots.
        #expect(!model.h5Layout.optimizerWeightNames.contains { $0.hasSuffix("learning_rate") })
        for file in [model.h5, model.keras] {
            let document = try load(file)
            let optimizer = try #require(document.training?.optimizer, "\(file): \(document.metadata)")
            #expect(optimizer.config.schedule == expected, "\(file)")
            #expect(optimizer.config.learningRate == expected.initialRate, "\(file)")
            #expect(optimizer.iterations == model.iterations, "\(file)")
            #expect(optimizer.slots.reduce(0) { $0 + $1.tensors.count } == model.optimizerVariablesSaved.count - 1, "\(file)")
        }
    }

    @Test("predictions equal Keras's", arguments: models)
    fileprivate func predictionsMatchKeras(model: ScheduleModels.Model) throws {
        for file in [model.h5, model.keras] {
            let network: Network<Float> = try load(file).network()
            #expect(scaledError(try network.predict(model.inputs.map { Float($0) }), model.outputs) <= 1e-6, "\(file)")
        }
    }

    /// One more epoch follows the schedule from the stored step, as Keras's own continuation does.
    @Test("training continues as Keras continues, following the schedule", arguments: models)
    fileprivate func continuationMatchesKeras(model: ScheduleModels.Model) throws {
        for file in [model.h5, model.keras] {
            let trained = try continueOneEpoch(try load(file), on: model.train)
            #expect(trained.training.optimizer.state.iterations == model.continuation.iterations, "\(file)")
            expectWeights(of: trained.network, equal: model.continuation.weights, within: 1e-5, file)
        }
    }

    @Test("Keras files with schedules → keras-h5 and keras → equal document", arguments: models)
    fileprivate func roundTrip(model: ScheduleModels.Model) throws {
        for file in [model.h5, model.keras] {
            try expectKerasRoundTrip(try load(file), name: "rt_schedule_" + file.replacingOccurrences(of: ".", with: "_"))
        }
    }

    /// What mlpconv writes has Keras's variable names and count: the same `/optimizer_weights` names as Keras's
    /// own .h5 of the model, and in the .keras no learning_rate variable (iteration, then the slots).
    @Test("written files hold the optimizer variables Keras writes with a schedule", arguments: models)
    fileprivate func writtenLayout(model: ScheduleModels.Model) throws {
        let document = try load(model.keras)
        let temporary = try TemporaryFolder()
        try ModelFiles.save(document, to: temporary.path("m.h5"), format: .kerasH5)
        let h5 = try HDF5File.openReadOnly(at: temporary.path("m.h5"))
        #expect(try h5.openGroup("optimizer_weights").stringArrayAttribute("weight_names") == model.h5Layout.optimizerWeightNames)
        try ModelFiles.save(document, to: temporary.path("m.keras"), format: .keras)
        let weights = try #require(try zipMembers(of: temporary.path("m.keras")).first { $0.name == "model.weights.h5" })
        let count = try weights.bytes.withUnsafeBytes { image in
            try HDF5File.openReadOnly(image: image, name: "model.weights.h5").openGroup("optimizer/vars").members().count
        }
        #expect(count == model.optimizerVariablesSaved.count)
    }

    /// Every configuration of fixtures/reference/schedules.json written as Keras's `serialize()` wrote it: same
    /// keys in the same order, same values.
    @Test func writtenObjectsAreKerasOwn() throws {
        let reference = kerasFixtureFolder("reference").appendingPathComponent("schedules.json").path
        let cases = try JSONDocument.parse(contentsOfFile: reference).root.value(at: "schedules").array()
        #expect(cases.count >= 60)
        for entry in cases {
            let serialized = try entry.value(at: "serialized")
            let schedule = try expectedSchedule(serialized)
            var writer = JSONWriter()
            KerasSchedule.write(schedule, to: &writer)
            let written = try JSONDocument.parse(writer.finish(), file: "written").root
            let name = try entry.value(at: "name").string(), text = String(decoding: writer.bytes, as: UTF8.self)
            #expect(try sameJSON(written, serialized), "\(name): \(text)")
            #expect(try KerasSchedule.read(written) == schedule)
        }
    }

    /// A model written by mlpconv with each kind of schedule, trained first, comes back identical (and goes to the
    /// CI Keras check, which has Keras load it and continue training).
    @Test("native model with a schedule → keras-h5 and keras → equal document", arguments: [
        (OptimizerKind.sgd, LearningRateSchedule.exponentialDecay(initialLearningRate: 0.05, decaySteps: 3, decayRate: 0.5, staircase: true)),
        (.adam, .piecewiseConstantDecay(boundaries: [2, 5], values: [0.01, 0.005, 0.001])),
        (.rmsprop, .polynomialDecay(initialLearningRate: 0.01, decaySteps: 7, endLearningRate: 0.001, power: 2, cycle: true)),
        (.adagrad, .inverseTimeDecay(initialLearningRate: 0.1, decaySteps: 2.5, decayRate: 0.5)),
        (.adamw, .cosineDecay(initialLearningRate: 0, decaySteps: 6, alpha: 0.1, warmupTarget: 0.01, warmupSteps: 2)),
        (.adam, .cosineDecayRestarts(initialLearningRate: 0.01, firstDecaySteps: 2, tMul: 1.5, mMul: 0.8, alpha: 0.05)),
    ])
    func nativeRoundTrip(kind: OptimizerKind, schedule: LearningRateSchedule) throws {
        var config = OptimizerConfig(kind)
        if kind == .sgd { config.momentum = 0.9 }
        config.schedule = schedule
        var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .tanh), LayerSpec(2, .softmax)],
                                     loss: .categoricalCrossentropy, optimizer: config, seed: 11)
        let data = try Dataset<Float>(features: [0.1, 0.2, 0.3, -1, 0, 1, 2, 2, 2, 0.5, -0.5, 0],
                                      featureWidth: 3, targets: [1, 0, 0, 1, 1, 0, 0, 1], targetWidth: 2)
        _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
        let document = ModelDocument(model: model)
        #expect(document.training?.optimizer.config.schedule == schedule)
        try expectKerasRoundTrip(document, name: "native_schedule_\(kind.name)_\(schedule.kind.name)")
    }

    /// fixtures/keras-reader's `untrainable_schedule` (Adam with ExponentialDecay, written when schedules were
    /// refused) now loads with its training state.
    @Test func earlierRefusedScheduleFileLoads() throws {
        for file in ["untrainable_schedule.h5", "untrainable_schedule.keras"] {
            let document = try ModelFiles.load(kerasFixtureFolder("keras-reader").appendingPathComponent(file).path)
            #expect(document.metadata["keras_training_state"] == nil, "\(file)")
            #expect(document.training?.optimizer.config.schedule
                == .exponentialDecay(initialLearningRate: 0.01, decaySteps: 10, decayRate: 0.9), "\(file)")
            #expect(document.training?.optimizer.iterations == 4, "\(file)")
        }
    }

    @Test("unsupported or malformed schedules are refused naming the object and the reason", arguments: [
        (#"{"module": "keras.optimizers.schedules", "class_name": "LinearDecay", "config": {}, "registered_name": null}"#,
         #"$.config.learning_rate.class_name: learning-rate schedule "LinearDecay" is not supported"#),
        (#"{"module": "my_schedules", "class_name": "ExponentialDecay", "config": {}}"#, "from module \"my_schedules\" is refused"),
        (#"{"class_name": "ExponentialDecay", "config": {}, "registered_name": "Custom>Warmup"}"#, "custom object \"Custom>Warmup\""),
        (#"{"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9, "warmup": 3}}"#,
         #"$.config.learning_rate.config.warmup: ExponentialDecay setting "warmup" is not supported"#),
        (#"{"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.9}}"#,
         "$.config.learning_rate.config: ExponentialDecay: optimizer hyperparameter learning_rate: exponential_decay decay_steps must be a finite number > 0"),
        (#"{"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [10], "values": [0.1]}}"#, "needs one value more than boundaries"),
        (#"{"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": "ten"}}"#, "decay_steps"),
        (#""0.01""#, "learning_rate"),
        // Found by the keras-config fuzz target: a schedule's rates were not held to float32's range, in which
        // every model file stores them.
        (#"{"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 1.051e308, "decay_steps": 3, "decay_rate": 0.7}}"#,
         "$.config.learning_rate: optimizer hyperparameter learning_rate: 1.051e+308 is beyond float32's range"),
        (#"{"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [10], "values": [0.1, 1e39]}}"#,
         "is beyond float32's range"),
    ])
    func badSchedules(learningRate: String, expected: String) {
        let text = #"{"class_name": "Adam", "config": {"name": "adam", "learning_rate": "# + learningRate + "}}"
        do {
            let document = try JSONDocument.parse(Array(text.utf8), file: "m.keras")
            _ = try KerasConfig.readOptimizer(document.root)
            Issue.record("accepted \(learningRate)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    /// A file with a bad schedule still loads, for inspect, convert and predict, with the reason in the metadata.
    @Test func badScheduleLeavesTheModelReadable() throws {
        let temporary = try TemporaryFolder()
        let source = folder.appendingPathComponent(models.first?.keras ?? "missing.keras").path
        let members = try zipMembers(of: source).map { member in
            (name: member.name, bytes: member.name == "config.json"
                ? Array(String(decoding: member.bytes, as: UTF8.self)
                    .replacingOccurrences(of: "\"ExponentialDecay\"", with: "\"StepDecay\"").utf8) : member.bytes)
        }
        let path = try temporary.write("bad.keras", try zipArchive(members, compression: .none))
        let document = try ModelFiles.load(path)
        #expect(document.training == nil)
        let note = try #require(document.metadata["keras_training_state"])
        #expect(note.contains("StepDecay") && note.contains("not supported"), "\(note)")
    }
}
