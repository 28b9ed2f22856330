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
    var loss: NamedArgument<LossKind>?

    @Flag(name: .customLong("from-logits"), inversion: .prefixedNo,
          help: "The cross-entropy takes logits: the outputs before sigmoid or softmax (Keras's from_logits).")
    var fromLogits: Bool?

    @Option(name: .customLong("label-smoothing"),
            help: "Smooth the targets of binary or categorical cross-entropy by S in [0, 1] (Keras's label_smoothing).")
    var labelSmoothing: Double?

    @Option(name: .customLong("huber-delta"), help: "Huber's delta, where it turns from quadratic to linear (default 1).")
    var huberDelta: Double?

    /// The loss the options describe over `base`: `--loss` with its default settings, or else `base`, then with
    /// the settings given here. Nil when neither names a loss.
    func value(over base: Loss?) throws -> Loss? {
        let start = loss.map { Loss($0.value) } ?? base
        guard let start else {
            if fromLogits != nil || labelSmoothing != nil || huberDelta != nil {
                throw CommandError("--from-logits, --label-smoothing and --huber-delta set a loss's settings; give --loss too")
            }
            return nil
        }
        do {
            return try Loss(start.kind, fromLogits: fromLogits ?? start.fromLogits,
                            labelSmoothing: labelSmoothing ?? start.labelSmoothing, delta: huberDelta ?? start.delta)
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
