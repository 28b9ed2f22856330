import MLPCore
import FormatSupport
import JSONSupport

/// Keras's learning-rate schedule objects (`keras.optimizers.schedules`), which an optimizer's `learning_rate`
/// holds instead of a number (docs/keras-formats.md, learning-rate schedules):
///
///     {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
///      "config": {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.9, "staircase": false,
///                 "name": "ExponentialDecay"}, "registered_name": null}
///
/// Both the `.keras` `compile_config` and the legacy `.h5` `training_config` carry this full form. An optimizer
/// with a schedule keeps no `learning_rate` variable: its variables are the iteration, then the slots.
package enum KerasSchedule {
    /// Keras's class for each kind, and the default `name` its `get_config()` reports.
    package static func className(_ kind: ScheduleKind) -> (className: String, defaultName: String) {
        switch kind {
        case .exponentialDecay: ("ExponentialDecay", "ExponentialDecay")
        case .piecewiseConstantDecay: ("PiecewiseConstantDecay", "PiecewiseConstant")
        case .polynomialDecay: ("PolynomialDecay", "PolynomialDecay")
        case .inverseTimeDecay: ("InverseTimeDecay", "InverseTimeDecay")
        case .cosineDecay: ("CosineDecay", "CosineDecay")
        case .cosineDecayRestarts: ("CosineDecayRestarts", "SGDRDecay")
        }
    }

    package static let module = "keras.optimizers.schedules"

    /// Parameters that count steps: Keras users give them as integers, and the writer keeps them so when they are.
    private static let stepKeys: Set<String> = ["decay_steps", "first_decay_steps", "warmup_steps", "boundaries"]

    /// A schedule object; the class must be one of the six, its config keys exactly Keras's for it (the `name`
    /// only labels Keras's name scope and is not kept). Errors name the member.
    package static func read(_ value: JSONValue) throws(JSONError) -> LearningRateSchedule {
        guard value.kind == .object else {
            throw value.error(.type, "expected a number or a learning-rate schedule object, found \(value.kind)")
        }
        try KerasConfig.checkBuiltIn(value, modules: [module], what: "a learning-rate schedule")
        let classValue = try value.value(at: "class_name")
        let name = try classValue.string()
        guard let kind = ScheduleKind.allCases.first(where: { className($0).className == name }) else {
            let supported = ScheduleKind.allCases.map { className($0).className }.joined(separator: ", ")
            throw classValue.error(.value, "learning-rate schedule \"\(name)\" is not supported; mlpconv reads \(supported)")
        }
        let config = try value.object(at: "config")
        let allowed = LearningRateSchedule(kind).parameters.map(\.key)
        var parameters: [String: ScheduleParameter] = [:]
        for (key, member) in try config.members() {
            if key == "name" {
                if !member.isNull { _ = try member.string() }
                continue
            }
            guard allowed.contains(key) else {
                throw member.error(.value, "\(name) setting \"\(key)\" is not supported; \(name) takes "
                                   + (allowed + ["name"]).joined(separator: ", "))
            }
            parameters[key] = try DocumentJSON.scheduleParameter(member)
        }
        do { return try LearningRateSchedule(kind, parameters: parameters) } catch {
            throw config.error(.value, "\(name): \(error.description)")
        }
    }

    /// The object as Keras 3.15.1 writes it, keys in Keras's order.
    package static func write(_ schedule: LearningRateSchedule, to writer: inout JSONWriter) {
        let (className, defaultName) = className(schedule.kind)
        writer.beginObject()
        writer.key("module"); writer.string(module)
        writer.key("class_name"); writer.string(className)
        writer.key("config"); writer.beginObject()
        func number(_ x: Double, step: Bool) {
            if step, x.rounded() == x, let integer = Int64(exactly: x) { writer.integer(integer) } else { writer.number(x) }
        }
        for (key, value) in schedule.parameters {
            // CosineDecay's get_config() puts the name before its warmup settings.
            if key == "warmup_target" { writer.key("name"); writer.string(defaultName) }
            writer.key(key)
            switch value {
            case .number(let x), .optionalNumber(let x?): number(x, step: stepKeys.contains(key))
            case .optionalNumber(nil): writer.null()
            case .flag(let flag): writer.bool(flag)
            case .numbers(let list):
                writer.beginArray(inline: true)
                for x in list { number(x, step: stepKeys.contains(key)) }
                writer.endArray()
            }
        }
        if schedule.kind != .cosineDecay { writer.key("name"); writer.string(defaultName) }
        writer.endObject()
        writer.key("registered_name"); writer.null()
        writer.endObject()
    }
}
