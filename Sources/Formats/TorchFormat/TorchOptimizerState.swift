import FormatSupport
import MLPCore
import MLPDocument
import PickleSupport

/// An optimizer's `state_dict()` as torch.optim writes it — `{"state": {index: {"step": tensor, slot: tensor, …}},
/// "param_groups": [{"lr": …, …, "params": [0, 1, …]}]}` — mapped to and from the `torch_*` optimizer kinds.
/// Parameter indices follow `model.parameters()`, which for the Sequential is the document's parameter order;
/// slots are in torch's layout (a Linear weight's `[out, in]`).
enum TorchOptimizerState {
    /// torch's class for each kind.
    static let classNames: [(OptimizerKind, String)] = [
        (.torchSGD, "SGD"), (.torchAdam, "Adam"), (.torchAdamW, "AdamW"), (.torchRMSprop, "RMSprop"),
        (.torchAdagrad, "Adagrad"),
    ]

    static func className(_ kind: OptimizerKind) -> String? { classNames.first { $0.0 == kind }?.1 }

    /// param_group keys that change nothing in the maths of a CPU step, and `params`.
    static let inertKeys: Set<String> = ["params", "foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay"]

    enum Outcome {
        case read(ModelDocument.OptimizerRecord)
        /// An optimizer mlpconv has no rule for: why.
        case notRead(String)
    }

    // MARK: Reading

    static func read(
        _ value: PickleValue, object: String, document: ModelDocument, reader: ValueReader, hint: OptimizerKind?,
        recordedIterations: Int?
    ) throws(ModelFileError) -> Outcome {
        let file = reader.file
        func fail(_ at: String, _ reason: String) -> ModelFileError { ModelFileError(file: file, object: at, reason: reason) }
        guard case .dict(let root) = value, case .dict(let stateDict)? = root["state"], case .list(let groups)? = root["param_groups"] else {
            throw fail(object, "expected torch.optim's state_dict(): a dict with \"state\" (a dict) and \"param_groups\" (a list)")
        }
        guard groups.count == 1, case .dict(let group) = groups[0] else {
            throw fail("\(object)[\"param_groups\"]", groups.count == 1 ? "expected a dict"
                       : "\(groups.count) param groups; mlpconv reads one group holding every parameter")
        }
        let groupObject = "\(object)[\"param_groups\"][0]"
        var settings: [String: PickleValue] = [:]
        for entry in group.entries {
            guard case .string(let key) = entry.key else { throw fail(groupObject, "a key is not a string") }
            settings[key] = entry.value
        }
        let parameterCount = document.parameterNames.count
        guard case .list(let params)? = settings["params"],
              params == (0..<parameterCount).map({ PickleValue.int(Int64($0)) }) else {
            throw fail("\(groupObject)[\"params\"]", "expected the model's \(parameterCount) parameters in order, [0, …, \(parameterCount - 1)]")
        }
        let kind: OptimizerKind
        switch try recognize(settings, object: groupObject, file: file, hint: hint) {
        case .success(let recognized): kind = recognized
        case .failure(let reason): return .notRead(reason.text)
        }
        // A setting mlpconv cannot follow (a scheduler's initial_lr, an out-of-range value) leaves the optimizer
        // out, not the model: inspect, predict and convert still work, and the note says why.
        let config: OptimizerConfig
        do {
            config = try configuration(kind, settings, object: groupObject, file: file)
        } catch {
            return .notRead("\(error.object ?? groupObject): \(error.reason)")
        }

        // State: per parameter index, torch's slots and (except SGD) a step.
        let parameterNames: [String]
        do { parameterNames = try TorchModules.parameterNames(of: document) } catch { throw ModelFileError(file: file, error) }
        let variables = document.parameterVariables
        var perParameter: [Int: PickleDict] = [:]
        for entry in stateDict.entries {
            guard case .int(let index) = entry.key, index >= 0, index < parameterCount else {
                throw fail("\(object)[\"state\"]", "a key is \(TorchCheckpointReader.describe(entry.key)), not a parameter index below \(parameterCount)")
            }
            guard case .dict(let state) = entry.value else { throw fail("\(object)[\"state\"][\(index)]", "expected a dict") }
            perParameter[Int(index)] = state
        }
        let slotNames = config.slotNames
        var iterations = 0
        var slots = slotNames.map { ModelDocument.OptimizerRecord.Slot(name: $0, tensors: []) }
        // torch creates state lazily at the first step (Adagrad at construction, with step 0).
        let started = !perParameter.isEmpty
        if started {
            var steps: Set<Int> = []
            for index in 0..<parameterCount {
                let at = "\(object)[\"state\"][\(index)]"
                guard let state = perParameter[index] else {
                    throw fail(at, "missing: torch keeps state for every parameter once it has stepped (\(parameterNames[index]) has none)")
                }
                let expectedKeys = Set(slotNames + (kind == .torchSGD ? [] : ["step"]))
                let keys = Set(state.entries.compactMap { if case .string(let key) = $0.key { key } else { nil } })
                guard keys == expectedKeys, state.entries.count == keys.count else {
                    throw fail(at, "expected the keys \(expectedKeys.sorted().joined(separator: ", ")) of \(className(kind) ?? kind.name) with these settings, found \(keys.sorted().joined(separator: ", "))")
                }
                if kind != .torchSGD {
                    guard case .tensor(let reference)? = state["step"] else { throw fail("\(at)[\"step\"]", "expected a scalar tensor") }
                    let step = try reader.values(reference, object: "\(at)[\"step\"]")
                    let number: Double? = switch step.values {
                    case .float(let values) where values.count == 1: Double(values[0])
                    case .double(let values) where values.count == 1: values[0]
                    case .int64(let values) where values.count == 1: Double(values[0])
                    default: nil
                    }
                    guard let number, number >= 0, number < 1e15, number == number.rounded(), let count = Int(exactly: number) else {
                        throw fail("\(at)[\"step\"]", "expected a whole number ≥ 0 in a scalar tensor")
                    }
                    steps.insert(count)
                }
                let variable = variables[index]
                let expectedShape = variable.name == "kernel" ? Array(variable.shape.reversed()) : variable.shape
                for (slotIndex, slot) in slotNames.enumerated() {
                    let slotObject = "\(at)[\"\(slot)\"]"
                    guard case .tensor(let reference)? = state[slot] else { throw fail(slotObject, "expected a tensor") }
                    let tensor = try reader.floatTensor(try reader.values(reference, object: slotObject), object: slotObject)
                    guard tensor.shape == expectedShape else {
                        throw fail(slotObject, "expected shape \(expectedShape) (parameter \(parameterNames[index])), got \(tensor.shape)")
                    }
                    slots[slotIndex].tensors.append(TorchModules.documentLayout(tensor, variable: variable.name))
                }
            }
            if kind == .torchSGD {
                // SGD keeps no step; its buffers exist once it has stepped, which is all the rule needs.
                iterations = max(recordedIterations ?? 1, 1)
            } else {
                guard steps.count == 1, let step = steps.first else {
                    throw fail("\(object)[\"state\"]", "the parameters' steps differ (\(steps.sorted().map(String.init).joined(separator: ", "))); mlpconv keeps one step count")
                }
                iterations = step
            }
        }
        if !started || iterations == 0 {
            // Before the first step every slot is what the rule starts from (Adagrad's sum: its initial value).
            slots = []
            for name in config.slotNames {
                let initial = name == "sum" ? config.initialAccumulatorValue : 0
                var tensors: [Tensor] = []
                for parameter in document.parameterTensors {
                    let filled: Tensor
                    do {
                        filled = switch parameter.dtype {
                        case .float32: try Tensor(shape: parameter.shape, float32: [Float](repeating: Float(initial), count: parameter.count))
                        case .float64: try Tensor(shape: parameter.shape, float64: [Double](repeating: initial, count: parameter.count))
                        }
                    } catch {
                        throw fail(object, error.description)
                    }
                    tensors.append(filled)
                }
                slots.append(ModelDocument.OptimizerRecord.Slot(name: name, tensors: tensors))
            }
            iterations = 0
        }
        return .read(ModelDocument.OptimizerRecord(config: config, iterations: iterations, slots: slots))
    }

    /// The class by its param_group keys: each torch.optim class writes its own set.
    private static func recognize(
        _ settings: [String: PickleValue], object: String, file: String, hint: OptimizerKind?
    ) throws(ModelFileError) -> Result<OptimizerKind, Reason> {
        let keys = Set(settings.keys)
        let recognized: OptimizerKind
        if keys.isSuperset(of: ["betas", "amsgrad"]) {
            switch settings["decoupled_weight_decay"] {
            case .bool(true)?: recognized = .torchAdamW
            case .bool(false)?: recognized = .torchAdam
            default:
                // torch before 2.4 wrote no decoupled_weight_decay: Adam and AdamW look alike, and only differ
                // when there is a weight decay.
                if let hint, hint == .torchAdam || hint == .torchAdamW {
                    recognized = hint
                } else if case .some(let decay) = settings["weight_decay"], number(decay) == 0 {
                    recognized = .torchAdam
                } else {
                    return .failure(Reason(text: "cannot tell Adam from AdamW (this torch wrote no decoupled_weight_decay and "
                        + "the weight decay is not 0); give --optimizer torch_adam or --optimizer torch_adamw"))
                }
            }
        } else if keys.isSuperset(of: ["alpha", "centered"]) {
            recognized = .torchRMSprop
        } else if keys.isSuperset(of: ["lr_decay", "initial_accumulator_value"]) {
            recognized = .torchAdagrad
        } else if keys.isSuperset(of: ["dampening", "nesterov"]) {
            recognized = .torchSGD
        } else {
            return .failure(Reason(text: "the optimizer state is not one mlpconv has torch's rule for (SGD, Adam, AdamW, RMSprop, "
                + "Adagrad); its param_groups keys are \(keys.sorted().joined(separator: ", "))"))
        }
        if let hint, hint.isTorch, hint != recognized {
            throw ModelFileError(file: file, object: object, reason: "the state is torch.optim.\(className(recognized) ?? "")'s, "
                + "not \(hint.name) as --optimizer says")
        }
        return .success(recognized)
    }

    struct Reason: Error { var text: String }

    private static func number(_ value: PickleValue) -> Double? {
        switch value {
        case .int(let integer): Double(integer)
        case .float(let number): number
        case .bool(let flag): flag ? 1 : 0
        default: nil
        }
    }

    /// The kind's configuration from torch's keys.
    private static func configuration(
        _ kind: OptimizerKind, _ settings: [String: PickleValue], object: String, file: String
    ) throws(ModelFileError) -> OptimizerConfig {
        var hyperparameters: [String: Hyperparameter] = [:]
        for (key, value) in settings where !inertKeys.contains(key) {
            let at = "\(object)[\"\(key)\"]"
            switch key {
            case "betas":
                guard case .tuple(let pair) = value, pair.count == 2, let beta1 = number(pair[0]), let beta2 = number(pair[1]) else {
                    throw ModelFileError(file: file, object: at, reason: "expected a pair of numbers")
                }
                hyperparameters["beta_1"] = .number(beta1)
                hyperparameters["beta_2"] = .number(beta2)
            case "nesterov", "amsgrad", "centered", "maximize":
                guard case .bool(let flag) = value else { throw ModelFileError(file: file, object: at, reason: "expected True or False") }
                hyperparameters[key] = .flag(flag)
            case "lr", "eps", "momentum", "dampening", "weight_decay", "alpha", "lr_decay", "initial_accumulator_value":
                guard case .some(let x) = number(value), !(value == .bool(true) || value == .bool(false)) else {
                    throw ModelFileError(file: file, object: at, reason: "expected a number, found \(TorchCheckpointReader.describe(value))")
                }
                hyperparameters[key == "lr" ? "learning_rate" : key == "eps" ? "epsilon" : key] = .number(x)
            default:
                throw ModelFileError(file: file, object: at, reason: "a setting mlpconv does not know for torch.optim.\(className(kind) ?? ""); "
                    + "it would change the update (an LR scheduler's initial_lr is an example: step the schedule in torch, or remove the key)")
            }
        }
        do {
            return try OptimizerConfig(kind, hyperparameters: hyperparameters)
        } catch {
            throw ModelFileError(file: file, object: object, reason: error.description)
        }
    }

    // MARK: Writing

    /// torch's state_dict() of `record` (a torch kind), tensors added to `archive`.
    static func value(of record: ModelDocument.OptimizerRecord, document: ModelDocument,
                      archive: inout TorchArchiveWriter) throws(ModelFileError) -> PickleValue {
        let config = record.config
        let variables = document.parameterVariables
        var state: [PickleDict.Entry] = []
        // torch has state once it has stepped; Adagrad from its construction.
        if record.iterations > 0 || config.kind == .torchAdagrad {
            for (index, variable) in variables.enumerated() {
                var entries: [PickleDict.Entry] = []
                if config.kind != .torchSGD {
                    entries.append(.init(.string("step"), .tensor(archive.addTensor(.float([Float(record.iterations)]), shape: []))))
                }
                for slot in record.slots {
                    entries.append(.init(.string(slot.name), .tensor(TorchCheckpointWriter.add(slot.tensors[index], variable: variable.name,
                                                                                              to: &archive))))
                }
                state.append(.init(.int(Int64(index)), .dict(PickleDict(entries: entries))))
            }
        }
        let group = PickleDict(entries: paramGroup(config).map { .init(.string($0.0), $0.1) } + [
            .init(.string("params"), .list((0..<variables.count).map { .int(Int64($0)) })),
        ])
        return .dict(PickleDict(entries: [
            .init(.string("state"), .dict(PickleDict(entries: state))),
            .init(.string("param_groups"), .list([.dict(group)])),
        ]))
    }

    /// Every key torch 2.15 writes for the class, in its order, with the config's values.
    private static func paramGroup(_ config: OptimizerConfig) -> [(String, PickleValue)] {
        let lr = PickleValue.float(config.learningRate)
        let eps = PickleValue.float(config.epsilon)
        let decay = PickleValue.float(config.torchWeightDecay)
        let maximize = PickleValue.bool(config.maximize)
        switch config.kind {
        case .torchSGD:
            return [("lr", lr), ("momentum", .float(config.momentum)), ("dampening", .float(config.dampening)),
                    ("weight_decay", decay), ("nesterov", .bool(config.nesterov)), ("maximize", maximize),
                    ("foreach", .none), ("differentiable", .bool(false)), ("fused", .none)]
        case .torchAdam, .torchAdamW:
            return [("lr", lr), ("betas", .tuple([.float(config.beta1), .float(config.beta2)])), ("eps", eps),
                    ("weight_decay", decay), ("amsgrad", .bool(config.amsgrad)), ("maximize", maximize),
                    ("foreach", .none), ("capturable", .bool(false)), ("differentiable", .bool(false)), ("fused", .none),
                    ("decoupled_weight_decay", .bool(config.kind == .torchAdamW))]
        case .torchRMSprop:
            return [("lr", lr), ("momentum", .float(config.momentum)), ("alpha", .float(config.alpha)), ("eps", eps),
                    ("centered", .bool(config.centered)), ("weight_decay", decay), ("capturable", .bool(false)),
                    ("foreach", .none), ("maximize", maximize), ("differentiable", .bool(false))]
        default:
            return [("lr", lr), ("lr_decay", .float(config.learningRateDecay)), ("eps", eps), ("weight_decay", decay),
                    ("initial_accumulator_value", .float(config.initialAccumulatorValue)), ("foreach", .none),
                    ("maximize", maximize), ("differentiable", .bool(false)), ("fused", .none)]
        }
    }
}
