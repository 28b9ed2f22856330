import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import JSONFormat
import TestSupport

/// A small model trained a few steps with `config`, as a document: real slots and scalars, in `T`.
func trainedDocument<T: MLPScalar>(_ config: OptimizerConfig, as _: T.Type = Float.self) throws -> ModelDocument {
    var model = try Model<T>(inputWidth: 3, layers: [LayerSpec(4, .tanh), LayerSpec(2, .sigmoid)],
                             loss: .binaryCrossentropy, optimizer: config, seed: 21)
    let data = try Dataset<T>(features: [0.1, 0.2, 0.3, -1, 0, 1, 2, 2, 2], featureWidth: 3,
                              targets: [1, 0, 0, 1, 1, 1], targetWidth: 2)
    _ = try model.fit(data, options: FitOptions(epochs: 2, batchSize: 2))
    return ModelDocument(model: model)
}

struct JSONOptimizerKindsTests {
    @Test("every new optimizer's state survives JSON bit for bit, in both tensor encodings",
          arguments: [OptimizerKind.nadam, .adamax, .lion, .adadelta, .ftrl, .lamb])
    func roundTrip(_ kind: OptimizerKind) throws {
        var config = OptimizerConfig(kind)
        if kind == .ftrl { (config.l1RegularizationStrength, config.beta, config.learningRatePower) = (0.01, 0.5, -0.7) }
        for document in [try trainedDocument(config), try trainedDocument(config, as: Double.self)] {
            for encoding in JSONTensorEncoding.allCases {
                let bytes = try encodeJSON(document, encoding, name: "optimizer-\(kind.name)-\(document.parameterTensors[0].dtype)")
                let back = try decodeJSON(bytes)
                #expect(back == document, "\(kind) \(encoding)")
                #expect(back.training?.optimizer.scalars == document.training?.optimizer.scalars)
            }
        }
    }

    @Test func nadamWritesItsUProduct() throws {
        let document = try trainedDocument(OptimizerConfig(.nadam))
        let scalar = try #require(document.training?.optimizer.scalars.first)
        #expect(scalar.name == "u_product" && scalar.value > 0 && scalar.value < 1)
        let text = String(decoding: JSONModelCodec.encode(document, tensors: .array), as: UTF8.self)
        #expect(text.contains("\"scalars\": {\"u_product\": \(scalar.value)}"), "\(text.suffix(400))")
        // Other optimizers write no scalars at all.
        let adam = String(decoding: JSONModelCodec.encode(try trainedDocument(OptimizerConfig(.adam)), tensors: .array),
                          as: UTF8.self)
        #expect(!adam.contains("scalars"))
    }

    @Test func missingOrUnexpectedScalarsAreRefusedByPath() throws {
        let nadam = String(decoding: JSONModelCodec.encode(try trainedDocument(OptimizerConfig(.nadam)), tensors: .array),
                           as: UTF8.self)
        let range = try #require(nadam.range(of: #",\s*"scalars": \{"u_product": [^}]*\}"#, options: .regularExpression))
        var missing = nadam
        missing.removeSubrange(range)
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(missing) }?.description ?? ""
        #expect(error.contains("$.training.optimizer.scalars") && error.contains("u_product"), "\(error)")
        try writeInteropFile(Array(missing.utf8), name: "nadam-without-u-product.json", invalid: true)

        let adam = String(decoding: JSONModelCodec.encode(try trainedDocument(OptimizerConfig(.adam)), tensors: .array),
                          as: UTF8.self)
        let extra = adam.replacingOccurrences(of: #""iterations": 4,"#, with: #""iterations": 4, "scalars": {"u_product": 0.5},"#)
        #expect(extra != adam)
        let unexpected = expectError(ModelFileError.self) { _ = try decodeJSON(extra) }?.description ?? ""
        #expect(unexpected.contains("unexpected scalar \"u_product\""), "\(unexpected)")

        let outOfRange = nadam.replacingCharacters(in: range, with: #", "scalars": {"u_product": 1.5}"#)
        let bad = expectError(ModelFileError.self) { _ = try decodeJSON(outOfRange) }?.description ?? ""
        #expect(bad.contains("optimizer/u_product") && bad.contains("[0, 1]"), "\(bad)")
        try writeInteropFile(Array(outOfRange.utf8), name: "nadam-u-product-out-of-range.json", invalid: true)
    }
}
