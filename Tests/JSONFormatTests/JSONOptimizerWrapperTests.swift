import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import JSONFormat
import TestSupport

/// A model trained by mlpconv with the wrapper settings, to JSON and back.
private func trained(_ settings: (inout OptimizerConfig) -> Void) throws -> ModelDocument {
    var config = OptimizerConfig(.adam)
    settings(&config)
    var model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .tanh), LayerSpec(1, .linear)],
                                 loss: .meanSquaredError, optimizer: config, seed: 9)
    let data = try Dataset<Float>(features: [0.5, -1, 1, 1, 0, 2, 1, 0.25, -2, 1], featureWidth: 2,
                                  targets: [1, -1, 0.5, 0, 2], targetWidth: 1)
    _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
    return ModelDocument(model: model)
}

struct JSONOptimizerWrapperTests {
    @Test func settingsAndStateRoundTripBitForBit() throws {
        let document = try trained {
            $0.useEMA = true; $0.emaOverwriteFrequency = 3; $0.gradientAccumulationSteps = 2
            $0.dynamicLossScale = .init(initialScale: 1024, dynamicGrowthSteps: 2)
        }
        let bytes = try encodeJSON(document, .auto, name: "wrappers")
        let text = String(decoding: bytes, as: UTF8.self)
        for key in ["\"use_ema\": true", "\"ema_overwrite_frequency\": 3", "\"gradient_accumulation_steps\": 2",
                    "\"initial_scale\": 1024", "\"dynamic_growth_steps\": 2", "\"average\"", "\"gradient_accumulator\"",
                    "\"step_counter\"", "\"dynamic_scale\""] {
            #expect(text.contains(key), "\(key)")
        }
        let back = try decodeJSON(bytes)
        #expect(back == document)
        // JSON → JSON gives the same bytes.
        #expect(try encodeJSON(back, .auto, name: "wrappers_again") == bytes)
        let factor = try trained { $0.lossScaleFactor = 32 }
        #expect(try decodeJSON(try encodeJSON(factor, .auto, name: "factor")) == factor)
    }

    @Test("bad wrapper values are refused naming the JSON path", arguments: [
        ("\"gradient_accumulation_steps\": 2", "\"gradient_accumulation_steps\": -4",
         "$.training.optimizer.hyperparameters.gradient_accumulation_steps", "must be an integer ≥ 2"),
        ("\"ema_overwrite_frequency\": 3", "\"ema_overwrite_frequency\": 0",
         "$.training.optimizer.hyperparameters.ema_overwrite_frequency", "must be an integer ≥ 1"),
        ("\"ema_momentum\": 0.99", "\"ema_momentum\": 1.5", "$.training.optimizer.hyperparameters.ema_momentum", "must be in [0, 1]"),
        ("\"initial_scale\": 1024", "\"initial_scale\": 0", "$.training.optimizer.hyperparameters.initial_scale", "must be a finite number > 0"),
    ])
    func badValues(original: String, replacement: String, path: String, reason: String) throws {
        let document = try trained {
            $0.useEMA = true; $0.emaOverwriteFrequency = 3; $0.gradientAccumulationSteps = 2
            $0.dynamicLossScale = .init(initialScale: 1024, dynamicGrowthSteps: 2)
        }
        let text = String(decoding: try encodeJSON(document, .auto, name: "bad"), as: UTF8.self)
        try #require(text.contains(original), "\(original)")
        do {
            _ = try decodeJSON(text.replacingOccurrences(of: original, with: replacement))
            Issue.record("\(replacement) was accepted")
        } catch {
            #expect(error.description.contains(path) && error.description.contains(reason), "\(error)")
        }
    }
}
