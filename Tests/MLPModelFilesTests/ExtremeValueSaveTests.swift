import Foundation
import MLPCore
import MLPDocument
@testable import MLPModelFiles
import Testing
import TestSupport

/// No writer traps on a value: a document carrying a number no file can hold (beyond float32 where a format stores
/// float32, or not finite where JSON has no literal) is refused by `ModelFiles.save` before any writer runs, in
/// every format, and nothing is left behind. The Keras writers used to reach `JSONWriter.number(+inf)` (a trap)
/// for a learning rate of 1e39.
struct ExtremeValueSaveTests {
    static let values: [Double] = [1e39, -1e39, .infinity, .nan]

    /// Each mutation puts `value` into one number the writers store.
    static let mutations: [(name: String, apply: @Sendable (inout ModelDocument, Double) -> Void)] = [
        ("learning_rate", { document, value in document.training?.optimizer.config.learningRate = value }),
        ("epsilon", { document, value in document.training?.optimizer.config.epsilon = value }),
        ("beta_2", { document, value in document.training?.optimizer.config.beta2 = value }),
        ("weight_decay", { document, value in document.training?.optimizer.config.weightDecay = value }),
        ("clipnorm", { document, value in document.training?.optimizer.config.clipnorm = value }),
        ("loss_scale_factor", { document, value in document.training?.optimizer.config.lossScaleFactor = value }),
        ("ema_momentum", { document, value in
            document.training?.optimizer.config.useEMA = true
            document.training?.optimizer.config.emaMomentum = value
        }),
        ("schedule decay_rate", { document, value in
            guard var config = document.training?.optimizer.config,
                  var schedule = try? LearningRateSchedule(.exponentialDecay, parameters: [
                    "initial_learning_rate": .number(0.1), "decay_steps": .number(10), "decay_rate": .number(0.5)]) else { return }
            schedule.decayRate = value
            config.schedule = schedule
            document.training?.optimizer.config = config
        }),
        ("dropout rate", { document, value in
            document.architecture.layers[1].kind = .dropout(DropoutSettings(rate: value))
        }),
    ]

    private func document() throws -> ModelDocument {
        let model = try Model<Float>(
            inputWidth: 3, layers: [LayerSpec(4, .relu), LayerSpec(.dropout(DropoutSettings(rate: 0.1))), LayerSpec(2, .linear)],
            loss: .meanSquaredError, optimizer: OptimizerConfig(.adam), seed: 1)
        return ModelDocument(model: model)
    }

    @Test(arguments: ModelFormat.allCases)
    func everyFormatRefusesUnstorableNumbers(format: ModelFormat) throws {
        let folder = try TemporaryFolder()
        let base = try document()
        for (name, apply) in Self.mutations {
            for value in Self.values {
                var document = base
                apply(&document, value)
                let path = folder.path("m.\(format.rawValue)")
                #expect(throws: ModelFileError.self, "\(name) = \(value) in \(format)") {
                    try ModelFiles.save(document, to: path, format: format)
                }
                #expect(!FileManager.default.fileExists(atPath: path), "\(name) = \(value) in \(format)")
            }
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}
