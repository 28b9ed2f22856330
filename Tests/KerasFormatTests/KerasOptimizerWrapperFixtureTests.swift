import Foundation
import MLPCore
import Testing
import HDF5Support
import MLPDocument
@testable import MLPModelFiles
@testable import KerasFormat
import TestSupport

/// fixtures/keras-optimizer-wrappers/: models trained 8 steps by Keras 3.15.1 (JAX) with use_ema (with and without
/// ema_overwrite_frequency), gradient_accumulation_steps 3 (accumulators two steps in), loss_scale_factor 128 and a
/// LossScaleOptimizer around Adam, saved as .keras and .h5 (fixtures/generate/generate_keras_optimizer_wrappers.py),
/// with Keras's predictions, saved optimizer variables and, after one more epoch of `fit(shuffle=False)`, its weights
/// and optimizer variables.
private let folder = kerasFixtureFolder("keras-optimizer-wrappers")
private let models: [KerasOptimizerFixtures.Model] =
    decodeKerasFixture(KerasOptimizerFixtures.self, at: folder.appendingPathComponent("expected.json"))?.models ?? []

private func load(_ file: String) throws -> ModelDocument {
    try ModelFiles.load(folder.appendingPathComponent(file).path)
}

/// Keras's saved variables compared with an optimizer record: every slot tensor by Keras's variable name
/// (`<optimizer>/<model>_<layer>_<kernel|bias>_<slot>`), the loss scale's variables by theirs, Nadam's
/// unnamed `variable`. Returns the largest scaled difference; `exact` also requires equal bits.
private func compare(_ optimizer: ModelDocument.OptimizerRecord, parameters: [String], model: String,
                     with saved: [KerasOptimizerFixtures.Variable], label: String) throws -> Double {
    let prefix = KerasWriting.optimizerName(optimizer.config)
    var worst = 0.0
    var seen = 0
    for slot in optimizer.slots {
        for (tensor, parameter) in zip(slot.tensors, parameters) {
            let path = "\(prefix)/\(model)_" + parameter.replacingOccurrences(of: "/", with: "_") + "_\(slot.name)"
            let expected = try #require(saved.first { $0.path == path }, "\(label): Keras saved no \(path)")
            worst = max(worst, scaledError(floats(tensor).map { Float($0) }, expected.values))
            seen += 1
        }
    }
    for scalar in optimizer.scalars {
        let path = KerasOptimizerLayout.namedScalars.contains(scalar.name) ? "loss_scale_optimizer/\(scalar.name)" : "variable"
        let expected = try #require(saved.first { $0.path == path }, "\(label): Keras saved no \(path)")
        #expect(scalar.value == expected.values[0], "\(label) \(scalar.name)")
        seen += 1
    }
    let iteration = try #require(saved.first { $0.path == "\(prefix)/iteration" }, "\(label): no iteration")
    #expect(Double(optimizer.iterations) == iteration.values[0], "\(label): iterations")
    // Besides the slots and scalars Keras keeps only iteration and learning_rate (the wrapper's too).
    let extra = saved.count - seen
    #expect(extra == (optimizer.config.dynamicLossScale != nil ? 4 : 2), "\(label): \(extra) other variables")
    return worst
}

struct KerasOptimizerWrapperFixtureTests {
    @Test func everySettingLoadsWithItsTrainingState() throws {
        try #require(models.count == 5, "fixtures/keras-optimizer-wrappers/expected.json did not load")
        var configs: [OptimizerConfig] = []
        for model in models {
            for file in [model.h5, model.keras] {
                let document = try load(file)
                #expect(document.metadata["keras_training_state"] == nil, "\(file): \(document.metadata)")
                configs.append(try #require(document.training?.optimizer.config, "\(file)"))
            }
        }
        #expect(configs.contains { $0.useEMA && $0.emaMomentum == 0.9 && $0.emaOverwriteFrequency == nil })
        #expect(configs.contains { $0.useEMA && $0.emaMomentum == 0.8 && $0.emaOverwriteFrequency == 3 })
        #expect(configs.contains { $0.kind == .sgd && $0.gradientAccumulationSteps == 3 && $0.momentum == 0.9 })
        #expect(configs.contains { $0.lossScaleFactor == 128 })
        #expect(configs.contains { $0.kind == .adam && $0.dynamicLossScale == .init(initialScale: 256, dynamicGrowthSteps: 3) })
    }

    @Test("the optimizer state is Keras's, bit for bit, from .keras and .h5", arguments: models)
    fileprivate func stateIsKeras(model: KerasOptimizerFixtures.Model) throws {
        var documents: [ModelDocument] = []
        for file in [model.h5, model.keras] {
            let document = try load(file)
            let optimizer = try #require(document.training?.optimizer, "\(file)")
            #expect(optimizer.iterations == model.iterations, "\(file)")
            let error = try compare(optimizer, parameters: document.parameterNames, model: model.name,
                                    with: model.optimizerVariablesSaved, label: file)
            #expect(error == 0, "\(file): slots differ by \(error)")
            documents.append(document)
        }
        #expect(documents[0].training == documents[1].training, "\(model.name): .h5 and .keras state differ")
    }

    @Test("predictions equal Keras's", arguments: models)
    fileprivate func predictionsMatchKeras(model: KerasOptimizerFixtures.Model) throws {
        try expectPredictions(of: model, in: folder)
    }

    /// One more epoch in mlpconv from either file reaches Keras's own continuation: weights (after Keras's final
    /// EMA overwrite), every slot, the loss scale and the counters.
    @Test("training continues as Keras continues", arguments: models)
    fileprivate func continuationMatchesKeras(model: KerasOptimizerFixtures.Model) throws {
        for file in [model.h5, model.keras] {
            let trained = try continueOneEpoch(try load(file), on: model.train)
            #expect(trained.training.optimizer.state.iterations == model.continuation.iterations, "\(file)")
            expectWeights(of: trained.network, equal: model.continuation.weights, within: 1e-5, file)
            let document = ModelDocument(model: trained)
            let optimizer = try #require(document.training?.optimizer)
            let error = try compare(optimizer, parameters: document.parameterNames, model: model.name,
                                    with: try #require(model.continuation.optimizerVariables), label: "\(file) continued")
            #expect(error <= 1e-5, "\(file): slots after one epoch differ by \(error)")
        }
    }

    /// mlpconv writes the optimizer variables under Keras's names, in Keras's order and dtypes.
    @Test("the .h5 mlpconv writes names the optimizer variables as Keras does", arguments: models)
    fileprivate func writtenLayoutIsKeras(model: KerasOptimizerFixtures.Model) throws {
        try expectWrittenOptimizerLayout(of: try load(model.h5), equals: model)
    }

    /// Keras's file → mlpconv's .keras and .h5, and its own JSON and HDF5 → the same document, bit for bit.
    @Test("round trips through every format keep the state bit for bit", arguments: models)
    fileprivate func roundTrips(model: KerasOptimizerFixtures.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try load(file)
            try expectKerasRoundTrip(document, name: "wrappers_" + file.replacingOccurrences(of: ".", with: "_"))
            let temporary = try TemporaryFolder()
            for (format, name) in [(ModelFormat.json, "m.json"), (.h5, "m.h5")] {
                let path = temporary.path(name)
                try ModelFiles.save(document, to: path, format: format)
                let back = try ModelFiles.load(path)
                #expect(back.training == document.training, "\(file) → \(name)")
                #expect(back.weights == document.weights, "\(file) → \(name)")
            }
        }
    }

    /// Training one epoch, saving, loading and training another gives the bits of two epochs in one run in memory
    /// (one `fit` per epoch both ways: Keras's fit ends by copying the averages into the weights).
    @Test("1 + 1 epochs through a file = 1 + 1 in memory, every format", arguments: models)
    fileprivate func resumingIsExact(model: KerasOptimizerFixtures.Model) throws {
        let options = FitOptions(epochs: 1, batchSize: model.train.batchSize, shuffle: false)
        let data = try model.train.dataset
        var straight: Model<Float> = try load(model.keras).model()
        try straight.fit(data, options: options)
        try straight.fit(data, options: options)
        let expected = ModelDocument(model: straight)
        let temporary = try TemporaryFolder()
        for (format, name) in [(ModelFormat.json, "m.json"), (.h5, "m.h5"), (.keras, "m.keras"), (.kerasH5, "m.keras.h5")] {
            var first: Model<Float> = try load(model.keras).model()
            try first.fit(data, options: options)
            let path = temporary.path(name)
            try ModelFiles.save(ModelDocument(model: first), to: path, format: format)
            var second: Model<Float> = try ModelFiles.load(path).model()
            try second.fit(data, options: options)
            let resumed = ModelDocument(model: second)
            #expect(resumed.training?.optimizer == expected.training?.optimizer, "\(model.name) via \(name)")
            #expect(resumed.weights == expected.weights, "\(model.name) via \(name)")
        }
    }
}

/// Keras files whose wrapper settings or variables are out of range still load (architecture and weights) without
/// their training state; the `keras_training_state` note names the object and the reason.
struct KerasOptimizerWrapperBadInputTests {
    @Test("bad wrapper settings keep the training state out, naming the setting", arguments: [
        ("loss_scale_optimizer_adam_tanh_linear.h5", "\"initial_scale\": 256.0", "\"initial_scale\": 0.0",
         "initial_scale", "must be a finite number > 0"),
        ("loss_scale_optimizer_adam_tanh_linear.h5", "\"dynamic_growth_steps\": 3", "\"dynamic_growth_steps\": -3",
         "dynamic_growth_steps", "must be an integer ≥ 1"),
        ("sgd_accumulate_3_relu_sigmoid.h5", "\"gradient_accumulation_steps\": 3", "\"gradient_accumulation_steps\": -2",
         "gradient_accumulation_steps", "must be an integer ≥ 2"),
        ("adam_ema_relu_softmax.h5", "\"ema_momentum\": 0.9", "\"ema_momentum\": 1.5", "ema_momentum", "must be in [0, 1]"),
        ("adam_ema_overwrite_tanh_linear.h5", "\"ema_overwrite_frequency\": 3", "\"ema_overwrite_frequency\": 0",
         "ema_overwrite_frequency", "must be an integer ≥ 1"),
        ("adam_loss_scale_factor_elu_softmax.h5", "\"loss_scale_factor\": 128.0", "\"loss_scale_factor\": 0.0",
         "loss_scale_factor", "must be a finite number > 0"),
    ])
    func badSettings(file: String, original: String, replacement: String, key: String, reason: String) throws {
        let temporary = try TemporaryFolder()
        let path = temporary.path(file)
        try FileManager.default.copyItem(atPath: folder.appendingPathComponent(file).path, toPath: path)
        do {
            let h5 = try HDF5File.openReadWrite(at: path)
            let text = try h5.stringAttribute("training_config")
            try #require(text.contains(original), "\(file): \(original)")
            try h5.setAttribute("training_config", .string(text.replacingOccurrences(of: original, with: replacement)))
            try h5.close()
        }
        let document = try ModelFiles.load(path)
        #expect(document.training == nil, "\(file)")
        let note = try #require(document.metadata["keras_training_state"], "\(file)")
        #expect(note.contains("/@training_config") && note.contains(key) && note.contains(reason), "\(note)")
    }

    @Test func aMissingLossScaleVariableIsRefusedByName() throws {
        let file = "loss_scale_optimizer_adam_tanh_linear.h5"
        let temporary = try TemporaryFolder()
        let path = temporary.path(file)
        try FileManager.default.copyItem(atPath: folder.appendingPathComponent(file).path, toPath: path)
        let h5 = try HDF5File.openReadWrite(at: path)
        do {
            let group = try h5.openGroup("optimizer_weights")
            guard case .strings(let names) = try group.attribute("weight_names") else {
                Issue.record("weight_names is not a string list")
                return
            }
            try group.setAttribute("weight_names", .strings(names.filter { $0 != "loss_scale_optimizer/dynamic_scale" }))
        }
        try h5.close()
        // Variables that do not fit the configuration are refused, as for every optimizer.
        let message = kerasLoadError(path)
        #expect(message.contains("\(file): /optimizer_weights@weight_names: no dynamic_scale variable"), "\(message)")
    }
}
