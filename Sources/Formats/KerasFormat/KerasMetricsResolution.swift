import MLPCore
import JSONSupport
import MLPDocument

/// One compiled metric: its history key, and the core metric that computes it or why mlpconv does not.
package struct ResolvedKerasMetric: Equatable {
    package var name: String
    package var metric: Metric?
    package var notComputedReason: String?
}

extension KerasMetrics {
    /// What the core computes of a document's compiled metrics, in Keras's order and with Keras's history keys
    /// (a name used twice gets `_1`, `_2`, … as Keras's `CompileMetrics` gives it). Metrics mlpconv cannot compute
    /// as Keras does (AUC, precision, recall, F1, a setting it lacks…) come with the reason. Nil when the document
    /// names no metrics.
    package static func resolve(_ document: ModelDocument, file: String) throws(ModelFileError) -> [ResolvedKerasMetric]? {
        guard let text = document.metadata[KerasConfig.metricsKey] else { return nil }
        var resolved: [ResolvedKerasMetric] = []
        do {
            for entry in try entries(text) { resolved.append(try resolve(entry)) }
        } catch {
            throw ModelFileError(file: file, object: "metadata \(KerasConfig.metricsKey) \(error.path)", reason: error.reason)
        }
        if resolved.isEmpty { return nil }
        // Keras's unique names: the first use keeps the name, later ones get _1, _2, …
        var counters: [String: Int] = [:]
        for index in resolved.indices {
            let name = resolved[index].name
            guard let used = counters[name] else {
                counters[name] = 1
                continue
            }
            counters[name] = used + 1
            resolved[index].rename("\(name)_\(used)")
        }
        return resolved
    }

    private static func resolve(_ entry: JSONValue) throws(JSONError) -> ResolvedKerasMetric {
        if entry.kind == .string {
            let name = try entry.string()
            if ["accuracy", "acc"].contains(name.lowercased()) { return computed(name, .accuracy) }
            guard let metricClass = metricClass(named: name) else {
                return .init(name: name, metric: nil, notComputedReason: notComputed(name))
            }
            return computed(name, metricClass.kind)
        }
        if let function = try functionName(entry) {
            // Keras's MeanMetricWrapper of the function: the metric of that name (`accuracy`, Keras's exact-match
            // function, is not computed).
            guard let metricClass = metricClass(named: function) else {
                return .init(name: function, metric: nil, notComputedReason: notComputed("metric function " + function))
            }
            return computed(function, metricClass.kind)
        }
        let className = try entry.value(at: "class_name").string()
        let config = try entry.object(at: "config")
        let name = try KerasConfig.optionalString(config, "name")
        guard let metricClass = classes.first(where: { $0.className == className }) else {
            return .init(name: name ?? KerasConfig.snakeCase(className), metric: nil, notComputedReason: notComputed(className))
        }
        let label = name ?? metricClass.defaultName
        func skip(_ reason: String) -> ResolvedKerasMetric { .init(name: label, metric: nil, notComputedReason: reason) }
        var threshold = 0.5, k = 5, fromLogits = false, labelSmoothing = 0.0
        for (key, member) in try config.members() {
            switch key {
            case "name": continue
            case "dtype":
                guard try dtypeIsComputed(member) else { return skip("its dtype is not float32 or float64") }
            case _ where !metricClass.settings.contains(key):
                return skip("its setting \"\(key)\" is not one mlpconv computes")
            case "threshold":
                guard member.kind == .integer || member.kind == .number else { return skip("its threshold is not one number") }
                threshold = try member.double()
            case "k":
                guard member.kind == .integer else { return skip("its k is not an integer") }
                k = Int(clamping: try member.int64())
            case "from_logits":
                fromLogits = try member.bool()
            case "label_smoothing":
                labelSmoothing = try member.double()
            case "axis":
                let isLast = member.kind == .integer ? try member.int64() == -1 : member.isNull
                guard isLast else {
                    return skip("mlpconv computes it over the last axis only")
                }
            case "from_sorted_ids":
                guard member.kind == .bool, !(try member.bool()) else { return skip("from_sorted_ids is not supported") }
            case "ignore_class":
                guard member.isNull else { return skip("ignore_class is not supported") }
            default:
                return skip("its setting \"\(key)\" is not one mlpconv computes")
            }
        }
        do {
            return .init(name: label, metric: try Metric(metricClass.kind, name: label, threshold: threshold, k: k,
                                                         fromLogits: fromLogits, labelSmoothing: labelSmoothing))
        } catch {
            return skip(error.reason)
        }
    }

    private static func computed(_ name: String, _ kind: MetricKind) -> ResolvedKerasMetric {
        do {
            return .init(name: name, metric: try Metric(kind, name: name))
        } catch {
            return .init(name: name, metric: nil, notComputedReason: error.reason)
        }
    }

    private static func notComputed(_ what: String) -> String {
        "\(what) is not computed by mlpconv (kept, and written back for Keras)"
    }

    /// float32 and float64 (a name or a `DTypePolicy` object) compute what mlpconv computes; mixed precision does not.
    private static func dtypeIsComputed(_ value: JSONValue) throws(JSONError) -> Bool {
        if value.isNull { return true }
        if value.kind == .string { return ["float32", "float64"].contains(try value.string()) }
        guard value.kind == .object, let config = try value.optionalValue(at: "config"), config.kind == .object,
              let name = try KerasConfig.optionalString(config, "name") else { return false }
        return ["float32", "float64"].contains(name)
    }
}

extension ResolvedKerasMetric {
    mutating func rename(_ newName: String) {
        name = newName
        if let metric {
            self.metric = try? Metric(metric.kind, name: newName, threshold: metric.threshold, k: metric.k,
                                      fromLogits: metric.fromLogits, labelSmoothing: metric.labelSmoothing)
        }
    }
}
