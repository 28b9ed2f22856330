import JSONSupport
import MLPCore

/// Keras's `LossScaleOptimizer` in configurations: read as a dynamic loss scale on its inner optimizer, written back
/// around it (docs/keras-formats.md, optimizer wrappers). The base settings (use_ema, …) are read with the other
/// keys in `KerasConfig.readOptimizer` and written in `KerasWriting.writeInnerOptimizer`.
extension KerasConfig {
    /// `LossScaleOptimizer`'s config: the inner optimizer (which Keras keeps without a loss_scale_factor of its
    /// own), `initial_scale` (default 2¹⁵) and `dynamic_growth_steps` (default 2000).
    static func readLossScaleOptimizer(_ config: JSONValue) throws(JSONError) -> OptimizerConfig {
        var result: OptimizerConfig?
        var initialScale = 32768.0, growthSteps = 2000.0
        for (key, member) in try config.members() {
            switch key {
            case "name": continue
            case "inner_optimizer":
                let inner = try readOptimizer(member)
                if inner.dynamicLossScale != nil {
                    throw member.error(.value, "a LossScaleOptimizer inside a LossScaleOptimizer is not supported")
                }
                result = inner
            case "initial_scale": initialScale = try member.double()
            case "dynamic_growth_steps": growthSteps = try member.double()
            case "dynamic":
                // Keras refuses dynamic=False ("set loss_scale_factor on the inner optimizer instead").
                guard member.kind == .bool, try member.bool() else {
                    throw member.error(.value, "LossScaleOptimizer with dynamic other than true is not supported")
                }
            default:
                throw member.error(.value, "LossScaleOptimizer setting \"\(key)\" is not supported")
            }
        }
        guard var result else {
            throw config.error(.missing, "LossScaleOptimizer has no inner_optimizer")
        }
        let hyperparameters: [String: Hyperparameter] = [
            "initial_scale": .number(initialScale), "dynamic_growth_steps": .number(growthSteps)]
        do {
            try result.setDynamicLossScale(from: hyperparameters)
            try result.validate()
        } catch {
            switch error {
            case .invalidHyperparameter(let key, _):
                let target = (try? config.optionalValue(at: key)) ?? nil
                throw (target ?? config).error(.value, error.description)
            default:
                throw config.error(.value, error.description)
            }
        }
        return result
    }
}

extension KerasWriting {
    /// A dynamic loss scale is written as Keras's `LossScaleOptimizer` around the optimizer.
    package static func writeOptimizer(_ config: OptimizerConfig, native: Bool, to writer: inout JSONWriter) {
        guard let lossScale = config.dynamicLossScale else {
            writeInnerOptimizer(config, native: native, to: &writer)
            return
        }
        var inner = config
        inner.dynamicLossScale = nil
        writer.beginObject()
        if native { writer.key("module"); writer.string("keras.optimizers") }
        writer.key("class_name"); writer.string("LossScaleOptimizer")
        writer.key("config"); writer.beginObject()
        writer.key("name"); writer.string("loss_scale_optimizer")
        // Keras serializes the inner optimizer in full (module, registered_name) in both file kinds.
        writer.key("inner_optimizer"); writeInnerOptimizer(inner, native: true, to: &writer)
        writer.key("initial_scale"); writer.number(lossScale.initialScale)
        writer.key("dynamic_growth_steps"); writer.integer(lossScale.dynamicGrowthSteps)
        writer.endObject()
        if native { writer.key("registered_name"); writer.null() }
        writer.endObject()
    }
}
