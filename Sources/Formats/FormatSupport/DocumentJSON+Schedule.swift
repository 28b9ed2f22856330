import MLPCore
import JSONSupport
import MLPDocument

// MARK: Learning-rate schedules

/// A schedule in the native formats: the optimizer's `learning_rate` hyperparameter becomes an object naming the
/// schedule and giving every parameter of its kind (schemas/mlpconv-model.schema.json, `learning_rate_schedule`):
///
///     {"schedule": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.9,
///      "staircase": false}
///
/// The JSON codec embeds the object in `hyperparameters`; the HDF5 codec stores the same text as the string
/// attribute `/optimizer@learning_rate`.
extension DocumentJSON {
    package static let scheduleKindKey = "schedule"

    package static func write(_ schedule: LearningRateSchedule, to writer: inout JSONWriter) {
        writer.beginObject(inline: true)
        writer.key(scheduleKindKey); writer.string(schedule.kind.name)
        for (key, value) in schedule.parameters {
            writer.key(key)
            switch value {
            case .number(let number), .optionalNumber(let number?): writer.number(number)
            case .optionalNumber(nil): writer.null()
            case .flag(let flag): writer.bool(flag)
            case .numbers(let list):
                writer.beginArray(inline: true)
                for number in list { writer.number(number) }
                writer.endArray()
            }
        }
        writer.endObject()
    }

    package static func scheduleText(_ schedule: LearningRateSchedule) -> String {
        var writer = JSONWriter()
        write(schedule, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Strict: the kind must be known, every key must be one of its parameters, the required ones present, and
    /// the values valid; each error names the member.
    package static func readSchedule(_ value: JSONValue) throws(JSONError) -> LearningRateSchedule {
        let kind = try named(value, scheduleKindKey, ScheduleKind.init(name:), ScheduleKind.acceptedNames,
                             what: "learning-rate schedule")
        let allowed = Set(LearningRateSchedule(kind).parameters.map(\.key))
        try requireKeys(value, allowed: allowed.union([scheduleKindKey]))
        var parameters: [String: ScheduleParameter] = [:]
        for (key, member) in try value.members() where key != scheduleKindKey {
            parameters[key] = try scheduleParameter(member)
        }
        do { return try LearningRateSchedule(kind, parameters: parameters) } catch {
            throw value.error(.value, error.description)
        }
    }

    /// A member as a schedule parameter: a number, a boolean, null, or an array of numbers.
    package static func scheduleParameter(_ member: JSONValue) throws(JSONError) -> ScheduleParameter {
        switch member.kind {
        case .null: return .optionalNumber(nil)
        case .bool: return .flag(try member.bool())
        case .array:
            var list: [Double] = []
            for element in try member.array() { list.append(try element.double()) }
            return .numbers(list)
        default: return .number(try member.double())
        }
    }

    package static func readSchedule(text: String, file: String, object: String) throws(ModelFileError) -> LearningRateSchedule {
        do {
            let document = try JSONDocument.parse(Array(text.utf8), file: file, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 4))
            return try readSchedule(document.root)
        } catch {
            throw ModelFileError(file: file, object: "\(object) \(error.path)", reason: error.reason)
        }
    }
}
