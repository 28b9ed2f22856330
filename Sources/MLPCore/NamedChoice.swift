/// A closed set of choices that model files and the command line name by string: each case's raw value, plus
/// aliases. Activations, losses, initializers and optimizers share this lookup, so that what `init(name:)`
/// accepts and what `acceptedNames` lists for error messages cannot drift apart.
public protocol NamedChoice: RawRepresentable, CaseIterable, Sendable where RawValue == String {
    /// Other spellings `init(name:)` accepts, in the order `acceptedNames` lists them after the raw values.
    static var aliases: [(name: String, choice: Self)] { get }
    init?(name: String)
}

extension NamedChoice {
    public static var aliases: [(name: String, choice: Self)] { [] }

    public init?(name: String) {
        if let alias = Self.aliases.first(where: { $0.name == name }) {
            self = alias.choice
        } else {
            self.init(rawValue: name)
        }
    }

    /// The name model files store: always the raw value, never an alias.
    public var name: String { rawValue }

    /// Every name `init(name:)` accepts, for help texts and error messages.
    public static var acceptedNames: [String] { allCases.map(\.rawValue) + aliases.map(\.name) }
}
