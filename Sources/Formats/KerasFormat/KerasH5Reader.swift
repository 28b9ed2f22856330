import Foundation
import MLPCore
import HDF5Support
import JSONSupport
import MLPDocument
import FormatSupport

/// Reads tensors out of a Keras HDF5 file (a legacy `.h5`, or the `model.weights.h5` inside a `.keras`), checking
/// type, shape, storage and size before anything is allocated. Keras files carry no checksums, so unlike the native
/// codec nothing can be verified beyond the structure.
package struct KerasWeightsReader {
    package let file: String
    /// Put before HDF5 paths in messages (`model.weights.h5:` for a file inside a `.keras` zip).
    package let objectPrefix: String
    package let fileSize: Int
    package let limits: LoadLimits
    /// Bytes of tensor data accepted so far, against `limits.maxTotalBytes`.
    private(set) var totalBytes = 0

    package init(file: String, objectPrefix: String, fileSize: Int, limits: LoadLimits) {
        self.file = file
        self.objectPrefix = objectPrefix
        self.fileSize = fileSize
        self.limits = limits
    }

    package func fail(_ object: String?, _ reason: String) -> ModelFileError {
        ModelFileError(file: file, object: object.map { objectPrefix + $0 }, reason: reason)
    }

    package func wrap<T>(_ body: @autoclosure () throws(HDF5Error) -> T) throws(ModelFileError) -> T {
        do { return try body() } catch { throw ModelFileError(error, file: file, objectPrefix: objectPrefix) }
    }

    /// A float tensor of exactly `expected` shape at `name` inside `group`.
    package mutating func tensor(in group: some HDF5Container, _ name: String, expected: [Int],
                         origin: String) throws(ModelFileError) -> Tensor {
        let path = HDF5Path.join(group.objectPath, name)
        let dataset = try wrap(group.openDataset(name))
        let info = try wrap(dataset.info())
        let dtype: Tensor.DType
        switch info.floatTensorDType(expected: expected, origin: origin) {
        case .success(let found): dtype = found
        case .failure(let problem): throw fail(path, problem.reason)
        }
        let bytes = try checkSize(info, dtype: dtype, shape: expected, path: path)
        let count = bytes / dtype.byteSize
        let storage: Tensor.Storage = switch dtype {
        case .float32: .float32(try wrap(dataset.readValues(as: Float.self, maxElements: count)))
        case .float64: .float64(try wrap(dataset.readValues(as: Double.self, maxElements: count)))
        }
        return Tensor(unchecked: expected, storage: storage)
    }

    /// An integer scalar (or 1-element) dataset, such as the optimizer's iteration count.
    package func integerScalar(in group: some HDF5Container, _ name: String) throws(ModelFileError) -> Int64 {
        let path = HDF5Path.join(group.objectPath, name)
        let dataset = try wrap(group.openDataset(name))
        let info = try wrap(dataset.info())
        guard info.extent.elementCount == 1 else {
            throw fail(path, "expected a single integer, found shape \(info.shape)")
        }
        if info.type.typeClass == .float {
            let value = try wrap(dataset.readValues(as: Double.self, maxElements: 1))
            guard let first = value.first, let integer = Int64(exactly: first) else {
                throw fail(path, "expected an integer count, found \(value)")
            }
            return integer
        }
        guard info.type.typeClass == .integer else { throw fail(path, "expected an integer, found \(info.type)") }
        guard let value = try wrap(dataset.readValues(as: Int64.self, maxElements: 1)).first else {
            throw fail(path, "empty")
        }
        return value
    }

    /// The stored data must be able to hold what the shape declares, and the total stays within the limits.
    private mutating func checkSize(_ info: HDF5DatasetInfo, dtype: Tensor.DType, shape: [Int],
                                    path: String) throws(ModelFileError) -> Int {
        guard let count = Tensor.elementCount(of: shape),
              case (let bytes, false) = count.multipliedReportingOverflow(by: dtype.byteSize) else {
            throw fail(path, "shape \(shape) is too large to address")
        }
        if bytes > limits.maxTensorBytes {
            throw fail(path, "\(bytes) bytes, over the limit of \(limits.maxTensorBytes) bytes per tensor")
        }
        guard case (let total, false) = totalBytes.addingReportingOverflow(bytes), total <= limits.maxTotalBytes else {
            throw fail(path, "the model's tensors exceed the limit of \(limits.maxTotalBytes) bytes in total")
        }
        totalBytes = total
        if let problem = info.storageProblem(bytes: bytes, dtype: dtype, fileSize: fileSize) { throw fail(path, problem) }
        return bytes
    }
}

/// Keras's optimizer variables and mlpconv's slots (docs/keras-formats.md, optimizer variable order).
package enum KerasOptimizerLayout {
    /// The slot of each optimizer variable after iteration and learning_rate, in Keras 3's order, as
    /// (slot name, parameter index).
    package static func keras3Order(_ config: OptimizerConfig, parameterCount count: Int) -> [(String, Int)] {
        // Each group is one `add_optimizer_variables` call, which interleaves its names parameter by parameter.
        slotGroups(config).flatMap { group in (0..<count).flatMap { parameter in group.map { ($0, parameter) } } }
    }

    /// What a variable name in `/optimizer_weights` is: `iteration`, `learning_rate`, or a slot name.
    /// Keras 3: `adam/mlp_hidden_kernel_momentum`; TF 2.11–2.15: `Adam/m/dense/kernel:0`; TF 2.0–2.10:
    /// `Adam/dense/kernel/m:0` and `Adam/iter:0`.
    package static func classify(_ rawName: String) -> String? {
        var name = Substring(rawName)
        if let colon = name.lastIndex(of: ":"), name[name.index(after: colon)...].allSatisfy(\.isNumber) {
            name = name[..<colon]
        }
        let parts = name.split(separator: "/")
        guard let last = parts.last else { return nil }
        let tokens: [Substring: String] = ["m": "momentum", "v": "velocity", "vhat": "velocity_hat", "rms": "velocity",
                                           "mg": "average_gradient", "momentum": "momentum", "velocity": "velocity",
                                           "velocity_hat": "velocity_hat", "average_gradient": "average_gradient",
                                           "accumulator": "accumulator"]
        if last == "iteration" || last == "iter" { return "iteration" }
        if last == "learning_rate" || last == "lr" { return "learning_rate" }
        if parts.count == 1, isUnnamedVariable(last) { return unnamedScalar }
        // The TF 2.0–2.10 form first: its second part is a layer name, which may itself be `m` or `v`
        // (`Adam/v/kernel/m:0` is layer v's momentum), while a TF 2.11–2.15 name ends in `kernel`/`bias`.
        if parts.count >= 2, let slot = tokens[last] { return slot }      // TF 2.0–2.10
        if parts.count >= 3, let slot = tokens[parts[1]] { return slot }  // TF 2.11–2.15
        if parts.count == 2, last == "step_counter" || last == "dynamic_scale" { return String(last) }
        for suffix in ["gradient_accumulator", "velocity_hat", "average_gradient", "momentum", "velocity", "accumulator"] + moreSlotSuffixes
        where last.hasSuffix("_" + suffix) {
            return suffix
        }
        return nil
    }
}

/// Keras 3 legacy `.h5` files and Keras 2 / tf.keras `.h5` files (docs/keras-formats.md, the legacy .h5 layout).
package enum KerasH5Reader {
    /// Whether an HDF5 file looks like a Keras model (has `model_config`).
    package static func isKerasFile(_ h5: HDF5File) -> Bool {
        (try? h5.hasAttribute("model_config")) == true
    }

    /// Refuses Keras's `model.save_weights()` files, saying what they are: `/layers/<key>/vars` (Keras 3) or
    /// `layer_names` on the root (Keras 2), and no `model_config`.
    package static func refuseWeightsOnlyFile(_ h5: HDF5File, file: String) throws(ModelFileError) {
        func has(_ probe: @autoclosure () throws(HDF5Error) -> Bool) throws(ModelFileError) -> Bool {
            do { return try probe() } catch { throw ModelFileError(error, file: file) }
        }
        var weightsOnly = try has(h5.hasAttribute("layer_names"))
        if !weightsOnly, try has(h5.hasMember("layers")) { weightsOnly = try has(h5.hasMember("vars")) }
        guard weightsOnly else { return }
        throw ModelFileError(file: file, reason: "a Keras weights-only file (model.save_weights): it holds weights but "
                             + "no architecture or optimizer, so there is no model to read; save the whole model with "
                             + "model.save(\"m.keras\")")
    }

    package static func read(h5: HDF5File, file: String, fileSize: Int, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        var reader = KerasWeightsReader(file: file, objectPrefix: "", fileSize: fileSize, limits: limits)
        let version = try optionalString(h5, "keras_version", reader: reader)
        let backend = try optionalString(h5, "backend", reader: reader)
        let isKeras2 = version.map { !$0.hasPrefix("3.") } ?? true

        let configText = try reader.wrap(h5.stringAttribute("model_config"))
        let spec = try parse(configText, file: file, object: "/@model_config") { value throws(JSONError) in
            try KerasConfig.readModel(value, isKeras2: isKeras2)
        }
        var document = ModelDocument(
            architecture: .init(inputWidth: spec.inputWidth, inputShape: spec.inputShape, layers: spec.layers),
            weights: [])

        // /model_weights: groups in layer_names order, each with its weight_names (never guessed).
        guard try reader.wrap(h5.hasMember("model_weights")) else {
            throw reader.fail("/model_weights", "missing: the file holds no weights")
        }
        let weightsGroup = try reader.wrap(h5.openGroup("model_weights"))
        let layerNames = try chunkedNames(weightsGroup, "layer_names", reader: reader, required: true)
        var groups: [(name: String, group: HDF5Group, weights: [String])] = []
        for name in layerNames {
            let group = try reader.wrap(weightsGroup.openGroup(name))
            let weightNames = try chunkedNames(group, "weight_names", reader: reader, required: false)
            if !weightNames.isEmpty { groups.append((name, group, weightNames)) }
        }
        let holders = spec.layers.indices.filter { !document.architecture.variables(ofLayer: $0).isEmpty }
        guard groups.count == holders.count else {
            throw reader.fail("/model_weights@layer_names", "\(groups.count) layer(s) with weights "
                              + "(\(groups.map(\.name).joined(separator: ", "))), but the architecture has "
                              + "\(holders.count) layer(s) with weights (\(holders.map { spec.layers[$0].name }.joined(separator: ", ")))")
        }
        document.weights = Array(repeating: ModelDocument.LayerWeights(), count: spec.layers.count)
        for (index, entry) in zip(holders, groups) {
            let layer = spec.layers[index]
            let variables = document.architecture.variables(ofLayer: index)
            guard entry.weights.count == variables.count else {
                throw reader.fail("/model_weights/\(entry.name)@weight_names", "lists \(entry.weights.count) weights "
                                  + "\(entry.weights); \(KerasWriting.kerasClassName(layer.kind)) layer \"\(layer.name)\" has "
                                  + "\(variables.count) (\(variables.map(\.name).joined(separator: ", ")))")
            }
            for (variable, weightName) in zip(variables, entry.weights) {
                document.weights[index][variable.name] = try reader.tensor(
                    in: entry.group, weightName, expected: variable.shape,
                    origin: KerasWriting.origin(of: variable, layer: layer, inputs: document.architecture.inputWidth(ofLayer: index)))
            }
        }

        // training_config + /optimizer_weights.
        var legacyRuleNote: String?
        var metrics: String?
        var trainingNotRead: String?
        if try reader.wrap(h5.hasAttribute("training_config")) {
            let text = try reader.wrap(h5.stringAttribute("training_config"))
            var compiled: (loss: Loss, config: OptimizerConfig, ruleNote: String?, metrics: String?)?
            if let reason = spec.trainingNotReadReason {
                trainingNotRead = reason
            } else {
                do {
                    compiled = try parse(text, file: file, object: "/@training_config") { value throws(JSONError) in
                        try KerasConfig.checkLossWeights(value)
                        let optimizer = try value.object(at: "optimizer_config")
                        let config = try KerasConfig.readOptimizer(optimizer, isKeras2: isKeras2)
                        return (try KerasConfig.readLoss(try value.value(at: "loss")), config,
                                try KerasConfig.legacyRuleNote(optimizer, config: config), try KerasConfig.readMetrics(value))
                    }
                } catch {
                    // The model itself is fine; only its training setup is one mlpconv cannot continue.
                    trainingNotRead = KerasConfig.trainingNotReadNote(error)
                }
            }
            if let compiled {
                legacyRuleNote = compiled.ruleNote
                metrics = compiled.metrics
                // Fresh slots only for an optimizer that never ran: built up front, they were a second copy of the
                // slots in memory while the stored ones were read.
                let optimizer = try reader.wrap(h5.hasMember("optimizer_weights"))
                    ? try readOptimizerWeights(h5, config: compiled.config, document: document, reader: &reader)
                    : ModelDocument.OptimizerRecord(
                        config: compiled.config, iterations: 0, slots: zeroSlots(compiled.config, document),
                        scalars: ModelDocument.OptimizerRecord.initialScalars(compiled.config))
                document.training = .init(loss: compiled.loss, optimizer: optimizer)
            }
        }

        document.metadata = spec.metadata
        document.metadata["source_format"] = "keras-h5"
        document.metadata["keras_version"] = version ?? "unknown (Keras 1/2)"
        if let backend { document.metadata["backend"] = backend }
        if let name = spec.modelName { document.metadata["keras_model_name"] = name }
        if let legacyRuleNote { document.metadata[KerasConfig.legacyRuleKey] = legacyRuleNote }
        if let trainingNotRead { document.metadata[KerasConfig.trainingNotReadKey] = trainingNotRead }
        if let metrics { document.metadata[KerasConfig.metricsKey] = metrics }
        if try reader.wrap(h5.hasAttribute(KerasExtras.key)) {
            let text = try reader.wrap(h5.stringAttribute(KerasExtras.key))
            try KerasExtras.read(text: text, file: file, object: "/@\(KerasExtras.key)").apply(to: &document)
        }
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        return document
    }

    /// Slots with no steps taken, what Keras builds for an optimizer that never ran: zeros, but Adagrad's and Ftrl's
    /// accumulator at `initial_accumulator_value`.
    package static func zeroSlots(_ config: OptimizerConfig, _ document: ModelDocument) -> [ModelDocument.OptimizerRecord.Slot] {
        config.slotNames.map { slot in
            let initial = slot == "accumulator" ? config.initialAccumulatorValue : 0
            return .init(name: slot, tensors: zip(document.parameterShapes, document.parameterTensors).map { shape, tensor in
                let count = shape.reduce(1, *)
                return tensor.dtype == .float32
                    ? Tensor(unchecked: shape, storage: .float32(.init(repeating: Float(initial), count: count)))
                    : Tensor(unchecked: shape, storage: .float64(.init(repeating: initial, count: count)))
            })
        }
    }

    private static func readOptimizerWeights(
        _ h5: HDF5File, config: OptimizerConfig, document: ModelDocument, reader: inout KerasWeightsReader
    ) throws(ModelFileError) -> ModelDocument.OptimizerRecord {
        let group = try reader.wrap(h5.openGroup("optimizer_weights"))
        let names = try chunkedNames(group, "weight_names", reader: reader, required: true)
        let shapes = document.parameterShapes, parameterNames = document.parameterNames
        let settings = "\(config.kind.kerasClassName) with these settings keeps "
            + (config.slotNames.isEmpty ? "no slots" : config.slotNames.joined(separator: ", "))
            + " for \(shapes.count) parameters"
        var iterations: Int64?
        // A LossScaleOptimizer's own iteration counter (which Keras never advances) comes before its inner one's.
        var wrapperIterationSeen = config.dynamicLossScale == nil
        var slots: [String: [Tensor]] = [:]
        var scalars: [Double] = []
        var namedScalars: [String: Double] = [:]
        let unnamedScalarNames = config.scalarNames.filter { !KerasOptimizerLayout.namedScalars.contains($0) }
        for name in names {
            let object = "/optimizer_weights/\(name)"
            guard let kind = KerasOptimizerLayout.classify(name) else {
                throw reader.fail(object, "not a variable mlpconv knows (\(settings))")
            }
            switch kind {
            case "iteration":
                if !wrapperIterationSeen {
                    _ = try reader.integerScalar(in: group, name)
                    wrapperIterationSeen = true
                    continue
                }
                guard iterations == nil else { throw reader.fail(object, "a second iteration counter") }
                iterations = try reader.integerScalar(in: group, name)
            case "learning_rate":
                continue  // the configuration's learning_rate is the same value (a LossScaleOptimizer's own is 0)
            case "step_counter", "dynamic_scale":
                guard config.scalarNames.contains(kind), namedScalars[kind] == nil else {
                    throw reader.fail(object, "a loss-scale variable, but \(config.kind.kerasClassName) with these settings keeps "
                                      + "\(config.scalarNames.isEmpty ? "none" : config.scalarNames.joined(separator: ", "))")
                }
                namedScalars[kind] = kind == "step_counter"
                    ? Double(try reader.integerScalar(in: group, name)) : try reader.floatScalar(in: group, name)
            case KerasOptimizerLayout.unnamedScalar:
                guard scalars.count < unnamedScalarNames.count else {
                    throw reader.fail(object, "an unnamed variable, but \(config.kind.kerasClassName) keeps "
                                      + "\(config.scalarNames.isEmpty ? "none" : config.scalarNames.joined(separator: ", "))")
                }
                scalars.append(try reader.floatScalar(in: group, name))
            case "momentum" where config.kind == .sgd && config.momentum == 0:
                // Keras 2.11–2.15's SGD builds `SGD/m/...` even with momentum 0 (it then holds the last step's
                // −lr·g, which momentum 0 never feeds back): no state, so not read.
                continue
            default:
                guard config.slotNames.contains(kind) else {
                    throw reader.fail(object, "a \(kind) slot, but \(settings)")
                }
                let index = slots[kind, default: []].count
                guard index < shapes.count else {
                    throw reader.fail(object, "more \(kind) tensors than the model's \(shapes.count) parameters")
                }
                let tensor = try reader.tensor(in: group, name, expected: shapes[index],
                                               origin: "\(kind) of \(parameterNames[index])")
                slots[kind, default: []].append(tensor)
            }
        }
        guard let iterations, iterations >= 0, let count = Int(exactly: iterations) else {
            throw reader.fail("/optimizer_weights", "no valid iteration counter among \(names.count) variables")
        }
        var result: [ModelDocument.OptimizerRecord.Slot] = []
        for slot in config.slotNames {
            let tensors = slots[slot] ?? []
            guard tensors.count == shapes.count else {
                throw reader.fail("/optimizer_weights@weight_names", "\(tensors.count) \(slot) tensors; \(settings)")
            }
            result.append(.init(name: slot, tensors: tensors))
        }
        guard scalars.count == unnamedScalarNames.count else {
            throw reader.fail("/optimizer_weights@weight_names", "\(scalars.count) unnamed scalar variables; "
                              + "\(config.kind.kerasClassName) keeps \(config.scalarNames.joined(separator: ", "))")
        }
        if let missing = config.scalarNames.first(where: { KerasOptimizerLayout.namedScalars.contains($0) && namedScalars[$0] == nil }) {
            throw reader.fail("/optimizer_weights@weight_names", "no \(missing) variable; a LossScaleOptimizer keeps step_counter and dynamic_scale")
        }
        var unnamed = scalars.makeIterator()
        let values = config.scalarNames.map { name in namedScalars[name] ?? unnamed.next() ?? 0 }
        return .init(config: config, iterations: count, slots: result,
                     scalars: zip(config.scalarNames, values).map { .init(name: $0, value: $1) })
    }

    /// A string-array attribute, possibly split into `name0`, `name1`, … (attributes over 64 KiB); an empty
    /// numeric array (Keras's `weight_names` of a layer without weights) is an empty list.
    package static func chunkedNames(_ object: some HDF5Object, _ name: String, reader: KerasWeightsReader,
                             required: Bool) throws(ModelFileError) -> [String] {
        let path = "\(object.objectPath)@\(name)"
        func names(_ attribute: String) throws(ModelFileError) -> [String] {
            switch try reader.wrap(object.attribute(attribute)) {
            case .string(let text): return [text]
            case .strings(let list): return list
            case .doubles([]), .int64s([]): return []
            case let other: throw reader.fail(path, "expected a list of names, found \(other)")
            }
        }
        if try reader.wrap(object.hasAttribute(name)) { return try names(name) }
        var result: [String] = []
        var index = 0
        while try reader.wrap(object.hasAttribute("\(name)\(index)")) {
            result += try names("\(name)\(index)")
            index += 1
            if index > 100_000 { throw reader.fail(path, "too many chunks") }
        }
        if index == 0, required { throw reader.fail(path, "missing") }
        return result
    }

    private static func optionalString(_ h5: HDF5File, _ name: String,
                                       reader: KerasWeightsReader) throws(ModelFileError) -> String? {
        guard try reader.wrap(h5.hasAttribute(name)) else { return nil }
        return try reader.wrap(h5.stringAttribute(name))
    }

    /// Parses a JSON configuration text with the hardened parser; errors name `object` and the JSON path.
    package static func parse<T>(_ text: String, file: String, object: String, maxBytes: Int = 16 << 20,
                         _ body: (JSONValue) throws(JSONError) -> T) throws(ModelFileError) -> T {
        do {
            let document = try JSONDocument.parse(Array(text.utf8), file: file,
                                                  limits: JSONLimits(maxBytes: maxBytes, maxDepth: 32))
            return try body(document.root)
        } catch {
            throw ModelFileError(file: file, in: object, error)
        }
    }
}
