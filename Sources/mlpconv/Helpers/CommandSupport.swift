import Foundation
import MLPDataFiles
import MLPDocument
import MLPCore

// Helpers shared by the commands that read `--data` and compute a loss (gradcheck, predict, evaluate).

/// Reads a data file shaped for a model; a bad file is a command error naming the file, line/array and column.
func loadData(_ path: String, inputWidth: Int, outputWidth: Int, loss: Loss?, requireTargets: Bool) throws -> Dataset<Float> {
    do {
        return try DataFiles.load(path, inputWidth: inputWidth, outputWidth: outputWidth, loss: loss,
                                  requireTargets: requireTargets)
    } catch {
        throw CommandError(error.description)
    }
}

/// The loss a command computes: `--loss` when given, else the stored one. A model with neither cannot say what
/// its targets mean, so that is an error naming the file.
func resolveLoss(_ override: LossArgument?, document: ModelDocument, file: String) throws -> Loss {
    if let loss = override?.loss ?? document.training?.loss { return loss }
    throw CommandError("\(file): the model has no loss stored; give --loss (\(Loss.acceptedNames.joined(separator: ", ")))")
}

/// The network with `loss` attached, for `Model.evaluate`: the stored training state when there is one (the
/// optimizer plays no part in a loss), otherwise a stand-in SGD state that is never used.
func evaluationModel<T: MLPScalar>(_ document: ModelDocument, loss: Loss, file: String, as type: T.Type) throws -> Model<T> {
    if document.training != nil {
        var model: Model<T> = try wrap(file) { () throws(DocumentError) in try document.model(as: T.self) }
        if model.training.loss != loss { model.replaceLoss(loss) }
        return model
    }
    let network: Network<T> = try wrap(file) { () throws(DocumentError) in try document.network(as: T.self) }
    do {
        return try Model(network: network, training: TrainingState(
            loss: loss, optimizer: try Optimizer(config: OptimizerConfig(.sgd), network: network),
            random: RandomGenerator(seed: 0).state))
    } catch {
        throw CommandError("\(file): \(error)")
    }
}

/// Turns a core error on a data file into a command error naming the file.
func wrapTraining<T>(_ file: String, _ body: () throws(TrainingError) -> T) throws -> T {
    do { return try body() } catch { throw CommandError("\(file): \(error.description)") }
}

/// A warning on stderr; the command carries on.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("mlpconv: warning: \(message)\n".utf8))
}

/// Refuses to replace an existing file unless `--force` was given.
func checkOverwrite(_ path: String, force: Bool) throws {
    if FileManager.default.fileExists(atPath: path) && !force {
        throw CommandError("\(path): already exists; use --force to replace it")
    }
}
