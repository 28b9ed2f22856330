import ArgumentParser
import MLPCore

/// `--optimizer NAME` or `NAME:KEY=VALUE,…`: an optimizer and, optionally, settings under Keras's config keys —
/// the rule's hyperparameters and the base optimizer's (`use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
/// `gradient_accumulation_steps`, `loss_scale_factor`) and, for Keras's `LossScaleOptimizer` around it,
/// `initial_scale` and `dynamic_growth_steps`. Values are numbers, `true`/`false`, or `none` for null. Parsing
/// checks the syntax and the keys; the core checks the values.
///
///     --optimizer sgd:momentum=0.9,gradient_accumulation_steps=4
///     --optimizer adam:use_ema=true,ema_momentum=0.999,ema_overwrite_frequency=100
///     --optimizer adam:initial_scale=32768,dynamic_growth_steps=2000
///     --optimizer torch_adam:amsgrad=true,weight_decay=0.01
///
/// The `torch_*` optimizers (torch.optim's rules) take torch's keys instead (`dampening`, `alpha`, `lr_decay`,
/// `maximize`, torch's `weight_decay`, …); Keras's base settings given to them reach the core, which refuses them
/// by name.
struct OptimizerSpec: ExpressibleByArgument, Sendable {
    static let help = ArgumentHelp(
        "Optimizer (\(OptimizerKind.acceptedNames.joined(separator: ", "))), optionally NAME:KEY=VALUE,… with Keras's "
            + "config keys, e.g. adam:use_ema=true,gradient_accumulation_steps=4 or adam:initial_scale=32768 (a dynamic "
            + "loss scale), or torch's keys for the torch_* optimizers, e.g. torch_sgd:momentum=0.9,dampening=0.1; "
            + "values are numbers, true/false or none.",
        valueName: "optimizer")

    let value: OptimizerKind
    /// The settings given after the name (empty for a bare name).
    let settings: [String: Hyperparameter]

    init(_ value: OptimizerKind) {
        self.value = value
        settings = [:]
    }

    init?(argument: String) {
        guard let spec = try? OptimizerSpec(parsing: argument) else { return nil }
        self = spec
    }

    /// ArgumentParser shows a thrown error after "The value … is invalid for '--optimizer'".
    init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let kind = OptimizerKind(name: parts[0]) else {
            throw ValidationError("unknown optimizer \"\(parts[0])\"; supported: \(OptimizerKind.acceptedNames.joined(separator: ", "))")
        }
        let allowed = Set(OptimizerConfig(kind).hyperparameters.map(\.key))
            .union(kind.isTorch ? OptimizerConfig.kerasOnlyKeys : [])
            .union(OptimizerConfig.wrapperKeys)
        var settings: [String: Hyperparameter] = [:]
        for item in parts.count > 1 ? parts[1].split(separator: ",", omittingEmptySubsequences: false) : [] {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard pair.count == 2, !pair[0].isEmpty else {
                throw ValidationError("\"\(item)\" is not KEY=VALUE (\(kind.name) takes \(allowed.sorted().joined(separator: ", ")))")
            }
            let (key, text) = (pair[0], pair[1])
            guard allowed.contains(key) else {
                throw ValidationError("\(kind.name) has no setting \"\(key)\"; it takes \(allowed.sorted().joined(separator: ", "))")
            }
            guard settings[key] == nil else { throw ValidationError("\(key) is given twice") }
            if let flag = Bool(text) {
                settings[key] = .flag(flag)
            } else if text == "none" || text == "null" {
                settings[key] = .optionalNumber(nil)
            } else if let number = Double(text), number.isFinite {
                settings[key] = .number(number)
            } else {
                throw ValidationError("\(key): expected a number, true, false or none, got \"\(text)\"")
            }
        }
        (value, self.settings) = (kind, settings)
    }

    /// The configuration: Keras's defaults, the settings, then `--learning-rate` when given.
    func config(learningRate: Double?) throws -> OptimizerConfig {
        var settings = settings
        if let learningRate { settings["learning_rate"] = .number(learningRate) }
        do {
            return try OptimizerConfig(value, hyperparameters: settings)
        } catch {
            throw CommandError("--optimizer: \(error.description)")
        }
    }

    var defaultValueDescription: String { value.name }
}
