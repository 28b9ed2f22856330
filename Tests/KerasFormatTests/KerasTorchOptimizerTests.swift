import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
@testable import KerasFormat
import TestSupport

/// A document trained 3 steps with a torch optimizer.
private func torchDocument(_ config: OptimizerConfig) throws -> ModelDocument {
    var model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .relu), LayerSpec(1, .linear)],
                                 loss: .meanSquaredError, optimizer: config, seed: 4)
    let data = try Dataset<Float>(features: [0.5, -1, 1, 1, 0, 2], featureWidth: 2, targets: [1, -1, 0.5], targetWidth: 1)
    _ = try model.fit(data, options: FitOptions(epochs: 3, batchSize: 3))
    return ModelDocument(model: model)
}

/// Keras holds no torch optimizer: the writers translate it (ModelDocument+OptimizerTranslation.swift) or refuse.
struct KerasTorchOptimizerTests {
    @Test("a torch SGD is written as Keras's SGD, its momentum buffer times −lr", arguments: [ModelFormat.keras, .kerasH5])
    func sgdIsTranslated(format: ModelFormat) throws {
        var config = OptimizerConfig(.torchSGD, learningRate: 0.05)
        config.momentum = 0.9
        let document = try torchDocument(config)
        let folder = try TemporaryFolder()
        let path = folder.path("m." + (format == .keras ? "keras" : "h5"))
        try ModelFiles.save(document, to: path, format: format)
        let back = try #require(try ModelFiles.load(path).training?.optimizer)
        #expect(back.config.kind == .sgd && back.config.momentum == 0.9 && back.iterations == 3)
        let buffer = try #require(document.training?.optimizer.slots.first).tensors
        let momentum = try #require(back.slots.first { $0.name == "momentum" }).tensors
        for (b, m) in zip(buffer, momentum) {
            #expect(m.float32Values == b.float32Values.map { $0 * Float(-0.05) })
        }
    }

    @Test func anApproximateTranslationIsNotedInTheMetadata() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("m.keras")
        try ModelFiles.save(try torchDocument(OptimizerConfig(.torchAdam)), to: path, format: .keras)
        let back = try ModelFiles.load(path)
        #expect(back.training?.optimizer.config.kind == .adam)
        #expect(back.metadata[KerasWriting.optimizerTranslationKey]?.hasPrefix("from torch_adam: Keras adds epsilon") == true)
    }

    /// The Keras writers refuse an optimizer with no Keras translation; the façade, which converts, leaves the
    /// training state out instead and says why in the notes it returns.
    @Test func anUntranslatableOptimizerIsRefusedWithTheReason() throws {
        var config = OptimizerConfig(.torchAdagrad)
        config.learningRateDecay = 0.1
        let folder = try TemporaryFolder()
        let path = folder.path("m.h5")
        let error = expectError(ModelFileError.self) {
            try KerasH5Writer.write(try torchDocument(config), toPath: path, file: path)
        }?.description ?? ""
        #expect(error.contains("the optimizer has no Keras translation: torch's torch_adagrad has lr_decay 0.1"), "\(error)")
        #expect(error.contains("--drop-optimizer"))

        let notes = try ModelFiles.save(try torchDocument(config), to: path, format: .kerasH5)
        #expect(notes == ["training state left out: torch's torch_adagrad has lr_decay 0.1; Keras's Adagrad has none"], "\(notes)")
        #expect(try ModelFiles.load(path).training == nil)
    }
}
