import ArgumentParser
import MLPCore
import MLPDocument
import MLPModelFiles

extension ModelFormat: ExpressibleByArgument {}
extension JSONTensorEncoding: ExpressibleByArgument {}
extension Tensor.DType: ExpressibleByArgument {}
extension FiniteDifferenceScheme: ExpressibleByArgument {}

/// `UNITS:ACTIVATION`, e.g. `32:relu`.
struct LayerArgument: ExpressibleByArgument {
    let units: Int
    let activation: Activation

    init?(argument: String) {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let units = Int(parts[0]), units > 0, let activation = Activation(name: parts[1]) else { return nil }
        self.units = units
        self.activation = activation
    }

    static var defaultCompletionKind: CompletionKind { .list(Activation.acceptedNames.map { "8:" + $0 }) }
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
