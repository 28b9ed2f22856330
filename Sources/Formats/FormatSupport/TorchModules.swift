import Foundation
import MLPCore
import MLPDocument

/// PyTorch's view of a document, shared by the torch-world formats (safetensors, torch checkpoints): the model as
/// an `nn.Sequential`, its tensors under the names and in the layout `model.state_dict()` gives them.
///
/// Every layer takes its own Sequential index, and a Dense layer takes two when its activation is not linear
/// (`Linear`, then the activation's module), so 784-512(relu)-10(softmax) is
/// `Sequential(Linear(784, 512), ReLU(), Linear(512, 10), Softmax(dim=-1))` with `0.weight` `[512, 784]` (the
/// kernel transposed), `0.bias`, `2.weight`, `2.bias`. Settings are written explicitly, never left to torch's
/// defaults, which differ from Keras's (BatchNorm's momentum is `1 − momentum` there, its epsilon 1e-5).
package enum TorchModules {
    /// A state-dict value: a float tensor, or BatchNorm's `num_batches_tracked` (an int64 scalar).
    package enum Value: Sendable, Equatable {
        case tensor(Tensor)
        case int64Scalar(Int64)

        package var shape: [Int] {
            switch self {
            case .tensor(let tensor): tensor.shape
            case .int64Scalar: []
            }
        }
    }

    package struct StateDict: Sendable {
        /// In Sequential order, each layer's entries in `state_dict()`'s order.
        package var entries: [(name: String, value: Value)]
        /// The Python expression that builds the model with `torch.nn`'s names in scope.
        package var sequential: String
    }

    /// The Sequential and the names it gives each layer's tensors.
    package struct Plan: Sendable {
        /// One Python expression per Sequential entry.
        package var modules: [String]
        /// Each document layer's Sequential index, for the layers that hold tensors (nil for the others).
        package var moduleIndex: [Int?]

        package var sequential: String { "Sequential(" + modules.joined(separator: ", ") + ")" }

        /// The torch name of layer `layer`'s variable `variable` (`kernel`, `gamma`, `moving_mean`, …).
        package func name(layer: Int, variable: String) -> String? {
            guard let index = moduleIndex[layer], let suffix = TorchModules.suffix(of: variable) else { return nil }
            return "\(index).\(suffix)"
        }
    }

    // MARK: Document → torch

    /// The Sequential for `architecture`, or an error naming the first layer torch cannot express.
    package static func plan(of architecture: ModelDocument.Architecture) throws(DocumentError) -> Plan {
        var modules: [String] = []
        var moduleIndex: [Int?] = []
        for (index, layer) in architecture.layers.enumerated() {
            let object = "architecture.layers[\(index)] (\"\(layer.name)\")"
            let width = architecture.inputWidth(ofLayer: index)
            switch layer.kind {
            case .dense(let dense):
                moduleIndex.append(modules.count)
                modules.append("Linear(\(width), \(dense.units)\(dense.useBias ? "" : ", bias=False"))")
                if let module = try module(for: dense.activation, object: object) { modules.append(module) }
            case .activation(let activation):
                moduleIndex.append(nil)
                modules.append(try module(for: activation, object: object) ?? "Identity()")
            case .dropout(let dropout):
                moduleIndex.append(nil)
                modules.append("Dropout(p=\(python(dropout.rate)))")
            case .batchNormalization(let bn):
                guard bn.scale == bn.center else {
                    throw DocumentError(object, "torch's BatchNorm1d has a scale and an offset together or neither "
                        + "(affine), not only \(bn.scale ? "a scale (scale without center)" : "an offset (center without scale)")")
                }
                moduleIndex.append(modules.count)
                // torch updates `running = (1 − momentum)·running + momentum·batch`: Keras's momentum complemented.
                modules.append("BatchNorm1d(\(width), eps=\(python(bn.epsilon)), momentum=\(python(torchMomentum(bn.momentum)))"
                    + (bn.scale ? "" : ", affine=False") + ")")
            case .layerNormalization(let ln):
                guard ln.scale || !ln.center else {
                    throw DocumentError(object, "torch's LayerNorm has no offset without a scale (center without scale)")
                }
                moduleIndex.append(modules.count)
                let affine = !ln.scale ? ", elementwise_affine=False" : ln.center ? "" : ", bias=False"
                modules.append("LayerNorm(\(width), eps=\(python(ln.epsilon))\(affine))")
            case .flatten:
                moduleIndex.append(nil)
                modules.append("Flatten()")
            }
        }
        return Plan(modules: modules, moduleIndex: moduleIndex)
    }

    /// The document's weights as `model.state_dict()` holds them, with the Sequential that loads them strictly.
    package static func stateDict(of document: ModelDocument) throws(DocumentError) -> StateDict {
        let (entries, sequential) = try documentLayoutEntries(of: document)
        return StateDict(entries: entries.map { entry in
            guard case .tensor(let tensor) = entry.value else { return (entry.name, entry.value) }
            return (entry.name, .tensor(torchLayout(tensor, variable: entry.variable)))
        }, sequential: sequential)
    }

    /// `stateDict`'s entries with each tensor still in the document's layout, next to the variable it is: a writer
    /// puts one tensor at a time into torch's layout (`torchLayout`) as it writes it, rather than copying all the
    /// kernels at once.
    package static func documentLayoutEntries(
        of document: ModelDocument
    ) throws(DocumentError) -> (entries: [(name: String, value: Value, variable: String)], sequential: String) {
        let plan = try plan(of: document.architecture)
        var entries: [(name: String, value: Value, variable: String)] = []
        for (index, layer) in document.architecture.layers.enumerated() {
            for variable in document.architecture.variables(ofLayer: index) {
                guard let name = plan.name(layer: index, variable: variable.name),
                      let tensor = index < document.weights.count ? document.weights[index][variable.name] : nil else {
                    throw DocumentError("weights/\(layer.name)/\(variable.name)", "missing")
                }
                entries.append((name, .tensor(tensor), variable.name))
            }
            // mlpconv does not count batches; torch reads the count only when momentum is None, which it never is here.
            if case .batchNormalization = layer.kind, let prefix = plan.moduleIndex[index] {
                entries.append(("\(prefix).num_batches_tracked", .int64Scalar(0), "num_batches_tracked"))
            }
        }
        return (entries, plan.sequential)
    }

    /// The torch name of each trainable parameter, in `document.parameterNames` order (optimizer slots follow it).
    package static func parameterNames(of document: ModelDocument) throws(DocumentError) -> [String] {
        let plan = try plan(of: document.architecture)
        return document.architecture.layers.indices.flatMap { index in
            document.architecture.variables(ofLayer: index).filter(\.trainable).compactMap {
                plan.name(layer: index, variable: $0.name)
            }
        }
    }

    /// A Dense kernel is `[in, out]` in mlpconv (and Keras) and `[out, in]` in torch; every other tensor is the same.
    package static func torchLayout(_ tensor: Tensor, variable: String) -> Tensor {
        variable == "kernel" ? transposed(tensor) : tensor
    }

    /// `torchLayout(tensor, variable:)`'s bytes (little-endian: host order on every platform this package builds
    /// for), handed to `body` in order: a tensor that keeps its layout in one piece, a kernel transposed a block of
    /// rows at a time through a buffer of about 1 MiB. Writers stream a kernel this way instead of holding a
    /// transposed copy of it beside the model (the largest kernel was a third of a weights-only model's bytes).
    package static func forEachTorchLayoutChunk<Failure: Error>(
        _ tensor: Tensor, variable: String, _ body: (UnsafeRawBufferPointer) throws(Failure) -> Void
    ) throws(Failure) {
        guard variable == "kernel", tensor.shape.count == 2 else {
            try tensor.withUnsafeBytes { raw in Result { () throws(Failure) in try body(raw) } }.get()
            return
        }
        switch tensor.storage {
        case .float32(let values): try transposedChunks(values, rows: tensor.shape[0], columns: tensor.shape[1], body)
        case .float64(let values): try transposedChunks(values, rows: tensor.shape[0], columns: tensor.shape[1], body)
        }
    }

    /// The `[columns, rows]` transpose of row-major `values` `[rows, columns]`, whole output rows at a time.
    private static func transposedChunks<T, Failure: Error>(
        _ values: [T], rows: Int, columns: Int, _ body: (UnsafeRawBufferPointer) throws(Failure) -> Void
    ) throws(Failure) {
        guard let first = values.first, rows > 0 else { return }
        let rowsPerChunk = max(1, (1 << 20) / max(1, rows * MemoryLayout<T>.stride))
        var buffer = [T](repeating: first, count: min(columns, rowsPerChunk) * rows)
        var start = 0
        while start < columns {
            let count = min(rowsPerChunk, columns - start)
            let result = values.withUnsafeBufferPointer { source in
                buffer.withUnsafeMutableBufferPointer { out in
                    for c in 0..<count {
                        for r in 0..<rows { out[c * rows + r] = source[r * columns + start + c] }
                    }
                    return Result { () throws(Failure) in
                        try body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: out[0..<(count * rows)])))
                    }
                }
            }
            try result.get()
            start += count
        }
    }

    /// The inverse of `torchLayout` (a transpose is its own inverse).
    package static func documentLayout(_ tensor: Tensor, variable: String) -> Tensor {
        torchLayout(tensor, variable: variable)
    }

    /// The torch module of an activation; nil for linear (a Dense layer then has no module after its Linear).
    package static func module(for activation: Activation, object: String) throws(DocumentError) -> String? {
        switch activation {
        case .linear: nil
        case .relu: "ReLU()"
        case .sigmoid: "Sigmoid()"
        case .tanh: "Tanh()"
        case .softmax: "Softmax(dim=-1)"
        case .logSoftmax: "LogSoftmax(dim=-1)"
        case .elu: "ELU()"
        case .selu: "SELU()"
        case .softplus: "Softplus()"
        case .softsign: "Softsign()"
        case .gelu: "GELU()"
        case .silu: "SiLU()"
        case .mish: "Mish()"
        case .relu6: "ReLU6()"
        case .hardSigmoid: "Hardsigmoid()"
        case .hardSiLU: "Hardswish()"
        // Keras's slope; torch's default is 0.01.
        case .leakyReLU: "LeakyReLU(negative_slope=0.2)"
        case .exponential: throw DocumentError(object, "the activation exponential has no torch.nn module")
        }
    }

    /// An activation by its Keras name (`relu`, `swish`, …) or its torch module (`ReLU`, `ReLU()`, `Softmax(dim=-1)`,
    /// `Identity`), as `--activations` accepts them. A bare `LeakyReLU` is not accepted: torch's default slope
    /// (0.01) is not the core's (0.2), so it must be spelled `LeakyReLU(negative_slope=0.2)`.
    package static func activation(named name: String) -> Activation? {
        if let keras = Activation(name: name) { return keras }
        let bare = name.hasSuffix("()") ? String(name.dropLast(2)) : name
        if bare == "Identity" { return .linear }
        for activation in Activation.allCases where activation != .linear {
            guard let module = try? module(for: activation, object: "") else { continue }
            if module == name || module == bare + "()" { return activation }
            // `Softmax` and `LogSoftmax` also without their `dim=-1`.
            if module.hasSuffix("(dim=-1)"), module == bare + "(dim=-1)" { return activation }
        }
        return nil
    }

    /// What `activation(named:)` accepts, for error messages.
    package static let acceptedActivationNames: [String] =
        Activation.acceptedNames + ["Identity"] + Activation.allCases.compactMap { try? module(for: $0, object: "") }

    /// Parses a comma-separated list such as `relu,relu,softmax` or `ReLU,GELU,Identity`.
    package static func activations(list: String) -> Result<[Activation], DocumentError> {
        var result: [Activation] = []
        for item in splitTopLevel(list) {
            let name = item.trimmingWhitespace
            guard let activation = activation(named: name) else {
                let why = name.hasPrefix("LeakyReLU")
                    ? "torch's LeakyReLU defaults to a slope of 0.01, mlpconv's leaky_relu has 0.2: write LeakyReLU(negative_slope=0.2) or leaky_relu"
                    : "supported: " + acceptedActivationNames.joined(separator: ", ")
                return .failure(DocumentError("activation \"\(name)\"", "unknown activation; \(why)"))
            }
            result.append(activation)
        }
        return .success(result)
    }

    // MARK: Torch → document

    /// The variable a torch tensor name's last component stands for, per layer kind.
    static func suffix(of variable: String) -> String? {
        switch variable {
        case "kernel", "gamma": "weight"
        case "bias", "beta": "bias"
        case "moving_mean": "running_mean"
        case "moving_variance": "running_var"
        default: nil
        }
    }

    /// A document's layers and weights from a state dict. With `architecture` (what an mlpconv-written file
    /// records), the entries must be exactly the ones its Sequential has, and `activations` and `sequential` are
    /// ignored. Without, `sequential` (the model's definition, see `TorchSequential`) is the architecture the
    /// entries must match exactly, under its module names; or else the layer chain is inferred from the tensors (see
    /// `inferArchitecture`) and `activations` supplies one activation per Linear layer. Giving both is an error.
    package static func document(
        entries: [(name: String, value: Value)], architecture: ModelDocument.Architecture?, activations: [Activation]?,
        sequential: String? = nil
    ) throws(DocumentError) -> (architecture: ModelDocument.Architecture, weights: [ModelDocument.LayerWeights]) {
        let resolved: ModelDocument.Architecture
        // Each layer's module prefix: the Sequential index mlpconv gives it, the definition's module name, or the
        // file's own name when inferred.
        let prefixes: [String?]
        if let architecture {
            resolved = architecture
            prefixes = try plan(of: architecture).moduleIndex.map { $0.map(String.init) }
        } else if let sequential {
            guard activations == nil else {
                throw DocumentError(TorchSequential.object, "give the activations (--activations) or the whole definition "
                    + "(--sequential), not both")
            }
            (resolved, prefixes) = try TorchSequential(parsing: sequential).architecture()
        } else {
            (resolved, prefixes) = try inferArchitecture(entries: entries, activations: activations)
        }
        let plan = try plan(of: resolved)
        func module(_ index: Int) -> String { plan.moduleIndex[index].map { plan.modules[$0] } ?? "" }
        var byName: [String: Value] = [:]
        for entry in entries { byName[entry.name] = entry.value }
        var weights: [ModelDocument.LayerWeights] = []
        var used = Set<String>()
        for (index, layer) in resolved.layers.enumerated() {
            var tensors: [String: Tensor] = [:]
            for variable in resolved.variables(ofLayer: index) {
                guard let prefix = prefixes[index], let suffix = suffix(of: variable.name) else { continue }
                let name = "\(prefix).\(suffix)"
                let expected = variable.name == "kernel" ? Array(variable.shape.reversed()) : variable.shape
                guard let value = byName[name] else {
                    throw DocumentError(name, "missing (layer \"\(layer.name)\" is \(module(index)))")
                }
                guard case .tensor(let tensor) = value, tensor.shape == expected else {
                    throw DocumentError(name, "expected a float tensor of shape \(expected) for \(module(index)), got shape \(value.shape)")
                }
                tensors[variable.name] = documentLayout(tensor, variable: variable.name)
                used.insert(name)
            }
            if case .batchNormalization = layer.kind, let prefix = prefixes[index] {
                let name = "\(prefix).num_batches_tracked"
                if let value = byName[name] {
                    guard value.shape.isEmpty else { throw DocumentError(name, "expected a scalar, got shape \(value.shape)") }
                    used.insert(name)
                }
            }
            weights.append(ModelDocument.LayerWeights(tensors: tensors))
        }
        if let extra = entries.first(where: { !used.contains($0.name) }) {
            throw DocumentError(extra.name, "unexpected: \(sequential == nil || architecture != nil ? plan.sequential : "the Sequential given") has no such tensor")
        }
        return (resolved, weights)
    }

    /// One torch module found in a state dict: the tensors under one prefix.
    struct FoundModule {
        enum Kind { case linear(inputs: Int, outputs: Int, bias: Bool), batchNorm(width: Int, affine: Bool), layerNorm(width: Int, bias: Bool) }
        var prefix: String
        var kind: Kind
        var tensorNames: [String]

        var inputWidth: Int {
            switch kind {
            case .linear(let inputs, _, _): inputs
            case .batchNorm(let width, _), .layerNorm(let width, _): width
            }
        }

        var outputWidth: Int {
            switch kind {
            case .linear(_, let outputs, _): outputs
            case .batchNorm(let width, _), .layerNorm(let width, _): width
            }
        }

        var isLinear: Bool { if case .linear = kind { true } else { false } }
    }

    /// The layer chain of a state dict without an architecture: each prefix's tensor set is a module (`weight`
    /// `[out, in]` with an optional `bias` `[out]` is Linear; `weight`/`bias` `[n]` with `running_mean`,
    /// `running_var` (and `num_batches_tracked`) is BatchNorm1d, without `weight`/`bias` a non-affine one;
    /// `weight` `[n]` with an optional `bias` is LayerNorm). The order follows the chain of widths from the Linear
    /// whose input no other Linear produces, taking at each step the first module in numeric-aware name order
    /// (`2` before `10`) that accepts the current width. The BatchNorm and LayerNorm settings, which a state dict does
    /// not hold, are torch's defaults (eps 1e-5, momentum 0.1, i.e. Keras momentum 0.9, running_var unbiased).
    package static func inferArchitecture(
        entries: [(name: String, value: Value)], activations: [Activation]?
    ) throws(DocumentError) -> (architecture: ModelDocument.Architecture, prefixes: [String?]) {
        let modules = try findModules(entries)
        guard !modules.isEmpty else { throw DocumentError("state dict", "holds no tensors, so there is no model to read") }
        let linears = modules.filter(\.isLinear)
        guard !linears.isEmpty else {
            throw DocumentError("state dict", "has no Linear layer (a tensor `NAME.weight` of shape [out, in])")
        }
        guard let activations else {
            throw DocumentError("state dict", "the file has no mlpconv metadata, so its activations are unknown; "
                + "pass the model's definition with --sequential \"Sequential(…)\" (as print(model) shows it or the code builds it), "
                + "or one activation per Linear layer (\(linears.count) here) with --activations, e.g. --activations "
                + (Array(repeating: "relu", count: linears.count - 1) + ["linear"]).joined(separator: ","))
        }
        guard activations.count == linears.count else {
            throw DocumentError("state dict", "has \(linears.count) Linear layers (\(linears.map(\.prefix).joined(separator: ", "))) "
                + "but \(activations.count) activations were given; give one per Linear layer")
        }
        let chain = try orderByWidths(modules)
        var layers: [ModelDocument.Layer] = []
        var counts: [String: Int] = [:]
        func name(_ type: String) -> String {
            let count = counts[type, default: 0]
            counts[type] = count + 1
            return count == 0 ? type : "\(type)_\(count)"
        }
        var activationIterator = activations.makeIterator()
        for module in chain {
            switch module.kind {
            case .linear(_, let outputs, let bias):
                let activation = activationIterator.next() ?? .linear
                layers.append(.init(name: name("dense"), kind: .dense(DenseSettings(units: outputs, activation: activation, useBias: bias))))
            case .batchNorm(_, let affine):
                // torch's BatchNorm1d updates running_var with the unbiased batch variance.
                layers.append(.init(name: name("batch_normalization"), kind: .batchNormalization(BatchNormalizationSettings(
                    momentum: 0.9, epsilon: 1e-5, center: affine, scale: affine, unbiasedMovingVariance: true))))
            case .layerNorm(_, let bias):
                layers.append(.init(name: name("layer_normalization"), kind: .layerNormalization(LayerNormalizationSettings(
                    epsilon: 1e-5, center: bias, scale: true))))
            }
        }
        return (ModelDocument.Architecture(inputWidth: chain[0].inputWidth, layers: layers), chain.map(\.prefix))
    }

    static func findModules(_ entries: [(name: String, value: Value)]) throws(DocumentError) -> [FoundModule] {
        var groups: [String: [String: Value]] = [:]
        var names: [String: [String]] = [:]
        for (name, value) in entries {
            guard let dot = name.lastIndex(of: "."), dot != name.startIndex else {
                throw DocumentError(name, "not a module's tensor (torch names them MODULE.weight, MODULE.bias, …)")
            }
            let prefix = String(name[..<dot]), suffix = String(name[name.index(after: dot)...])
            groups[prefix, default: [:]][suffix] = value
            names[prefix, default: []].append(name)
        }
        var modules: [FoundModule] = []
        for (prefix, tensors) in groups {
            let listed = (names[prefix] ?? []).sorted(by: numericAwareLess)
            func floatShape(_ key: String) -> [Int]? {
                if case .tensor(let tensor)? = tensors[key] { return tensor.shape }
                return nil
            }
            let keys = Set(tensors.keys)
            let weight = floatShape("weight"), bias = floatShape("bias")
            let kind: FoundModule.Kind?
            if keys.isSubset(of: ["weight", "bias"]), let weight, weight.count == 2, bias == nil || bias == [weight[0]],
               keys.contains("weight") {
                kind = .linear(inputs: weight[1], outputs: weight[0], bias: bias != nil)
            } else if keys.isSuperset(of: ["running_mean", "running_var"]),
                      keys.isSubset(of: ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]),
                      let mean = floatShape("running_mean"), mean.count == 1, floatShape("running_var") == mean,
                      tensors["num_batches_tracked"].map({ $0.shape.isEmpty }) ?? true,
                      (weight == nil && bias == nil) || (weight == mean && bias == mean) {
                kind = .batchNorm(width: mean[0], affine: weight != nil)
            } else if keys.isSubset(of: ["weight", "bias"]), let weight, weight.count == 1, bias == nil || bias == weight {
                kind = .layerNorm(width: weight[0], bias: bias != nil)
            } else {
                kind = nil
            }
            guard let kind else {
                throw DocumentError(listed.joined(separator: ", "), "not a Linear, BatchNorm1d or LayerNorm module's tensors "
                    + "(shapes: " + listed.map { "\($0) \(tensors[String($0.dropFirst(prefix.count + 1))]?.shape ?? [])" }.joined(separator: ", ") + ")")
            }
            modules.append(FoundModule(prefix: prefix, kind: kind, tensorNames: listed))
        }
        return modules.sorted { numericAwareLess($0.prefix, $1.prefix) }
    }

    /// `modules` (sorted by name) in the order their widths chain.
    static func orderByWidths(_ modules: [FoundModule]) throws(DocumentError) -> [FoundModule] {
        let linears = modules.filter(\.isLinear)
        let produced = Set(linears.map(\.outputWidth))
        let sources = linears.filter { linear in
            !linears.contains { $0.prefix != linear.prefix && $0.outputWidth == linear.inputWidth }
        }
        let start: FoundModule
        if sources.count == 1 {
            start = sources[0]
        } else if modules.allSatisfy({ Int($0.prefix.split(separator: ".").first ?? "") != nil }) {
            // Sequential's own names (`0`, `2`, …): their order is the layer order.
            start = modules[0]
        } else {
            let candidates = sources.isEmpty ? linears : sources
            throw DocumentError(candidates.flatMap(\.tensorNames).joined(separator: ", "),
                "ambiguous layer order: \(sources.isEmpty ? "every Linear's input width is another's output width" : "several Linear layers could come first") "
                + "and the names are not Sequential indices (\(produced.count) distinct widths)")
        }
        var remaining = modules
        var chain: [FoundModule] = []
        var width = start.inputWidth
        // Normalizations of the input come before the first Linear when their names sort before it.
        while let next = remaining.first(where: { candidate in
            candidate.inputWidth == width && (chain.isEmpty ? (candidate.prefix == start.prefix || (!candidate.isLinear && numericAwareLess(candidate.prefix, start.prefix))) : true)
        }) {
            chain.append(next)
            width = next.outputWidth
            remaining.removeAll { $0.prefix == next.prefix }
        }
        if let stranded = remaining.first {
            let after = chain.last.map { "after \($0.tensorNames[0].split(separator: ".").dropLast().joined(separator: ".")) (width \(width))" } ?? ""
            throw DocumentError(stranded.tensorNames.joined(separator: ", "),
                "does not continue the chain of widths \(after): it takes \(stranded.inputWidth) inputs; the tensors do not form one Sequential chain")
        }
        return chain
    }

    /// Orders `layer.10` after `layer.2`: digit runs compare as numbers, the rest byte by byte.
    package static func numericAwareLess(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var i = 0, j = 0
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        while i < x.count && j < y.count {
            if isDigit(x[i]) && isDigit(y[j]) {
                var ei = i, ej = j
                while ei < x.count && isDigit(x[ei]) { ei += 1 }
                while ej < y.count && isDigit(y[ej]) { ej += 1 }
                // Without leading zeros, the longer run is the larger number.
                let rx = x[i..<ei].drop { $0 == 0x30 }, ry = y[j..<ej].drop { $0 == 0x30 }
                if rx.count != ry.count { return rx.count < ry.count }
                if !rx.elementsEqual(ry) { return rx.lexicographicallyPrecedes(ry) }
                i = ei; j = ej
            } else {
                if x[i] != y[j] { return x[i] < y[j] }
                i += 1; j += 1
            }
        }
        return x.count - i < y.count - j || (x.count - i == y.count - j && x.count < y.count)
    }

    // MARK: Helpers

    /// torch's momentum for Keras's: the shortest decimal m with 1 − m == `keras`, so that 0.7 reads back as
    /// torch's 0.3 rather than 0.30000000000000004 (1 − 0.7 in binary), and converts back to exactly 0.7.
    package static func torchMomentum(_ keras: Double) -> Double {
        let complement = 1 - keras
        for digits in 1...17 {
            if let candidate = Double(String(format: "%.\(digits)g", complement)), 1 - candidate == keras { return candidate }
        }
        return complement
    }

    /// A number as Python's `repr` writes it, so the Sequential line reads back to the same double.
    /// Swift's shortest round-trip form is Python's (`0.001`, `1e-05`, `0.010000000000000009`).
    package static func python(_ value: Double) -> String { "\(value)" }

    /// `[a, b]` → `[b, a]`, values moved accordingly.
    static func transposed(_ tensor: Tensor) -> Tensor {
        guard tensor.shape.count == 2 else { return tensor }
        let rows = tensor.shape[0], columns = tensor.shape[1]
        func swap<T>(_ values: [T]) -> [T] {
            guard let first = values.first else { return values }
            var result = [T](repeating: first, count: values.count)
            for r in 0..<rows { for c in 0..<columns { result[c * rows + r] = values[r * columns + c] } }
            return result
        }
        switch tensor.storage {
        case .float32(let values): return Tensor(unchecked: [columns, rows], storage: .float32(swap(values)))
        case .float64(let values): return Tensor(unchecked: [columns, rows], storage: .float64(swap(values)))
        }
    }

    /// Splits at commas outside parentheses, so `LeakyReLU(negative_slope=0.2)` stays one item.
    static func splitTopLevel(_ text: String) -> [String] {
        var items: [String] = [], current = "", depth = 0
        for character in text {
            switch character {
            case "(": depth += 1; current.append(character)
            case ")": depth -= 1; current.append(character)
            case "," where depth == 0: items.append(current); current = ""
            default: current.append(character)
            }
        }
        items.append(current)
        return items
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
