import FormatSupport
import JSONSupport
import MLPCore
import MLPDocument

/// What mlpconv adds to a checkpoint dict beside torch's own keys, as JSON texts in string entries (strings are
/// what `torch.load(weights_only=True)` accepts and a torch user can ignore): the architecture, so the layer chain
/// and activations need not be inferred; the loss, epochs, history and generator state torch checkpoints have no
/// place for; the step count (torch's SGD keeps none); and the document's metadata.
struct TorchCheckpointRecord {
    static let formatVersion = 1

    enum Key {
        static let architecture = "mlpconv_architecture"
        static let training = "mlpconv_training"
        static let metadata = "mlpconv_metadata"
    }

    static let keys: Set<String> = [Key.architecture, Key.training, Key.metadata]

    var architecture: ModelDocument.Architecture?
    var metadata: [String: String] = [:]
    var loss: Loss?
    var epochsCompleted: Int?
    var iterations: Int?
    var randomState: RandomState?
    var history: [EpochRecord]?

    // MARK: Reading

    /// The record in `strings` (the checkpoint's mlpconv entries), or nil when the checkpoint has none.
    static func read(_ strings: [String: String], file: String) throws(ModelFileError) -> TorchCheckpointRecord? {
        guard !strings.isEmpty else { return nil }
        var record = TorchCheckpointRecord()
        if let text = strings[Key.architecture] {
            record.architecture = try DocumentJSON.readArchitecture(text: text, file: file, object: "[\"\(Key.architecture)\"]")
        }
        if let text = strings[Key.metadata] {
            try parse(text, file: file, key: Key.metadata) { root throws(JSONError) in
                for (key, value) in try root.members() { record.metadata[key] = try value.string() }
            }
        }
        if let text = strings[Key.training] {
            try parse(text, file: file, key: Key.training) { root throws(JSONError) in
                try DocumentJSON.requireKeys(root, allowed: ["format_version", "loss", "epochs_completed", "iterations",
                                                             "history", "random_state"])
                let version = try root.value(at: "format_version").int(atLeast: 1)
                guard version <= formatVersion else {
                    throw root.error(.value, "layout version \(version) is newer than this build reads (\(formatVersion))")
                }
                record.loss = try DocumentJSON.readLoss(try root.value(at: "loss"))
                record.epochsCompleted = try root.value(at: "epochs_completed").int(atLeast: 0)
                record.iterations = try root.value(at: "iterations").int(atLeast: 0)
                record.history = try DocumentJSON.readHistory(try root.value(at: "history"))
                if let state = try root.optionalValue(at: "random_state") {
                    record.randomState = try DocumentJSON.readRandomState(state)
                }
            }
        }
        return record
    }

    private static func parse(
        _ text: String, file: String, key: String, _ body: (JSONValue) throws(JSONError) -> Void
    ) throws(ModelFileError) {
        try DocumentJSON.parse(text: text, file: file, object: "[\"\(key)\"]", body)
    }

    // MARK: Writing

    /// The entries for `document`, in a fixed order.
    static func entries(of document: ModelDocument) -> [(key: String, text: String)] {
        var entries = [(Key.architecture, DocumentJSON.architectureText(document.architecture))]
        if let training = document.training {
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("format_version"); writer.integer(formatVersion)
            writer.key("loss"); DocumentJSON.write(training.loss, to: &writer)
            writer.key("epochs_completed"); writer.integer(training.epochsCompleted)
            writer.key("iterations"); writer.integer(training.optimizer.iterations)
            writer.key("history"); DocumentJSON.write(training.history, to: &writer)
            if let state = training.randomState { writer.key("random_state"); DocumentJSON.write(state, to: &writer) }
            writer.endObject()
            entries.append((Key.training, String(decoding: writer.finish(), as: UTF8.self)))
        }
        if !document.metadata.isEmpty {
            var writer = JSONWriter()
            writer.beginObject()
            for key in document.metadata.keys.sorted() { writer.key(key); writer.string(document.metadata[key] ?? "") }
            writer.endObject()
            entries.append((Key.metadata, String(decoding: writer.finish(), as: UTF8.self)))
        }
        return entries
    }
}
