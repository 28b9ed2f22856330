import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import JSONFormat
import TestSupport

/// Every torch kind with its non-default settings (every slot it can keep), trained a few steps, as a document.
func torchOptimizerDocument<T: MLPScalar>(_ kind: OptimizerKind, as _: T.Type = Float.self) throws -> ModelDocument {
    var config = OptimizerConfig(kind, learningRate: 0.01)
    switch kind {
    case .torchSGD: (config.momentum, config.dampening) = (0.9, 0.1)
    case .torchAdam, .torchAdamW: (config.amsgrad, config.beta2) = (true, 0.99)
    case .torchRMSprop: (config.momentum, config.centered, config.alpha) = (0.5, true, 0.9)
    default: (config.learningRateDecay, config.initialAccumulatorValue) = (0.01, 0.1)
    }
    (config.torchWeightDecay, config.maximize) = (0.001, kind == .torchRMSprop)
    return try trainedDocument(config, as: T.self)
}

struct JSONTorchOptimizerTests {
    @Test("torch's optimizers survive JSON bit for bit, in both tensor encodings",
          arguments: [OptimizerKind.torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad])
    func roundTrip(_ kind: OptimizerKind) throws {
        for document in [try torchOptimizerDocument(kind), try torchOptimizerDocument(kind, as: Double.self)] {
            let optimizer = try #require(document.training?.optimizer)
            #expect(optimizer.slots.map(\.name) == optimizer.config.slotNames && !optimizer.slots.isEmpty)
            for encoding in JSONTensorEncoding.allCases {
                let bytes = try encodeJSON(document, encoding, name: "torch-\(kind.name)-\(document.parameterTensors[0].dtype)")
                #expect(try decodeJSON(bytes) == document, "\(kind) \(encoding)")
            }
        }
    }

    @Test func torchKeysAreWrittenAndKerasKeysRefused() throws {
        let text = String(decoding: JSONModelCodec.encode(try torchOptimizerDocument(.torchAdagrad), tensors: .array), as: UTF8.self)
        #expect(text.contains(#""name": "torch_adagrad""#))
        #expect(text.contains(#""lr_decay": 0.01"#) && text.contains(#""maximize": false"#) && !text.contains("clipnorm"))
        #expect(text.contains(#""sum": {"#))

        let withClip = text.replacingOccurrences(of: #""maximize": false"#, with: #""maximize": false, "clipnorm": 1"#)
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(withClip) }?.description ?? ""
        #expect(error.contains("clipnorm: is a Keras optimizer setting"), "\(error)")
        try writeInteropFile(Array(withClip.utf8), name: "torch-adagrad-with-clipnorm.json", invalid: true)

        // torch's class path names the kind too; files store the snake form.
        let aliased = text.replacingOccurrences(of: #""name": "torch_adagrad""#, with: #""name": "torch.optim.Adagrad""#)
        #expect(try decodeJSON(aliased).training?.optimizer.config.kind == .torchAdagrad)
    }
}
