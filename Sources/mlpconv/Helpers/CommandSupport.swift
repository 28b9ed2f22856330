import ArgumentParser
import Foundation
import MLPDataFiles
import MLPDocument
import MLPCore

// Reading what the commands work on, with failures turned into command errors that name the file.

/// Reads a data file shaped for a model; a bad file is a command error naming the file, line/array and column.
func loadData(_ path: String, inputWidth: Int, outputWidth: Int, loss: Loss?, requireTargets: Bool,
              header: CSVHeader) throws -> Dataset<Float> {
    do {
        return try DataFiles.load(path, inputWidth: inputWidth, outputWidth: outputWidth, loss: loss,
                                  requireTargets: requireTargets, header: header, isolation: .thisProgram)
    } catch {
        throw CommandError(error.description)
    }
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

/// Turns a document or core error into a command error naming the file it is about.
func wrap<T, Failure: Error & CustomStringConvertible>(_ file: String, _ body: () throws(Failure) -> T) throws -> T {
    do { return try body() } catch { throw CommandError("\(file): \(error.description)") }
}

/// A warning on stderr; the command carries on.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("mlpconv: warning: \(message)\n".utf8))
}

/// `--learning-rate`, held to the core's rule for every learning rate, wherever it comes from
/// (`OptimizerConfig.validate(learningRate:)`: finite, ≥ 0, within float32's range).
func validateLearningRate(_ rate: Double) throws {
    do {
        try OptimizerConfig.validate(learningRate: rate)
    } catch {
        guard case .invalidHyperparameter(_, let reason) = error else { throw ValidationError("--learning-rate: \(error)") }
        throw ValidationError("--learning-rate \(reason)")
    }
}
