import Foundation
import MLPDocument
internal import TextSupport
import MLPCore

/// When two elements match: bitwise by default, `|a − b| ≤ atol + rtol·|b|` once a tolerance is given.
struct ElementTolerance {
    var atol: Double
    var rtol: Double

    var isExact: Bool { atol == 0 && rtol == 0 }

    func matches(_ x: Double, _ y: Double) -> Bool {
        if x.bitPattern == y.bitPattern { return true }
        guard !isExact, !x.isNaN, !y.isNaN else { return false }
        return x == y || abs(x - y) <= atol + rtol * abs(y)
    }

    var description: String {
        isExact ? "bitwise" : "within atol \(formatNumber(atol)), rtol \(formatNumber(rtol))"
    }
}

/// Everything `diff` found, computed once and rendered as text or JSON.
struct ModelComparison {
    enum Section: String, CaseIterable {
        case architecture, weights, optimizer, training, metadata
    }

    struct Difference {
        var section: Section
        var object: String
        var a: String
        var b: String
        /// Says more than "a vs b" (tensors).
        var detail: String?
        /// Whether it makes the models differ (metadata without --metadata, and matches within the tolerance, do not).
        var counted: Bool
    }

    struct TensorComparison {
        /// What is reported of each side's tensor besides its values.
        struct Side {
            var shape: [Int]
            var dtype: Tensor.DType
        }

        var section: Section
        var name: String
        var a: Side
        var b: Side
        /// Elements compared: none when the shapes differ.
        var elements = 0
        /// Elements that do not match under the tolerance.
        var differing = 0
        /// Elements whose bits differ (matches within the tolerance included).
        var changed = 0
        var maxAbsoluteDifference = 0.0
        var maxRelativeDifference = 0.0

        init(_ section: Section, _ name: String, _ a: Tensor, _ b: Tensor) {
            self.section = section
            self.name = name
            self.a = Side(shape: a.shape, dtype: a.dtype)
            self.b = Side(shape: b.shape, dtype: b.dtype)
        }
    }

    let tolerance: ElementTolerance
    let countMetadata: Bool
    private(set) var differences: [Difference] = []
    private(set) var tensors: [TensorComparison] = []

    var equal: Bool { !differences.contains(where: \.counted) }

    init(_ a: ModelDocument, _ b: ModelDocument, tolerance: ElementTolerance, countMetadata: Bool) {
        self.tolerance = tolerance
        self.countMetadata = countMetadata
        compareArchitecture(a.architecture, b.architecture)
        compareTensors(.weights, prefix: "",
                       a: Array(zip(a.variableNames, a.variableTensors)), b: Array(zip(b.variableNames, b.variableTensors)))
        switch (a.training, b.training) {
        case (nil, nil): break
        case (let training?, nil):
            add(.optimizer, "optimizer", training.optimizer.config.kind.name, "(absent)")
            add(.training, "training", "loss \(training.loss), \(training.epochsCompleted) epochs", "(absent)")
        case (nil, let training?):
            add(.optimizer, "optimizer", "(absent)", training.optimizer.config.kind.name)
            add(.training, "training", "(absent)", "loss \(training.loss), \(training.epochsCompleted) epochs")
        case (let ta?, let tb?):
            compareOptimizer(ta.optimizer, tb.optimizer, namesA: a.parameterNames, namesB: b.parameterNames)
            compareTraining(ta, tb)
        }
        for key in Set(a.metadata.keys).union(b.metadata.keys).sorted() where a.metadata[key] != b.metadata[key] {
            add(.metadata, key, a.metadata[key].map(quote) ?? "(absent)", b.metadata[key].map(quote) ?? "(absent)",
                counted: countMetadata)
        }
    }

    private mutating func add(_ section: Section, _ object: String, _ a: String, _ b: String, detail: String? = nil,
                              counted: Bool = true) {
        differences.append(Difference(section: section, object: object, a: a, b: b, detail: detail, counted: counted))
    }

    private mutating func compareArchitecture(_ a: ModelDocument.Architecture, _ b: ModelDocument.Architecture) {
        if a.inputWidth != b.inputWidth { add(.architecture, "input_width", String(a.inputWidth), String(b.inputWidth)) }
        if a.layers.count != b.layers.count {
            add(.architecture, "layers", plural(a.layers.count, "layer"), plural(b.layers.count, "layer"))
        }
        func describe(_ layer: ModelDocument.Layer) -> String {
            let settings = fields(of: layer).dropFirst(2).prefix(2).map(\.1).joined(separator: ", ")
            return "\(layer.name) (\(layer.kind.typeName)\(settings.isEmpty ? "" : ", " + settings))"
        }
        for index in 0..<max(a.layers.count, b.layers.count) {
            let object = "layers[\(index)]"
            guard index < a.layers.count, index < b.layers.count else {
                add(.architecture, object, index < a.layers.count ? describe(a.layers[index]) : "(absent)",
                    index < b.layers.count ? describe(b.layers[index]) : "(absent)")
                continue
            }
            let x = a.layers[index], y = b.layers[index]
            let fieldsA = fields(of: x), fieldsB = fields(of: y)
            let valuesB = Dictionary(fieldsB, uniquingKeysWith: { first, _ in first })
            let keysA = Set(fieldsA.map(\.0))
            let fields = fieldsA.map { key, value in (key, value, valuesB[key] ?? "(absent)") }
                + fieldsB.filter { !keysA.contains($0.0) }.map { key, value in (key, "(absent)", value) }
            for (field, valueA, valueB) in fields where valueA != valueB { add(.architecture, "\(object).\(field)", valueA, valueB) }
        }
    }

    /// A layer's settings as (key, value) text, under the native schema's keys: type and name first.
    private func fields(of layer: ModelDocument.Layer) -> [(String, String)] {
        var list = [("type", layer.kind.typeName), ("name", quote(layer.name))]
        func optional(_ text: String?) -> String { text ?? "none" }
        switch layer.kind {
        case .dense(let dense):
            list += [("units", String(dense.units)), ("activation", dense.activation.name), ("use_bias", String(dense.useBias)),
                     ("kernel_initializer", dense.kernelInitializer.name), ("bias_initializer", dense.biasInitializer.name),
                     ("kernel_regularizer", optional(dense.kernelRegularizer?.summary)),
                     ("bias_regularizer", optional(dense.biasRegularizer?.summary)),
                     ("activity_regularizer", optional(dense.activityRegularizer?.summary)),
                     ("kernel_constraint", optional(dense.kernelConstraint?.summary)),
                     ("bias_constraint", optional(dense.biasConstraint?.summary))]
        case .activation(let activation):
            list.append(("activation", activation.name))
        case .dropout(let dropout):
            list += [("rate", formatNumber(dropout.rate)), ("seed", dropout.seed.map(String.init) ?? "none")]
        case .batchNormalization(let bn):
            list += [("momentum", formatNumber(bn.momentum)), ("epsilon", formatNumber(bn.epsilon)),
                     ("center", String(bn.center)), ("scale", String(bn.scale))]
        case .layerNormalization(let ln):
            list += [("epsilon", formatNumber(ln.epsilon)), ("center", String(ln.center)), ("scale", String(ln.scale))]
        case .flatten:
            break
        }
        return list
    }

    /// Tensors matched by name, in A's order and then B's extra ones.
    private mutating func compareTensors(_ section: Section, prefix: String, a: [(String, Tensor)], b: [(String, Tensor)]) {
        let tensorsB = Dictionary(b, uniquingKeysWith: { first, _ in first })
        let namesA = Set(a.map(\.0))
        for (name, tensor) in a {
            guard let other = tensorsB[name] else {
                add(section, prefix + name, tensor.description, "(absent)")
                continue
            }
            compare(section, prefix + name, tensor, other)
        }
        for (name, tensor) in b where !namesA.contains(name) { add(section, prefix + name, "(absent)", tensor.description) }
    }

    private mutating func compare(_ section: Section, _ name: String, _ a: Tensor, _ b: Tensor) {
        guard a.shape == b.shape else {
            add(section, name, a.description, b.description, detail: "shape \(a.shape) vs \(b.shape)")
            var mismatch = TensorComparison(section, name, a, b)
            mismatch.maxAbsoluteDifference = .nan
            mismatch.maxRelativeDifference = .nan
            tensors.append(mismatch)
            return
        }
        let x = a.float64Values, y = b.float64Values
        // Same dtype: the stored bits decide (widening could quiet a signaling NaN); else the exact float64 values.
        let sameBits: (Int) -> Bool
        switch (a.storage, b.storage) {
        case (.float32(let p), .float32(let q)): sameBits = { p[$0].bitPattern == q[$0].bitPattern }
        case (.float64(let p), .float64(let q)): sameBits = { p[$0].bitPattern == q[$0].bitPattern }
        default: sameBits = { x[$0].bitPattern == y[$0].bitPattern }
        }
        var result = TensorComparison(section, name, a, b)
        result.elements = x.count
        for i in x.indices where !sameBits(i) {
            result.changed += 1
            if !tolerance.matches(x[i], y[i]) { result.differing += 1 }
            // A NaN against a number (or NaNs with other payloads) is as far apart as values get.
            let absolute = x[i] == y[i] ? 0 : x[i].isNaN || y[i].isNaN ? .infinity : abs(x[i] - y[i])
            let scale = max(abs(x[i]), abs(y[i]))
            let relative = absolute == 0 ? 0 : scale.isFinite && scale > 0 ? absolute / scale : .infinity
            result.maxAbsoluteDifference = max(result.maxAbsoluteDifference, absolute.isNaN ? .infinity : absolute)
            result.maxRelativeDifference = max(result.maxRelativeDifference, relative.isNaN ? .infinity : relative)
        }
        tensors.append(result)

        let dtypes = a.dtype == b.dtype ? a.dtype.rawValue : "\(a.dtype.rawValue) vs \(b.dtype.rawValue)"
        var detail = "\(a.shape) \(dtypes): "
        if result.changed == 0 {
            detail += "same values"
        } else {
            if result.differing > 0 {
                detail += "\(result.differing) of \(result.elements) elements differ"
                if result.changed > result.differing { detail += " (\(result.changed - result.differing) more within tolerance)" }
            } else {
                detail += "\(result.changed) of \(result.elements) elements differ within tolerance"
            }
            detail += ", max abs \(scientific(result.maxAbsoluteDifference)), max rel \(scientific(result.maxRelativeDifference))"
        }
        let dtypeCounts = a.dtype != b.dtype && tolerance.isExact
        if result.differing > 0 || dtypeCounts {
            add(section, name, a.description, b.description, detail: detail)
        } else if result.changed > 0 || a.dtype != b.dtype {
            add(section, name, a.description, b.description, detail: detail, counted: false)
        }
    }

    private mutating func compareOptimizer(_ a: ModelDocument.OptimizerRecord, _ b: ModelDocument.OptimizerRecord,
                                           namesA: [String], namesB: [String]) {
        if a.config.kind != b.config.kind { add(.optimizer, "kind", a.config.kind.name, b.config.kind.name) }
        let hyperA = Dictionary(a.config.hyperparameters.map { ($0.key, describe($0.value)) }, uniquingKeysWith: { x, _ in x })
        let hyperB = Dictionary(b.config.hyperparameters.map { ($0.key, describe($0.value)) }, uniquingKeysWith: { x, _ in x })
        let keys = a.config.hyperparameters.map(\.key) + b.config.hyperparameters.map(\.key).filter { hyperA[$0] == nil }
        for key in keys where hyperA[key] != hyperB[key] {
            add(.optimizer, key, hyperA[key] ?? "(absent)", hyperB[key] ?? "(absent)")
        }
        if a.iterations != b.iterations { add(.optimizer, "iterations", String(a.iterations), String(b.iterations)) }
        let slotsB = Dictionary(b.slots.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        for slot in a.slots {
            guard let other = slotsB[slot.name] else {
                add(.optimizer, slot.name, "\(plural(slot.tensors.count, "tensor"))", "(absent)")
                continue
            }
            compareTensors(.optimizer, prefix: slot.name + "/",
                           a: Array(zip(namesA, slot.tensors)), b: Array(zip(namesB, other.tensors)))
        }
        for slot in b.slots where !a.slots.contains(where: { $0.name == slot.name }) {
            add(.optimizer, slot.name, "(absent)", "\(plural(slot.tensors.count, "tensor"))")
        }
    }

    private mutating func compareTraining(_ a: ModelDocument.TrainingRecord, _ b: ModelDocument.TrainingRecord) {
        if a.loss != b.loss { add(.training, "loss", a.loss.description, b.loss.description) }
        if a.epochsCompleted != b.epochsCompleted {
            add(.training, "epochs_completed", String(a.epochsCompleted), String(b.epochsCompleted))
        }
        if a.randomState != b.randomState {
            func words(_ state: RandomState?) -> String {
                state.map { $0.wordArray.map { String(format: "%016llx", $0) }.joined(separator: " ") } ?? "(absent)"
            }
            add(.training, "random_state", words(a.randomState), words(b.randomState))
        }
        if a.history.count != b.history.count {
            add(.training, "history", plural(a.history.count, "epoch"), plural(b.history.count, "epoch"))
        }
        for (index, (x, y)) in zip(a.history, b.history).enumerated() {
            if x.epoch != y.epoch { add(.training, "history[\(index)].epoch", String(x.epoch), String(y.epoch)) }
            let keys = x.orderedKeys + y.orderedKeys.filter { x.metrics[$0] == nil }
            for key in keys {
                switch (x.metrics[key], y.metrics[key]) {
                case (let p?, let q?):
                    if p.bitPattern == q.bitPattern { continue }
                    add(.training, "history[\(index)].\(key)", "\(p)", "\(q)", counted: !tolerance.matches(p, q))
                case (let p, let q):
                    add(.training, "history[\(index)].\(key)", p.map { "\($0)" } ?? "(absent)", q.map { "\($0)" } ?? "(absent)")
                }
            }
        }
    }

    private func describe(_ value: Hyperparameter) -> String {
        switch value {
        case .number(let x): "\(x)"
        case .flag(let flag): "\(flag)"
        case .optionalNumber(let x): x.map { "\($0)" } ?? "none"
        }
    }

    // MARK: Rendering

    func text(a: String, b: String, formatA: String, formatB: String) -> String {
        var out = "a: \(a) (\(formatA))\nb: \(b) (\(formatB))\ncompared \(tolerance.description)\n"
        for section in Section.allCases {
            let listed = differences.filter { $0.section == section }
            guard !listed.isEmpty else { continue }
            out += "\n" + section.rawValue
            if section == .metadata && !countMetadata { out += " (listed, not compared; --metadata compares it)" }
            out += "\n"
            for difference in listed {
                out += "  \(difference.object): " + (difference.detail ?? "\(difference.a) vs \(difference.b)")
                if !difference.counted && section != .metadata && difference.detail == nil { out += " (within tolerance)" }
                out += "\n"
            }
        }
        return out + "\n" + verdict + "\n"
    }

    /// One line: `equal …` or `different: N differences (weights 2, …)`.
    var verdict: String {
        let counted = differences.filter(\.counted)
        let compared = countMetadata ? "architecture, weights, optimizer, training state and metadata"
            : "architecture, weights, optimizer and training state"
        if counted.isEmpty {
            var notes: [String] = []
            let within = differences.filter { !$0.counted && $0.section != .metadata }.count
            if within > 0 { notes.append("\(within) within tolerance") }
            let metadata = differences.filter { $0.section == .metadata }.count
            if metadata > 0 { notes.append("\(plural(metadata, "metadata difference")) not compared") }
            return "equal: \(compared) match \(tolerance.description)" + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))")
        }
        let perSection = Section.allCases.compactMap { section -> String? in
            let count = counted.filter { $0.section == section }.count
            return count > 0 ? "\(section.rawValue) \(count)" : nil
        }
        return "different: \(plural(counted.count, "difference")) (\(perSection.joined(separator: ", ")))"
    }

    func json(a: String, b: String, formatA: String, formatB: String) -> [String: JSONOutput] {
        var counts: [String: JSONOutput] = [:]
        for section in Section.allCases {
            counts[section.rawValue] = .int(differences.filter { $0.section == section && $0.counted }.count)
        }
        return [
            "a": .string(a), "b": .string(b), "a_format": .string(formatA), "b_format": .string(formatB),
            "atol": .double(tolerance.atol), "rtol": .double(tolerance.rtol), "metadata_compared": .bool(countMetadata),
            "equal": .bool(equal), "verdict": .string(verdict), "counts": .object(counts),
            "differences": .array(differences.map { difference in
                .object(["section": .string(difference.section.rawValue), "object": .string(difference.object),
                         "a": .string(difference.a), "b": .string(difference.b), "counted": .bool(difference.counted)])
            }),
            "tensors": .array(tensors.map { tensor in
                .object([
                    "section": .string(tensor.section.rawValue), "name": .string(tensor.name),
                    "shape_a": .array(tensor.a.shape.map { .int($0) }), "shape_b": .array(tensor.b.shape.map { .int($0) }),
                    "dtype_a": .string(tensor.a.dtype.rawValue), "dtype_b": .string(tensor.b.dtype.rawValue),
                    "elements": .int(tensor.elements), "differing": .int(tensor.differing), "changed": .int(tensor.changed),
                    "max_abs_difference": .double(tensor.maxAbsoluteDifference),
                    "max_rel_difference": .double(tensor.maxRelativeDifference),
                    "equal": .bool(tensor.a.shape == tensor.b.shape && tensor.differing == 0
                                   && (tensor.a.dtype == tensor.b.dtype || !tolerance.isExact)),
                ])
            }),
        ]
    }
}

private func quote(_ text: String) -> String { "\"\(text)\"" }
