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
    /// The argument as given, for messages about the layer.
    let text: String

    init?(argument: String) {
        guard let layer = try? LayerArgument(parsing: argument) else { return nil }
        self = layer
    }

    /// ArgumentParser shows a thrown error after "The value … is invalid for '--layer <layer>'": each way a spec
    /// can be wrong has its own reason.
    init(parsing argument: String) throws {
        text = argument
        let parts = argument.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let forms = "a layer is UNITS:ACTIVATION, activation:NAME, dropout:RATE, batch_normalization or layer_normalization"
        func activation(_ name: String) throws -> Activation {
            guard let activation = Activation(name: name) else {
                throw ValidationError("unknown activation \"\(name)\"; supported: \(Activation.acceptedNames.joined(separator: ", "))")
            }
            return activation
        }
        switch (parts[0], parts.count) {
        case ("batch_normalization", 1): kind = .batchNormalization(BatchNormalizationSettings())
        case ("layer_normalization", 1): kind = .layerNormalization(LayerNormalizationSettings())
        case ("batch_normalization", _), ("layer_normalization", _):
            throw ValidationError("\(parts[0]) takes no settings (Keras's defaults are used)")
        case ("activation", 2): kind = .activation(try activation(parts[1]))
        case ("dropout", 2):
            guard let rate = Double(parts[1]) else { throw ValidationError("dropout rate \"\(parts[1])\" is not a number") }
            guard rate >= 0, rate < 1 else { throw ValidationError("dropout rate must be in [0, 1), got \(parts[1])") }
            kind = .dropout(DropoutSettings(rate: rate))
        case ("activation", _), ("dropout", _):
            throw ValidationError("\(parts[0]) needs a value, \(parts[0] == "dropout" ? "dropout:RATE" : "activation:NAME")")
        case (let units, 2):
            guard let count = Int(units) else {
                let digits = !units.isEmpty && units.allSatisfy { $0.isASCII && $0.isNumber }
                throw ValidationError(digits ? "\(units) units is more than an integer holds (the readers' limit is \(LoadLimits.maxWidth))"
                                      : "\"\(units)\" is not a number of units; \(forms)")
            }
            guard count > 0 else { throw ValidationError("a Dense layer needs at least 1 unit, got \(count)") }
            kind = .dense(DenseSettings(units: count, activation: try activation(parts[1])))
        default:
            throw ValidationError(Int(parts[0]) != nil ? "a Dense layer needs an activation, UNITS:ACTIVATION (e.g. \(parts[0]):relu)"
                                  : "unknown layer \"\(argument)\"; \(forms)")
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
