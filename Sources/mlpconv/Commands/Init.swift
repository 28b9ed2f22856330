import ArgumentParser
import Foundation
import MLPDocument
import MLPModelFiles
import MLPCore

struct Init: ParsableCommand, JSONFlagHelp, LossOptionHelp {
    static let configuration = CommandConfiguration(
        abstract: "Create a new model file with freshly initialized weights, ready to train.",
        discussion: """
            Layers are given in order, Dense ones as UNITS:ACTIVATION, e.g. --inputs 64 --layer 32:relu --layer \
            10:softmax, or --layer 32:linear --layer batch_normalization --layer activation:relu --layer dropout:0.2 \
            --layer 10:softmax. \
            Without --loss, the loss follows the output activation (softmax → categorical_crossentropy, sigmoid → \
            binary_crossentropy, otherwise mean_squared_error). A logits model ends in a linear layer with \
            --loss categorical_crossentropy --from-logits (or binary_crossentropy, sparse_categorical_crossentropy). \
            The format follows OUTPUT's extension (.json, .h5/.hdf5, .keras, .safetensors, .pt/.pth, .onnx).
            """)

    @Argument(help: "The model file to create (\(modelExtensions)).")
    var output: String

    @Option(parsing: .unconditional, help: "Input width (number of features).")
    var inputs: Int

    @Option(name: .customLong("layer"), parsing: .unconditionalSingleValue, help: """
        A layer, input to output (repeat): a Dense layer as UNITS:ACTIVATION, or activation:NAME, dropout:RATE, \
        batch_normalization, layer_normalization.
        """, transform: LayerArgument.init(parsing:))
    var layers: [LayerArgument]

    static let lossHelp = "Loss (\(Loss.acceptedNames.joined(separator: ", ")))."
    @OptionGroup var loss: LossOption<Init>

    @Option(help: OptimizerSpec.help, transform: OptimizerSpec.init(parsing:))
    var optimizer = OptimizerSpec(.adam)

    @Option(name: .customLong("learning-rate"), parsing: .unconditional, help: "Learning rate (default: Keras's default for the optimizer).")
    var learningRate: Double?

    @Option(name: .customLong("lr-schedule"), help: ScheduleSpec.help, transform: ScheduleSpec.init(parsing:))
    var lrSchedule: ScheduleSpec?

    @Option(help: "Kernel initializer (\(Initializer.acceptedNames.joined(separator: ", "))).")
    var initializer = NamedArgument<Initializer>(.glorotUniform)

    @Option(parsing: .unconditional, help: "Seed for the weights and for the generator training continues with (0 to 2^64 − 1).")
    var seed: UInt64 = 0

    @Flag(name: .customLong("no-bias"), help: "Create the layers without biases.")
    var noBias = false

    @OptionGroup var overwrite: ForceFlag

    @OptionGroup var style: JSONFlag<Init>

    func validate() throws {
        guard inputs > 0 else { throw ValidationError("--inputs must be a positive integer, got \(inputs)") }
        guard inputs <= LoadLimits.maxWidth else {
            throw ValidationError("--inputs \(inputs) exceeds the readers' limit of \(LoadLimits.maxWidth) inputs")
        }
        guard layers.contains(where: { $0.kind.dense != nil }) else {
            throw ValidationError("give at least one Dense layer, --layer UNITS:ACTIVATION")
        }
        if let learningRate { try validateLearningRate(learningRate) }
    }

    func run() throws {
        guard let format = ModelFormat(pathExtension: URL(fileURLWithPath: output).pathExtension) else {
            throw CommandError("\(output): cannot tell the format from the extension; use \(modelExtensions)")
        }
        try overwrite.check(output)
        // The activation the outputs leave through: the last Dense layer's or a later Activation layer's.
        let output = layers.reversed().lazy.compactMap { argument -> Activation? in
            switch argument.kind {
            case .dense(let dense): dense.activation
            case .activation(let activation): activation
            default: nil
            }
        }.first ?? .linear
        let suggested: Loss = output == .softmax ? .categoricalCrossentropy : output == .sigmoid ? .binaryCrossentropy : .meanSquaredError
        let loss = try self.loss.value(over: suggested) ?? suggested
        let specs = layers.map { argument in
            guard case .dense(var dense) = argument.kind else { return LayerSpec(argument.kind) }
            dense.useBias = !noBias
            dense.kernelInitializer = initializer.value
            return LayerSpec(.dense(dense))
        }
        var optimizerConfig = try optimizer.config(learningRate: learningRate)
        optimizerConfig.schedule = try lrSchedule?.schedule(initialRate: optimizerConfig.learningRate)
        warnIfNonFinite(optimizerConfig.schedule)
        // Before anything is allocated: a model every reader would refuse is not worth minutes and gigabytes.
        if let refusal = LoadLimits().refusal(inputWidth: inputs, layers: specs.map(\.kind),
                                              slotsPerParameter: optimizerConfig.slotNames.count) {
            throw CommandError(refusal.layer.map { "--layer \(layers[$0].text) (layer \($0 + 1)): \(refusal.reason)" }
                               ?? "--inputs \(inputs): \(refusal.reason)")
        }
        let model = try Model<Float>(
            inputWidth: inputs, layers: specs, loss: loss, optimizer: optimizerConfig, seed: seed)
        let document = ModelDocument(model: model, metadata: [
            "created_by": "mlpconv \(MLPConvVersion.string)",
            "created_at": ISO8601DateFormatter().string(from: Date()),
        ])
        try ModelFiles.save(document, to: self.output, format: format)

        let shape = ([String(inputs)] + model.network.layers.map { layer in
            layer.kind.dense.map { "\($0.units) (\($0.activation.name))" } ?? "\(layer.outputWidth) (\(layer.kind.typeName))"
        }).joined(separator: " → ")
        let config = model.training.optimizer.config
        if style.json {
            printJSON([
                "output": .string(self.output), "format": .string(format.rawValue), "parameters": .int(model.network.parameterCount),
                "loss": .string(loss.name), "optimizer": .string(config.kind.name), "learning_rate": .double(config.learningRate),
                "lr_schedule": config.schedule.map { .string($0.summary) } ?? .null, "seed": .string(String(seed)),
            ])
        } else {
            emit("wrote \(self.output): \(shape), \(model.network.parameterCount.formatted()) parameters; loss \(loss), optimizer \(config.kind.name) (learning_rate \(config.schedule?.summary ?? "\(config.learningRate)")), seed \(seed)")
        }
    }
}
