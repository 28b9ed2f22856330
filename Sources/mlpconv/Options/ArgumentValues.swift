import ArgumentParser
import MLPCore
import MLPDocument
import MLPModelFiles

extension ModelFormat: ExpressibleByArgument {}
extension JSONTensorEncoding: ExpressibleByArgument {}
extension Tensor.DType: ExpressibleByArgument {}
extension FiniteDifferenceScheme: ExpressibleByArgument {}

/// A layer for `init`: `UNITS:ACTIVATION` (Dense, e.g. `32:relu`), `activation:NAME`, `dropout:RATE`,
/// `batch_normalization` or `layer_normalization` (Keras's default settings).
struct LayerArgument: ExpressibleByArgument {
    let kind: LayerKind

    init?(argument: String) {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first, parts.count) {
        case ("batch_normalization", 1): kind = .batchNormalization(BatchNormalizationSettings())
        case ("layer_normalization", 1): kind = .layerNormalization(LayerNormalizationSettings())
        case ("activation", 2):
            guard let activation = Activation(name: parts[1]) else { return nil }
            kind = .activation(activation)
        case ("dropout", 2):
            guard let rate = Double(parts[1]), rate >= 0, rate < 1 else { return nil }
            kind = .dropout(DropoutSettings(rate: rate))
        case (let units?, 2):
            guard let units = Int(units), units > 0, let activation = Activation(name: parts[1]) else { return nil }
            kind = .dense(DenseSettings(units: units, activation: activation))
        default:
            return nil
        }
    }

    static var defaultCompletionKind: CompletionKind {
        .list(Activation.acceptedNames.map { "8:" + $0 } + ["batch_normalization", "layer_normalization", "dropout:0.2"]
              + Activation.acceptedNames.map { "activation:" + $0 })
    }
}

/// `--loss`, `--optimizer`, `--initializer`: a value given by any of its accepted names (MLPCore's NamedChoice).
struct NamedArgument<Value: NamedChoice>: ExpressibleByArgument {
    let value: Value

    init(_ value: Value) { self.value = value }

    init?(argument: String) {
        guard let value = Value(name: argument) else { return nil }
        self.value = value
    }

    var defaultValueDescription: String { value.name }
    static var allValueStrings: [String] { Value.acceptedNames }
}
