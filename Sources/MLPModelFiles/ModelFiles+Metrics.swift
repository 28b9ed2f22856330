import MLPCore
import MLPDocument
internal import KerasFormat

/// The metrics a model file was compiled with (a Keras model's `metrics`, kept in the metadata by every format):
/// what the core computes, and what it does not, each under the history key Keras gives it.
public struct CompiledMetrics: Sendable, Equatable {
    /// A compiled metric mlpconv keeps for Keras but does not compute (AUC, precision, recall, F1…).
    public struct NotComputed: Sendable, Equatable {
        public var name: String
        public var reason: String
    }

    /// In the compiled order; pass to `FitOptions.metrics` and `Model.evaluate(_:metrics:)`.
    public var computed: [Metric]
    public var notComputed: [NotComputed]
}

extension ModelFiles {
    /// The document's compiled metrics, nil when it names none (then training records `accuracy` for the
    /// classification losses). `file` names the document in errors: a metadata text that is not a metrics list,
    /// or names a custom metric, is refused.
    public static func compiledMetrics(of document: ModelDocument, file: String) throws(ModelFileError) -> CompiledMetrics? {
        guard let resolved = try KerasMetrics.resolve(document, file: file) else { return nil }
        return CompiledMetrics(
            computed: resolved.compactMap(\.metric),
            notComputed: resolved.compactMap { entry in
                entry.metric == nil ? .init(name: entry.name, reason: entry.notComputedReason ?? "not computed") : nil
            })
    }
}
