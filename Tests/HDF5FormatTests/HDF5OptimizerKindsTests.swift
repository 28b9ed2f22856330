import CHDF5
import Foundation
import MLPCore
import Testing
import HDF5Support
import MLPDocument
@testable import HDF5Format
import TestSupport

private func trainedDocument<T: MLPScalar>(_ kind: OptimizerKind, as _: T.Type = Float.self) throws -> ModelDocument {
    var model = try Model<T>(inputWidth: 2, layers: [LayerSpec(3, .relu), LayerSpec(1, .linear)],
                             loss: .meanSquaredError, optimizer: OptimizerConfig(kind), seed: 4)
    let data = try Dataset<T>(features: [0.5, -1, 1, 1, 0, 2], featureWidth: 2, targets: [1, -1, 0.5], targetWidth: 1)
    _ = try model.fit(data, options: FitOptions(epochs: 3, batchSize: 2))
    return ModelDocument(model: model)
}

struct HDF5OptimizerKindsTests {
    @Test("every new optimizer's state survives the native HDF5 layout bit for bit",
          arguments: [OptimizerKind.nadam, .adamax, .lion, .adadelta, .ftrl, .lamb])
    func roundTrip(_ kind: OptimizerKind) throws {
        let folder = try TemporaryFolder()
        for (index, document) in [try trainedDocument(kind), try trainedDocument(kind, as: Double.self)].enumerated() {
            let path = folder.path("\(index).h5")
            try HDF5ModelCodec.write(document, toPath: path, file: "m.h5", options: SaveOptions())
            let back = try HDF5ModelCodec.read(path: path, file: "m.h5", limits: LoadLimits())
            #expect(back == document, "\(kind) #\(index)")
            #expect(back.training?.optimizer.scalars.map(\.value.bitPattern)
                    == document.training?.optimizer.scalars.map(\.value.bitPattern))
        }
    }

    @Test func uProductIsAListedFloat64Attribute() throws {
        let folder = try TemporaryFolder()
        let document = try trainedDocument(.nadam)
        let (path, _) = try writeSample(folder, document)
        let optimizer = try HDF5File.openReadOnly(at: path).openGroup("optimizer")
        #expect(try optimizer.stringArrayAttribute("scalars") == ["u_product"])
        #expect(try optimizer.attribute("u_product") == .double(try #require(document.training?.optimizer.scalars.first?.value)))
    }

    @Test func missingOrUnlistedScalarsAreRefusedByName() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder, try trainedDocument(.nadam))
        try tamper(path) { file in
            let optimizer = try file.openGroup("optimizer")
            try HDF5Library.withHDF5 { try #require(H5Adelete(optimizer.id, "u_product") >= 0) }
        }
        let missing = readError(path) ?? ""
        #expect(missing.contains("/optimizer@u_product") && missing.contains("listed in scalars"), "\(missing)")

        let (second, _) = try writeSample(folder, try trainedDocument(.nadam), name: "second.h5")
        try tamper(second) { file in
            let optimizer = try file.openGroup("optimizer")
            try HDF5Library.withHDF5 { try #require(H5Adelete(optimizer.id, "scalars") >= 0) }
        }
        let unlisted = readError(second) ?? ""
        #expect(unlisted.contains("u_product"), "\(unlisted)")
    }
}
