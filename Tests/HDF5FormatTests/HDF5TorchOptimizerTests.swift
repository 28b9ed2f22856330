import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import HDF5Format
import TestSupport

struct HDF5TorchOptimizerTests {
    @Test("torch's optimizers survive the native HDF5 layout bit for bit",
          arguments: [OptimizerKind.torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad])
    func roundTrip(_ kind: OptimizerKind) throws {
        let folder = try TemporaryFolder()
        var config = OptimizerConfig(kind, learningRate: 0.01)
        switch kind {
        case .torchSGD: (config.momentum, config.nesterov) = (0.9, true)
        case .torchAdam, .torchAdamW: config.amsgrad = true
        case .torchRMSprop: (config.momentum, config.centered) = (0.5, true)
        default: config.learningRateDecay = 0.01
        }
        (config.torchWeightDecay, config.maximize) = (0.001, true)
        for (index, double) in [false, true].enumerated() {
            let data = (features: [0.5, -1, 1, 1, 0, 2], targets: [1.0, -1, 0.5])
            let document: ModelDocument
            if double {
                var model = try Model<Double>(inputWidth: 2, layers: [LayerSpec(3, .relu), LayerSpec(1, .linear)],
                                              loss: .meanSquaredError, optimizer: config, seed: 4)
                _ = try model.fit(try Dataset(features: data.features, featureWidth: 2, targets: data.targets, targetWidth: 1),
                                  options: FitOptions(epochs: 3, batchSize: 2))
                document = ModelDocument(model: model)
            } else {
                var model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .relu), LayerSpec(1, .linear)],
                                             loss: .meanSquaredError, optimizer: config, seed: 4)
                _ = try model.fit(try Dataset(features: data.features.map(Float.init), featureWidth: 2,
                                              targets: data.targets.map(Float.init), targetWidth: 1),
                                  options: FitOptions(epochs: 3, batchSize: 2))
                document = ModelDocument(model: model)
            }
            #expect(document.training?.optimizer.slots.map(\.name) == config.slotNames)
            let path = folder.path("\(index).h5")
            try HDF5ModelCodec.write(document, toPath: path, file: "m.h5", options: SaveOptions())
            let back = try HDF5ModelCodec.read(path: path, file: "m.h5", limits: LoadLimits())
            #expect(back == document, "\(kind) #\(index)")
            #expect(back.training?.optimizer.config == config)
        }
    }
}
