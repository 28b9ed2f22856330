import MLPCore
import FormatSupport
import JSONSupport
import MLPDocument

/// What a model document holds that Keras's formats have no place for: the epochs completed, the generator state,
/// the history and the user's metadata. mlpconv writes it as one JSON object under the key `mlpconv` — a member of
/// `metadata.json` in a `.keras` zip, a root attribute of a legacy `.h5` — which Keras 3 neither reads nor
/// rejects, so converting to a Keras format and back loses nothing.
///
/// Keras keeps the learning rate as float32; the record holds mlpconv's float64 value, used when it rounds to the
/// file's.
///
/// The record names the optimizer iteration it was written at. A file whose optimizer has moved on since (trained
/// and saved by a program that kept the record without updating it) gets the record's metadata but not its
/// training part, and says so in the metadata: epochs and a history that belong to another state are worse than
/// none.
package struct KerasExtras: Equatable {
    package static let key = "mlpconv"
    package static let formatVersion = 1
    /// Largest record read: a history of about a million epochs.
    package static let maxBytes = 64 << 20

    /// Metadata the Keras readers derive from the file itself; the record does not repeat it.
    package static let derivedMetadataKeys: Set<String> = [
        "source_format", "keras_version", "keras_date_saved", "backend", "keras_model_name", "keras_loss",
        "keras_optimizer_state", KerasConfig.legacyRuleKey, KerasConfig.metricsKey,
        KerasConfig.trainingNotReadKey, mismatchKey,
    ]
    package static let mismatchKey = "mlpconv_record"

    package struct Training: Equatable {
        package var iterations: Int
        package var learningRate: Double
        package var epochsCompleted: Int
        package var randomState: RandomState?
        package var history: [EpochRecord]
        /// The optimizer follows a schedule: `learningRate` is then the schedule's initial rate, which the Keras
        /// configuration already holds in full precision. Not stored.
        package var followsSchedule = false
    }

    package var training: Training?
    package var metadata: [String: String]

    package init(_ document: ModelDocument) {
        training = document.training.map {
            Training(iterations: $0.optimizer.iterations, learningRate: $0.optimizer.config.learningRate,
                     epochsCompleted: $0.epochsCompleted,
                     randomState: $0.randomState, history: $0.history,
                     followsSchedule: $0.optimizer.config.schedule != nil)
        }
        metadata = document.metadata.filter {
            !Self.derivedMetadataKeys.contains($0.key) && !$0.key.hasPrefix("keras_kernel_initializer.")
                && !$0.key.hasPrefix("keras_bias_initializer.")
        }
    }

    private init(training: Training?, metadata: [String: String]) {
        self.training = training
        self.metadata = metadata
    }

    /// Whether the record would carry anything a Keras reader does not rebuild by itself.
    package var isEmpty: Bool {
        metadata.isEmpty && (training.map {
            $0.epochsCompleted == 0 && $0.randomState == nil && $0.history.isEmpty
                && ($0.followsSchedule || Double(Float($0.learningRate)) == $0.learningRate)
        } ?? true)
    }

    package func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("format_version"); writer.integer(Self.formatVersion)
        if let training {
            writer.key("training"); writer.beginObject()
            writer.key("iterations"); writer.integer(training.iterations)
            writer.key("learning_rate"); writer.number(training.learningRate)
            writer.key("epochs_completed"); writer.integer(training.epochsCompleted)
            if let state = training.randomState {
                writer.key("random_state"); DocumentJSON.write(state, to: &writer)
            }
            writer.key("history"); DocumentJSON.write(training.history, to: &writer)
            writer.endObject()
        }
        writer.key("metadata"); writer.beginObject()
        for key in metadata.keys.sorted() {
            writer.key(key); writer.string(metadata[key] ?? "")
        }
        writer.endObject()
        writer.endObject()
    }

    package var text: String {
        var writer = JSONWriter()
        write(to: &writer)
        return String(decoding: writer.finish(), as: UTF8.self)
    }

    package static func read(_ value: JSONValue) throws(JSONError) -> KerasExtras {
        try DocumentJSON.requireKeys(value, allowed: ["format_version", "training", "metadata"])
        let version = try value.value(at: "format_version").int(atLeast: 1)
        guard version == formatVersion else {
            throw value.error(.value, "record format \(version) is newer than this mlpconv reads (\(formatVersion)); "
                              + "upgrade mlpconv")
        }
        var training: Training?
        if let entry = try value.optionalValue(at: "training") {
            try DocumentJSON.requireKeys(entry, allowed: ["iterations", "learning_rate", "epochs_completed", "random_state",
                                                     "history"])
            training = Training(
                iterations: try entry.value(at: "iterations").int(atLeast: 0),
                learningRate: try entry.value(at: "learning_rate").double(),
                epochsCompleted: try entry.value(at: "epochs_completed").int(atLeast: 0),
                randomState: try entry.optionalValue(at: "random_state").map { value throws(JSONError) in
                    try DocumentJSON.readRandomState(value)
                },
                history: try DocumentJSON.readHistory(try entry.value(at: "history")))
        }
        var metadata: [String: String] = [:]
        for (key, entry) in try value.object(at: "metadata").members() { metadata[key] = try entry.string() }
        return KerasExtras(training: training, metadata: metadata)
    }

    package static func read(text: String, file: String, object: String) throws(ModelFileError) -> KerasExtras {
        try KerasH5Reader.parse(text, file: file, object: object, maxBytes: maxBytes) { value throws(JSONError) in
            try read(value)
        }
    }

    /// Puts the record into a document a Keras reader built; the file's own metadata wins over the record's, but
    /// for compiled metrics the `.h5` could only name (`KerasMetrics.textLostInH5`) while they are still the file's.
    package func apply(to document: inout ModelDocument) {
        let fileMetrics = document.metadata[KerasConfig.metricsKey]
        document.metadata = metadata.merging(document.metadata) { $1 }
        if let recorded = metadata[KerasConfig.metricsKey] {
            document.metadata[KerasConfig.metricsKey] =
                KerasMetrics.recordedText(recorded, matches: fileMetrics) ? recorded : fileMetrics
        }
        guard let training, document.training != nil else { return }
        let iterations = document.training?.optimizer.iterations ?? 0
        guard training.iterations == iterations else {
            document.metadata[Self.mismatchKey] = "training record ignored: written at optimizer iteration "
                + "\(training.iterations), but the file's optimizer is at iteration \(iterations)"
            return
        }
        if let stored = document.training?.optimizer.config.learningRate, Float(training.learningRate) == Float(stored) {
            document.training?.optimizer.config.learningRate = training.learningRate
        }
        document.training?.epochsCompleted = training.epochsCompleted
        document.training?.randomState = training.randomState
        document.training?.history = training.history
    }
}
