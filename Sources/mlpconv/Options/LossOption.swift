import ArgumentParser
import MLPCore
import MLPDocument

/// How a command words `--loss`'s help: the loss it checks, evaluates, trains with or creates a model with.
protocol LossOptionHelp {
    static var lossHelp: String { get }
}

/// `--loss NAME`: a loss other than the stored one (or, for init, than the one the output activation suggests).
struct LossOption<Command: LossOptionHelp>: ParsableArguments {
    @Option(help: ArgumentHelp(Command.lossHelp))
    var loss: NamedArgument<Loss>?

    var value: Loss? { loss?.value }

    /// The loss a command computes: `--loss` when given, else the stored one. A model with neither cannot say what
    /// its targets mean, so that is an error naming the file.
    func resolve(for document: ModelDocument, file: String) throws -> Loss {
        if let loss = value ?? document.training?.loss { return loss }
        throw CommandError("\(file): the model has no loss stored; give --loss (\(Loss.acceptedNames.joined(separator: ", ")))")
    }
}
