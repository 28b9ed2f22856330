import ArgumentParser
import Foundation
import MLPDocument
import MLPModelFiles
import MLPCore

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new model file with freshly initialized weights, ready to train.",
        discussion: """
            Layers are given in order as UNITS:ACTIVATION, e.g. --inputs 64 --layer 32:relu --layer 10:softmax. \
            Without --loss, the loss follows the output activation (softmax → categorical_crossentropy, sigmoid → \
            binary_crossentropy, otherwise mean_squared_error). The format follows OUTPUT's extension (.json, .h5).
            """)

    @Argument(help: "The model file to create (.json or .h5).")
    var output: String

    @Option(help: "Input width (number of features).")
    var inputs: Int

    @Option(name: .customLong("layer"), help: "A Dense layer as UNITS:ACTIVATION; repeat for each layer, input to output.")
    var layers: [LayerArgument]

    @Option(help: "Loss (\(Loss.acceptedNames.joined(separator: ", "))).")
    var loss: LossArgument?

    @Option(help: "Optimizer (\(OptimizerKind.acceptedNames.joined(separator: ", "))).")
    var optimizer: OptimizerArgument = OptimizerArgument(kind: .adam)

    @Option(name: .customLong("learning-rate"), help: "Learning rate (default: Keras's default for the optimizer).")
    var learningRate: Double?

    @Option(help: "Kernel initializer (\(Initializer.acceptedNames.joined(separator: ", "))).")
    var initializer: InitializerArgument = InitializerArgument(initializer: .glorotUniform)

    @Option(help: "Seed for the weights and for the generator training continues with.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("no-bias"), help: "Create the layers without biases.")
    var noBias = false

    @Flag(help: "Overwrite OUTPUT if it exists.")
    var force = false

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func validate() throws {
        guard inputs > 0 else { throw ValidationError("--inputs must be a positive integer, got \(inputs)") }
        guard !layers.isEmpty else { throw ValidationError("give at least one --layer UNITS:ACTIVATION") }
        if let learningRate, !(learningRate.isFinite && learningRate >= 0) {
            throw ValidationError("--learning-rate must be a finite number ≥ 0, got \(learningRate)")
        }
    }

    func run() throws {
        guard let format = ModelFormat(pathExtension: URL(fileURLWithPath: output).pathExtension) else {
            throw CommandError("\(output): cannot tell the format from the extension; use .json or .h5")
        }
        if FileManager.default.fileExists(atPath: output) && !force {
            throw CommandError("\(output): already exists; use --force to replace it")
        }
        let output = layers[layers.count - 1].activation
        let loss = loss?.loss ?? (output == .softmax ? .categoricalCrossentropy : output == .sigmoid ? .binaryCrossentropy : .meanSquaredError)
        let specs = layers.map { LayerSpec($0.units, $0.activation, useBias: !noBias, kernelInitializer: initializer.initializer) }
        let model = try Model<Float>(
            inputWidth: inputs, layers: specs, loss: loss,
            optimizer: OptimizerConfig(optimizer.kind, learningRate: learningRate), seed: seed)
        let document = ModelDocument(model: model, metadata: [
            "created_by": "mlpconv \(MLPConvVersion.string)",
            "created_at": ISO8601DateFormatter().string(from: Date()),
        ])
        try ModelFiles.save(document, to: self.output, format: format)

        let shape = ([String(inputs)] + model.network.layers.map { "\($0.units) (\($0.activation.name))" }).joined(separator: " → ")
        let config = model.training.optimizer.config
        if json {
            printJSON([
                "output": .string(self.output), "format": .string(format.rawValue), "parameters": .int(model.network.parameterCount),
                "loss": .string(loss.name), "optimizer": .string(config.kind.name), "learning_rate": .double(config.learningRate),
                "seed": .string(String(seed)),
            ])
        } else {
            print("wrote \(self.output): \(shape), \(model.network.parameterCount.formatted()) parameters; loss \(loss.name), optimizer \(config.kind.name) (learning_rate \(config.learningRate)), seed \(seed)")
        }
    }
}

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

struct LossArgument: ExpressibleByArgument {
    let loss: Loss
    init?(argument: String) {
        guard let loss = Loss(name: argument) else { return nil }
        self.loss = loss
    }
    static var allValueStrings: [String] { Loss.acceptedNames }
}

struct OptimizerArgument: ExpressibleByArgument {
    let kind: OptimizerKind
    init(kind: OptimizerKind) { self.kind = kind }
    init?(argument: String) {
        guard let kind = OptimizerKind(name: argument) else { return nil }
        self.kind = kind
    }
    var defaultValueDescription: String { kind.name }
    static var allValueStrings: [String] { OptimizerKind.acceptedNames }
}

struct InitializerArgument: ExpressibleByArgument {
    let initializer: Initializer
    init(initializer: Initializer) { self.initializer = initializer }
    init?(argument: String) {
        guard let initializer = Initializer(name: argument) else { return nil }
        self.initializer = initializer
    }
    var defaultValueDescription: String { initializer.name }
    static var allValueStrings: [String] { Initializer.acceptedNames }
}
