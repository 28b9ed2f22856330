import Foundation
import Testing
import MLPCore
import MLPDocument
@testable import JSONFormat
import TestSupport

/// The loss with its settings in the JSON format: the plain name while every setting is default, an object
/// otherwise; the object is read strictly.
@Suite("JSON model codec: loss settings")
struct JSONLossSettingsTests {
    static let losses: [Loss] = [.meanSquaredError, .logCosh, .cosineSimilarity] + [
        try? Loss(.binaryCrossentropy, fromLogits: true), try? Loss(.binaryCrossentropy, labelSmoothing: 0.1),
        try? Loss(.binaryCrossentropy, fromLogits: true, labelSmoothing: 1),
        try? Loss(.categoricalCrossentropy, fromLogits: true, labelSmoothing: 1.0 / 3),
        try? Loss(.sparseCategoricalCrossentropy, fromLogits: true), try? Loss(.huber, delta: 2.5),
        try? Loss(.huber, delta: 1e-300), try? Loss(.smoothL1, beta: 0.5), Loss(.crossEntropy), Loss(.nllLoss),
    ].compactMap { $0 }

    @Test("a loss and its settings survive the round trip; the text is the name or the object", arguments: losses)
    func roundTrip(loss: Loss) throws {
        var document = try sampleDocument()
        document.training?.loss = loss
        let bytes = JSONModelCodec.encode(document, tensors: .array)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(loss.hasDefaultSettings ? "\"loss\": \"\(loss.name)\"" : "\"loss\": {\"name\": \"\(loss.name)\""), "\(text)")
        #expect(try decodeJSON(bytes).training?.loss == loss)
        try writeInteropFile(bytes, name: "loss-" + String(loss.description.map { $0.isLetter || $0.isNumber ? $0 : "-" }) + ".json")
    }

    @Test func aliasesAndDefaultSettingsAreAccepted() throws {
        let text = String(decoding: JSONModelCodec.encode(try sampleDocument(), tensors: .array), as: UTF8.self)
        func decoded(_ loss: String) throws -> Loss? {
            try decodeJSON(Array(text.replacingOccurrences(of: "\"loss\": \"mean_squared_error\"", with: "\"loss\": \(loss)").utf8))
                .training?.loss
        }
        #expect(try decoded(#"{"name": "bce", "from_logits": true}"#) == Loss(.binaryCrossentropy, fromLogits: true))
        #expect(try decoded(#"{"name": "mse"}"#) == .meanSquaredError)
        #expect(try decoded(#"{"name": "huber_loss", "delta": 1}"#) == .huber)
        #expect(try decoded(#""kld""#) == .klDivergence)
        // torch's names with torch's defaults; SmoothL1 with β = 1 is Huber.
        #expect(try decoded(#""BCEWithLogitsLoss""#) == Loss(.binaryCrossentropy, fromLogits: true))
        #expect(try decoded(#""CrossEntropyLoss""#) == Loss(.crossEntropy))
        #expect(try decoded(#"{"name": "smooth_l1_loss", "beta": 1}"#) == .huber)
    }

    /// Each refused with the JSON path of the offending value and the reason; the schema refuses them too.
    static let refused: [(String, String, String)] = [
        (#"{"name": "mse", "from_logits": true}"#, "$.training.loss.from_logits",
         "from_logits does not apply to mean_squared_error, which has no settings"),
        (#"{"name": "sparse_categorical_crossentropy", "label_smoothing": 0.1}"#, "$.training.loss.label_smoothing",
         "label_smoothing does not apply to sparse_categorical_crossentropy, whose settings are from_logits"),
        (#"{"name": "binary_crossentropy", "label_smoothing": 1.5}"#, "$.training.loss.label_smoothing",
         "loss binary_crossentropy label_smoothing must be in [0, 1], got 1.5"),
        (#"{"name": "categorical_crossentropy", "label_smoothing": -0.1}"#, "$.training.loss.label_smoothing",
         "label_smoothing must be in [0, 1], got -0.1"),
        (#"{"name": "huber", "delta": 0}"#, "$.training.loss.delta", "loss huber delta must be a positive finite number, got 0.0"),
        (#"{"name": "huber", "delta": "2"}"#, "$.training.loss.delta", "expected a number"),
        (#"{"name": "bce", "from_logits": 1}"#, "$.training.loss.from_logits", "expected a boolean"),
        (#"{"name": "huber", "gamma": 2}"#, "$.training.loss", "unknown key \"gamma\"; expected beta, delta, from_logits, label_smoothing, name"),
        (#"{"name": "huber", "beta": 2}"#, "$.training.loss.beta", "beta does not apply to huber, whose settings are delta"),
        (#"{"name": "smooth_l1_loss", "beta": -1}"#, "$.training.loss.beta",
         "loss smooth_l1_loss beta must be a positive finite number, got -1.0"),
        (#"{"name": "cross_entropy", "from_logits": true}"#, "$.training.loss.from_logits",
         "from_logits does not apply to cross_entropy, which has no settings"),
        (#"{"from_logits": true}"#, "$.training.loss.name", "required key \"name\" is missing"),
        (#"{"name": "hingy"}"#, "$.training.loss.name", "unknown loss \"hingy\"; supported: half_squared_error"),
        (#"["mse"]"#, "$.training.loss", "expected a loss name or an object {\"name\": …, settings}"),
    ]

    @Test("bad loss objects are refused naming the value", arguments: refused.indices)
    func refuses(index: Int) throws {
        let (loss, path, reason) = Self.refused[index]
        let text = String(decoding: JSONModelCodec.encode(try sampleDocument(), tensors: .array), as: UTF8.self)
        let bytes = Array(text.replacingOccurrences(of: "\"loss\": \"mean_squared_error\"", with: "\"loss\": \(loss)").utf8)
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(bytes) }
        #expect(error?.object == path, "\(error?.description ?? "")")
        #expect(error?.description.contains(reason) == true, "\(error?.description ?? "")")
        try writeInteropFile(bytes, name: "bad-loss-\(index).json", invalid: true)
    }

    private func sampleDocument() throws -> ModelDocument {
        let model = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .tanh), LayerSpec(2, .linear)],
                                     loss: .meanSquaredError, optimizer: OptimizerConfig(.adam), seed: 3)
        return ModelDocument(model: model)
    }
}
