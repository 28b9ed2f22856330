import ArgumentParser
import Foundation
import MLPCore

/// `--lr-schedule KIND:KEY=VALUE,…`, or `constant` for none. Keys are the schedule's parameters under Keras's
/// names; lists (`boundaries`, `values`) separate their numbers with `/`; `warmup_target` may be `none`;
/// `initial_learning_rate` may be left out and then comes from `--learning-rate` (or the optimizer's current
/// rate). Parsing checks the syntax, the kind, the keys and the value types; the core checks the values.
///
///     --lr-schedule exponential_decay:decay_steps=1000,decay_rate=0.9,staircase=true
///     --lr-schedule piecewise_constant_decay:boundaries=100/200,values=0.1/0.01/0.001
///     --lr-schedule cosine_decay:decay_steps=500,warmup_target=0.01,warmup_steps=50
struct ScheduleSpec: Sendable {
    static let help = ArgumentHelp(
        "Learning-rate schedule: KIND:KEY=VALUE,… or constant (no schedule). Kinds: "
            + ScheduleKind.acceptedNames.joined(separator: ", ")
            + "; keys as in Keras (e.g. exponential_decay:decay_steps=100,decay_rate=0.9); lists separated by '/'; "
            + "initial_learning_rate defaults to the learning rate.",
        valueName: "schedule")

    /// nil for `constant`.
    let kind: ScheduleKind?
    let parameters: [String: ScheduleParameter]

    /// ArgumentParser shows a thrown error after "The value … is invalid for '--lr-schedule'".
    init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts[0] == "constant", parts.count == 1 {
            (kind, parameters) = (nil, [:])
            return
        }
        guard let kind = ScheduleKind(name: parts[0]) else {
            throw ValidationError("unknown schedule \"\(parts[0])\"; supported: constant, "
                                  + ScheduleKind.acceptedNames.joined(separator: ", "))
        }
        let template = Dictionary(uniqueKeysWithValues: LearningRateSchedule(kind).parameters.map { ($0.key, $0.value) })
        let keys = LearningRateSchedule(kind).parameters.map(\.key).joined(separator: ", ")
        var parameters: [String: ScheduleParameter] = [:]
        for item in parts.count > 1 ? parts[1].split(separator: ",", omittingEmptySubsequences: false) : [] {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard pair.count == 2, !pair[0].isEmpty else {
                throw ValidationError("\"\(item)\" is not KEY=VALUE (\(kind.name) takes \(keys))")
            }
            let (key, value) = (pair[0], pair[1])
            guard let shape = template[key] else { throw ValidationError("\(kind.name) has no parameter \"\(key)\"; it takes \(keys)") }
            guard parameters[key] == nil else { throw ValidationError("\(key) is given twice") }
            parameters[key] = try Self.value(value, like: shape, key: key)
        }
        (self.kind, self.parameters) = (kind, parameters)
    }

    private static func value(_ text: String, like shape: ScheduleParameter, key: String) throws -> ScheduleParameter {
        func number(_ text: String) throws -> Double {
            guard let x = Double(text), x.isFinite else { throw ValidationError("\(key): expected a number, got \"\(text)\"") }
            return x
        }
        switch shape {
        case .flag:
            guard let flag = Bool(text) else { throw ValidationError("\(key): expected true or false, got \"\(text)\"") }
            return .flag(flag)
        case .numbers:
            return .numbers(try text.split(separator: "/", omittingEmptySubsequences: false).map { try number(String($0)) })
        case .optionalNumber:
            return text == "none" ? .optionalNumber(nil) : .optionalNumber(try number(text))
        case .number:
            return .number(try number(text))
        }
    }

    /// The schedule, with `initial_learning_rate` from `initialRate` when not given; nil for `constant`.
    func schedule(initialRate: Double) throws -> LearningRateSchedule? {
        guard let kind else { return nil }
        var parameters = self.parameters
        if parameters["initial_learning_rate"] == nil, LearningRateSchedule(kind).parameters.contains(where: { $0.key == "initial_learning_rate" }) {
            parameters["initial_learning_rate"] = .number(initialRate)
        }
        do { return try LearningRateSchedule(kind, parameters: parameters) } catch {
            if case .invalidHyperparameter(_, let reason) = error { throw CommandError("--lr-schedule: \(reason)") }
            throw CommandError("--lr-schedule: \(error.description)")
        }
    }
}

extension LearningRateSchedule {
    /// Keras's own float32 arithmetic gives some polynomial decays a NaN rate (firstNonFiniteStep); a warning
    /// for the commands that set such a schedule, nil otherwise.
    var nonFiniteWarning: String? {
        guard let step = firstNonFiniteStep(through: Int(Int32.max)) else { return nil }
        return "warning: \(summary) gives a NaN learning rate from step \(step) on, as Keras computes it (in float32, "
            + "1 − step/decay_steps rounds below 0); an integer power or another decay_steps avoids it"
    }
}

/// Prints a schedule's NaN warning, if it has one, on standard error.
func warnIfNonFinite(_ schedule: LearningRateSchedule?, quiet: Bool = false) {
    guard !quiet, let warning = schedule?.nonFiniteWarning else { return }
    FileHandle.standardError.write(Data("mlpconv: \(warning)\n".utf8))
}
