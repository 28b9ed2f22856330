import MLPCore
import JSONSupport

/// The optimizers under the class names Keras files use (`SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`, `Nadam`,
/// `Adamax`, `Lion`, `Adadelta`, `Ftrl`, `Lamb`).
extension OptimizerKind {
    package var kerasClassName: String {
        switch self {
        case .sgd: "SGD"
        case .adam: "Adam"
        case .adamw: "AdamW"
        case .rmsprop: "RMSprop"
        case .adagrad: "Adagrad"
        case .nadam: "Nadam"
        case .adamax: "Adamax"
        case .lion: "Lion"
        case .adadelta: "Adadelta"
        case .ftrl: "Ftrl"
        case .lamb: "Lamb"
        // Never written: KerasWriting.writable translates a torch optimizer first. Named for messages only.
        case .torchSGD: "torch.optim.SGD"
        case .torchAdam: "torch.optim.Adam"
        case .torchAdamW: "torch.optim.AdamW"
        case .torchRMSprop: "torch.optim.RMSprop"
        case .torchAdagrad: "torch.optim.Adagrad"
        }
    }

    /// An optimizer named in a Keras configuration (`value`, for the error). Matched without regard to case,
    /// so the lower-case string form a `compile_config` may hold (`"adam"`) is read too.
    package init(kerasClassName name: String, at value: JSONValue) throws(JSONError) {
        let lowered = name.lowercased()
        let keras = Self.allCases.filter { !$0.isTorch }
        guard let kind = keras.first(where: { $0.kerasClassName.lowercased() == lowered }) else {
            let supported = keras.map(\.kerasClassName).joined(separator: ", ")
            throw value.error(.value, "unknown optimizer \"\(name)\"; supported: \(supported)")
        }
        self = kind
    }
}
