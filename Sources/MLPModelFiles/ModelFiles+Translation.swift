import MLPCore
import MLPDocument

extension ModelFormat {
    /// The optimizer rules a format's own readers continue with: a torch checkpoint's are torch.optim's, a Keras
    /// file's Keras's; mlpconv's formats and safetensors keep any optimizer as it is.
    public var optimizerFamily: OptimizerFamily? {
        switch self {
        case .pt: .torch
        case .keras, .kerasH5: .keras
        case .json, .h5, .safetensors: nil
        }
    }
}

extension ModelFiles {
    /// Where a document's metadata records how its optimizer was carried over to another family's rule.
    public static let optimizerTranslationKey = "optimizer_translation"

    /// The document as `format` holds its training state: an optimizer of the other family is translated
    /// (ModelDocument+OptimizerTranslation.swift) — exactly, or keeping the state under a rule that differs in a
    /// detail — or, when the other family has no such optimizer, left out with the training state. `notes` says
    /// what happened, one line each, for the user.
    public static func prepared(_ document: ModelDocument, for format: ModelFormat) -> (document: ModelDocument, notes: [String]) {
        guard let family = format.optimizerFamily, let optimizer = document.training?.optimizer else { return (document, []) }
        var document = document
        let source = optimizer.config.kind.name
        switch optimizer.translated(to: family) {
        case .exact(let record):
            guard record != optimizer else { return (document, []) }
            document.training?.optimizer = record
            return (document, ["optimizer \(source) carried over to \(record.config.kind.name) exactly"])
        case .approximate(let record, let difference):
            document.training?.optimizer = record
            document.metadata[optimizerTranslationKey] = "from \(source): \(difference)"
            return (document, ["optimizer \(source) carried over to \(record.config.kind.name), state kept; the rules differ: \(difference)"])
        case .unavailable(let reason):
            document.training = nil
            return (document, ["training state left out: \(reason)"])
        }
    }
}
