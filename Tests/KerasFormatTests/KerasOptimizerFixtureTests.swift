import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
@testable import KerasFormat
import TestSupport

/// fixtures/keras-optimizers/: models trained 2 epochs by Keras 3.15.1 (JAX) with Nadam, Adamax, Lion, Adadelta, Ftrl
/// and Lamb, saved as .keras and .h5 (fixtures/generate/generate_keras_optimizers.py), with Keras's predictions,
/// saved optimizer variables and, after one more epoch of `fit(shuffle=False)`, its weights.
private let folder = kerasFixtureFolder("keras-optimizers")
private let models: [KerasOptimizerFixtures.Model] =
    decodeKerasFixture(KerasOptimizerFixtures.self, at: folder.appendingPathComponent("expected.json"))?.models ?? []

private func load(_ file: String) throws -> ModelDocument {
    try ModelFiles.load(folder.appendingPathComponent(file).path)
}

struct KerasOptimizerFixtureTests {
    @Test func fixturesArePresent() {
        let kinds = Set(models.compactMap { model in try? load(model.keras).training?.optimizer.config.kind })
        #expect(kinds == [.nadam, .adamax, .lion, .adadelta, .ftrl, .lamb])
    }

    /// Every stored variable, slots and Nadam's u_product alike, is read bit for bit from both formats, and both
    /// give the same document.
    @Test("the optimizer state is Keras's, bit for bit, from .keras and .h5", arguments: models)
    fileprivate func stateIsKeras(model: KerasOptimizerFixtures.Model) throws {
        let saved = model.optimizerVariablesSaved
        let prefix = try #require(saved.first?.path.split(separator: "/").first.map(String.init))
        var documents: [ModelDocument] = []
        for file in [model.h5, model.keras] {
            let document = try load(file)
            let optimizer = try #require(document.training?.optimizer, "\(file)")
            #expect(optimizer.iterations == model.iterations, "\(file)")
            for slot in optimizer.slots {
                for (tensor, parameter) in zip(slot.tensors, document.parameterNames) {
                    let path = "\(prefix)/\(model.name)_" + parameter.replacingOccurrences(of: "/", with: "_") + "_\(slot.name)"
                    let expected = try #require(saved.first { $0.path == path }, "\(file): Keras saved no \(path)")
                    #expect(floats(tensor).map { Float($0).bitPattern } == expected.values.map { Float($0).bitPattern }, "\(file) \(path)")
                }
            }
            // Keras's unnamed scalar variables (u_product) come after the slots, in order.
            let unnamed = saved.filter { !$0.path.contains("/") }
            #expect(optimizer.scalars.map(\.value) == unnamed.map { $0.values[0] }, "\(file): scalars")
            #expect(optimizer.config.scalarNames.count == unnamed.count, "\(file)")
            documents.append(document)
        }
        #expect(documents[0].training == documents[1].training, "\(model.name): .h5 and .keras state differ")
    }

    @Test("predictions equal Keras's", arguments: models)
    fileprivate func predictionsMatchKeras(model: KerasOptimizerFixtures.Model) throws {
        try expectPredictions(of: model, in: folder)
    }

    /// One more epoch in mlpconv from either file reaches Keras's own continuation.
    @Test("training continues as Keras continues", arguments: models)
    fileprivate func continuationMatchesKeras(model: KerasOptimizerFixtures.Model) throws {
        for file in [model.h5, model.keras] {
            let trained = try continueOneEpoch(try load(file), on: model.train)
            #expect(trained.training.optimizer.state.iterations == model.continuation.iterations, "\(file)")
            expectWeights(of: trained.network, equal: model.continuation.weights, within: 1e-5, file)
        }
    }

    /// mlpconv writes the optimizer variables under Keras's names, in Keras's order and dtypes.
    @Test("the .h5 mlpconv writes names the optimizer variables as Keras does", arguments: models)
    fileprivate func writtenLayoutIsKeras(model: KerasOptimizerFixtures.Model) throws {
        try expectWrittenOptimizerLayout(of: try load(model.h5), equals: model)
    }

    /// Keras's file → mlpconv's .keras and .h5 → the same document (what the interop check then gives to Keras).
    @Test("Keras file → keras-h5 and keras → equal document", arguments: models)
    fileprivate func roundTrip(model: KerasOptimizerFixtures.Model) throws {
        for file in [model.h5, model.keras] {
            try expectKerasRoundTrip(try load(file), name: "rt_" + file.replacingOccurrences(of: ".", with: "_"))
        }
    }

    /// fixtures/keras-reader's Nadam model, once an example of an optimizer mlpconv could not continue, now loads
    /// with its state from both formats.
    @Test func theOnceUntrainableNadamModelLoadsWithItsState() throws {
        let reader = kerasFixtureFolder("keras-reader")
        var documents: [ModelDocument] = []
        for file in ["untrainable_nadam.h5", "untrainable_nadam.keras"] {
            let document = try ModelFiles.load(reader.appendingPathComponent(file).path)
            let optimizer = try #require(document.training?.optimizer, "\(file)")
            #expect(optimizer.config.kind == .nadam && optimizer.iterations > 0, "\(file)")
            #expect(optimizer.scalars.map(\.name) == ["u_product"] && (optimizer.scalars.first?.value ?? 1) < 1, "\(file)")
            #expect(document.metadata["keras_training_state"] == nil, "\(file)")
            documents.append(document)
        }
        #expect(documents[0].training == documents[1].training)
    }

    /// A compiled Keras model that never trained has no optimizer variables; Keras would build Ftrl's and Adagrad's
    /// accumulator at `initial_accumulator_value` (a `Constant` initializer) and everything else at zero.
    @Test func aNeverTrainedOptimizerStartsAtKerasInitialValues() throws {
        let document = try load(try #require(models.first).keras)
        for kind in [OptimizerKind.ftrl, .adagrad] {
            var config = OptimizerConfig(kind)
            config.initialAccumulatorValue = 0.25
            for slot in KerasH5Reader.zeroSlots(config, document) {
                let wanted: Double = slot.name == "accumulator" ? 0.25 : 0
                #expect(slot.tensors.allSatisfy { floats($0).allSatisfy { $0 == wanted } }, "\(kind) \(slot.name)")
            }
        }
    }

    /// A model trained by mlpconv with each optimizer, written to both Keras formats and read back unchanged.
    @Test("native model with a new optimizer → keras-h5 and keras → equal document",
          arguments: [OptimizerKind.nadam, .adamax, .lion, .adadelta, .ftrl, .lamb])
    func nativeRoundTrip(_ kind: OptimizerKind) throws {
        var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .relu), LayerSpec(2, .softmax)],
                                     loss: .categoricalCrossentropy, optimizer: OptimizerConfig(kind), seed: 11)
        let data = try Dataset<Float>(features: [0.1, 0.2, 0.3, -1, 0, 1, 2, 2, 2, 0.5, -0.5, 0],
                                      featureWidth: 3, targets: [1, 0, 0, 1, 1, 0, 0, 1], targetWidth: 2)
        _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
        let document = ModelDocument(model: model)
        if kind == .nadam { #expect(document.training?.optimizer.scalars.first.map { $0.value < 1 } == true) }
        try expectKerasRoundTrip(document, name: "native_\(kind.name)")
    }
}
