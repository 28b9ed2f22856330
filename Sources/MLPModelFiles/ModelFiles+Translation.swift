import MLPCore
import MLPDocument
internal import ONNXFormat

extension ModelFormat {
    /// The optimizer rules a format's own readers continue with: a torch checkpoint's are torch.optim's, a Keras
    /// file's Keras's; mlpconv's formats and safetensors keep any optimizer as it is.
    public var optimizerFamily: OptimizerFamily? {
        switch self {
        case .pt: .torch
        case .keras, .kerasH5: .keras
        case .json, .h5, .safetensors, .onnx: nil
        }
    }
}

extension ModelFiles {
    /// Where a document's metadata records how its optimizer was carried over to another family's rule.
    public static let optimizerTranslationKey = "optimizer_translation"

    /// The document as `format` holds its training state: an optimizer of the other family is translated
    /// (ModelDocument+OptimizerTranslation.swift) — exactly, or keeping the state under a rule that differs in a
    /// detail — or, when the other family has no such optimizer, left out with the training state; a BatchNorm's
    /// running-variance rule the format cannot hold becomes the format's (Keras's), a Keras-rule BatchNorm written for
    /// torch is noted. `notes` says what happened, one line each, for the user.
    /// For ONNX, `options` (the opset) decides which activations are composed, and the notes say which.
    public static func prepared(_ document: ModelDocument, for format: ModelFormat, options: SaveOptions = SaveOptions())
        -> (document: ModelDocument, notes: [String]) {
        var notes: [String] = []
        if format == .onnx {
            var inference = document
            if document.training != nil {
                inference.training = nil
                notes.append("training state left out: ONNX holds a model for inference (no loss, optimizer or history); "
                    + "keep the source file to resume training")
            }
            return (inference, notes + ONNXExporter.notes(for: inference, options: options))
        }
        if format == .pt || format == .safetensors {
            let keras = document.architecture.layers.filter {
                if case .batchNormalization(let settings) = $0.kind { !settings.unbiasedMovingVariance } else { false }
            }
            if let first = keras.first {
                notes.append("layer \"\(first.name)\"\(keras.count > 1 ? " and \(keras.count - 1) more" : ""): torch's BatchNorm1d "
                    + "updates running_var with the unbiased batch variance, Keras's with the biased one; predictions are the "
                    + "same, training in torch differs slightly (mlpconv keeps Keras's rule)")
            }
        }
        var document = document
        if format == .keras || format == .kerasH5 {
            // Keras has no place for torch's rule; its predictions do not depend on it.
            var changed: [String] = []
            for index in document.architecture.layers.indices {
                if case .batchNormalization(var settings) = document.architecture.layers[index].kind, settings.unbiasedMovingVariance {
                    settings.unbiasedMovingVariance = false
                    document.architecture.layers[index].kind = .batchNormalization(settings)
                    changed.append(document.architecture.layers[index].name)
                }
            }
            // torch's CrossEntropyLoss on class indices is Keras's sparse cross-entropy on logits (on probabilities,
            // the categorical one: the document cannot tell which targets it was trained on, so say so).
            if let loss = document.training?.loss, loss.kind == .crossEntropy,
               let sparse = try? Loss(.sparseCategoricalCrossentropy, fromLogits: true) {
                document.training?.loss = sparse
                notes.append("loss cross_entropy (torch's CrossEntropyLoss) written as Keras's sparse_categorical_crossentropy "
                    + "with from_logits, which takes class labels (for probability targets, finetune with --loss categorical_crossentropy --from-logits)")
            }
            if let first = changed.first {
                notes.append("layer \"\(first)\"\(changed.count > 1 ? " and \(changed.count - 1) more" : ""): Keras's "
                    + "BatchNormalization updates its moving variance with the biased batch variance, torch's BatchNorm1d with "
                    + "the unbiased one; predictions are the same, training continues with Keras's rule")
            }
        }
        let (translated, optimizerNotes) = preparedOptimizer(document, for: format)
        return (translated, notes + optimizerNotes)
    }

    private static func preparedOptimizer(_ document: ModelDocument, for format: ModelFormat) -> (document: ModelDocument, notes: [String]) {
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
