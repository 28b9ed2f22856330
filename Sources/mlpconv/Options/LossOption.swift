import ArgumentParser
import MLPCore
import MLPDocument

/// How a command words `--loss`'s help: the loss it checks, evaluates, trains with or creates a model with.
protocol LossOptionHelp {
    static var lossHelp: String { get }
}

/// `--loss NAME` and the loss's settings: a loss other than the stored one (or, for init, than the one the output
/// activation suggests), or the stored loss with other settings.
struct LossOption<Command: LossOptionHelp>: ParsableArguments {
    @Option(help: ArgumentHelp(Command.lossHelp))
    var loss: LossArgument?

    @Flag(name: .customLong("from-logits"), inversion: .prefixedNo,
          help: "The cross-entropy takes logits: the outputs before sigmoid or softmax (Keras's from_logits).")
    var fromLogits: Bool?

    @Option(name: .customLong("label-smoothing"), parsing: .unconditional,
            help: "Smooth the targets of binary or categorical cross-entropy by S in [0, 1] (Keras's label_smoothing).")
    var labelSmoothing: Double?

    @Option(name: .customLong("huber-delta"), parsing: .unconditional, help: "Huber's delta, where it turns from quadratic to linear (default 1).")
    var huberDelta: Double?

    @Option(name: .customLong("smooth-l1-beta"), parsing: .unconditional,
            help: "SmoothL1's beta, where it turns from quadratic to linear (torch's beta, default 1; 1 is huber).")
    var smoothL1Beta: Double?

    /// The loss the options describe over `base`: `--loss` with its default settings, or else `base`, then with
    /// the settings given here. Nil when neither names a loss.
    func value(over base: Loss?) throws -> Loss? {
        let start = loss?.loss ?? base
        guard let start else {
            if fromLogits != nil || labelSmoothing != nil || huberDelta != nil || smoothL1Beta != nil {
                throw CommandError("--from-logits, --label-smoothing, --huber-delta and --smooth-l1-beta set a loss's "
                                   + "settings; give --loss too")
            }
            return nil
        }
        do {
            return try Loss(loss?.kind ?? start.kind, fromLogits: fromLogits ?? start.fromLogits,
                            labelSmoothing: labelSmoothing ?? start.labelSmoothing, delta: huberDelta ?? start.delta,
                            beta: smoothL1Beta ?? start.beta)
        } catch {
            throw CommandError(error.description)
        }
    }

    /// The loss a command computes: `--loss` when given, else the stored one, with the settings given here. A model
    /// with neither cannot say what its targets mean, so that is an error naming the file.
    func resolve(for document: ModelDocument, file: String) throws -> Loss {
        if let loss = try value(over: document.training?.loss) { return loss }
        throw CommandError("\(file): the model has no loss stored; give --loss (\(Loss.acceptedNames.joined(separator: ", ")))")
    }
}

/// `--loss NAME`: a kind name or alias, or a torch name with torch's defaults (`BCEWithLogitsLoss` is
/// binary_crossentropy with from_logits). `kind` is the kind the name's settings belong to: `SmoothL1Loss` is
/// huber until `--smooth-l1-beta` gives it a β other than 1.
struct LossArgument: ExpressibleByArgument {
    let loss: Loss
    let kind: LossKind

    init?(argument: String) {
        guard let loss = Loss(name: argument) else { return nil }
        self.loss = loss
        kind = Loss.torchNames.first { $0.name == argument }?.kind ?? LossKind(name: argument) ?? loss.kind
    }

    static var allValueStrings: [String] { Loss.acceptedNames }
}
