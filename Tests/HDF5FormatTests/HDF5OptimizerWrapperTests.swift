import Foundation
import MLPCore
import Testing
import HDF5Support
import MLPDocument
@testable import HDF5Format
import TestSupport

/// A model trained with every wrapper setting: averages, gradient accumulators mid-way, a dynamic loss scale.
func wrapperDocument<T: MLPScalar>(_ kind: OptimizerKind, as _: T.Type = Float.self,
                                   settings: (inout OptimizerConfig) -> Void) throws -> ModelDocument {
    var config = OptimizerConfig(kind)
    settings(&config)
    var model = try Model<T>(inputWidth: 2, layers: [LayerSpec(3, .relu), LayerSpec(1, .linear)],
                             loss: .meanSquaredError, optimizer: config, seed: 4)
    let data = try Dataset<T>(features: [0.5, -1, 1, 1, 0, 2, 1, 0.25, -2, 1], featureWidth: 2,
                              targets: [1, -1, 0.5, 0, 2], targetWidth: 1)
    _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
    return ModelDocument(model: model)
}

let wrapperSettings: [(String, @Sendable (inout OptimizerConfig) -> Void)] = [
    ("ema", { $0.useEMA = true; $0.emaMomentum = 0.9; $0.emaOverwriteFrequency = 4 }),
    ("accumulation", { $0.gradientAccumulationSteps = 4 }),
    ("loss_scale_factor", { $0.lossScaleFactor = 64 }),
    ("dynamic_loss_scale", { $0.dynamicLossScale = .init(initialScale: 512, dynamicGrowthSteps: 2) }),
    ("all", { $0.useEMA = true; $0.gradientAccumulationSteps = 2; $0.dynamicLossScale = .init(initialScale: 8, dynamicGrowthSteps: 5) }),
]

struct HDF5OptimizerWrapperTests {
    @Test("the wrappers' settings and state survive the native HDF5 layout bit for bit", arguments: 0..<5)
    func roundTrip(_ index: Int) throws {
        let folder = try TemporaryFolder()
        let (name, settings) = wrapperSettings[index]
        for (n, document) in [try wrapperDocument(.nadam, settings: settings),
                              try wrapperDocument(.adam, as: Double.self, settings: settings)].enumerated() {
            let path = folder.path("\(n).h5")
            try HDF5ModelCodec.write(document, toPath: path, file: "m.h5", options: SaveOptions())
            let back = try HDF5ModelCodec.read(path: path, file: "m.h5", limits: LoadLimits())
            #expect(back == document, "\(name) #\(n)")
            #expect(back.training?.optimizer.scalars.map(\.value.bitPattern)
                    == document.training?.optimizer.scalars.map(\.value.bitPattern), "\(name)")
        }
    }

    @Test func badWrapperValuesAreRefusedNamingTheAttribute() throws {
        let folder = try TemporaryFolder()
        let document = try wrapperDocument(.sgd) { $0.gradientAccumulationSteps = 3; $0.dynamicLossScale = .init(initialScale: 4) }
        for (attribute, value, reason) in [
            ("gradient_accumulation_steps", HDF5AttributeValue.double(-2), "must be an integer ≥ 2"),
            ("initial_scale", .double(0), "must be a finite number > 0"),
            ("dynamic_scale", .double(0), "dynamic_scale"),
            ("step_counter", .double(-1), "step_counter"),
        ] {
            let (path, _) = try writeSample(folder, document, name: "\(attribute).h5")
            try tamper(path) { try $0.openGroup("optimizer").setAttribute(attribute, value) }
            let message = readError(path) ?? ""
            #expect(message.contains("model.h5") && message.contains(attribute) && message.contains(reason), "\(message)")
        }
    }
}
