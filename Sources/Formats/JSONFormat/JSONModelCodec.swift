import MLPCore
import FormatSupport
import JSONSupport
import MLPDocument

/// The JSON model format, described by `schemas/mlpconv-model.schema.json`:
///
///     {"format": "mlpconv-model", "format_version": 1,
///      "architecture": {"input_width": 4, "layers": [{"name": "dense", "units": 3, …}, …]},
///      "weights": {"dense": {"kernel": <tensor>, "bias": <tensor>}, …},
///      "training": {"loss": …, "optimizer": {"name": …, "hyperparameters": {…}, "iterations": …,
///                   "slots": {"momentum": {"dense/kernel": <tensor>, …}, …}, "scalars": {"u_product": …}},
///                   "epochs_completed": …, "random_state": ["<16 hex digits>", ×4], "history": […]},
///      "metadata": {"created_by": …, …}}
///
/// A tensor is `{"dtype": "float32"|"float64", "shape": […], "data": …}` (see `JSONModelCodec+Tensors.swift`).
/// The architecture, history and hyperparameters use `DocumentJSON`'s forms, which the HDF5 codec embeds too.
///
/// Reading is strict: unknown keys, missing or unexpected tensors, wrong shapes and wrong types are errors naming
/// the JSON path, checked before anything is allocated for tensor data.
package enum JSONModelCodec {
    package static let documentKeys: Set<String> = ["format", "format_version", "architecture", "weights", "training", "metadata"]
    package static let trainingKeys: Set<String> = ["loss", "optimizer", "epochs_completed", "random_state", "history"]
    package static let optimizerKeys: Set<String> = ["name", "hyperparameters", "iterations", "slots", "scalars"]
    /// A valid document nests 6 deep (root → training → optimizer → slots → slot → tensor → shape); the limit leaves
    /// room for clear errors about misplaced values, and keeps json-c's recursive free shallow.
    package static let maxDepth = 16

    // MARK: Encoding

    /// The document as pretty-printed JSON (structure one member per line, each tensor on one line). The
    /// document is expected to be valid (`ModelDocument.validate()`); tensors holding NaN or ±∞ are written as
    /// base64 whatever `tensors` says, since JSON numbers cannot express them.
    package static func encode(_ document: ModelDocument, tensors: JSONTensorEncoding) -> [UInt8] {
        var writer = JSONWriter(style: .pretty, reservingCapacity: estimatedSize(of: document, tensors: tensors))
        write(document, tensors: tensors, to: &writer)
        return writer.finish()
    }

    /// The document's text, without the final newline (`finish` adds it), in memory or streamed.
    static func write(_ document: ModelDocument, tensors: JSONTensorEncoding, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("format"); writer.string(ModelDocument.formatName)
        writer.key("format_version"); writer.integer(ModelDocument.formatVersion)
        writer.key("architecture"); DocumentJSON.write(document.architecture, to: &writer)
        writer.key("weights"); writeWeights(of: document, tensors: tensors, to: &writer)
        if let training = document.training {
            writer.key("training")
            write(training, parameterNames: document.parameterNames, tensors: tensors, to: &writer)
        }
        writer.key("metadata"); write(metadata: document.metadata, to: &writer)
        writer.endObject()
    }

    private static func writeWeights(of document: ModelDocument, tensors: JSONTensorEncoding, to writer: inout JSONWriter) {
        writer.beginObject()
        for (index, (layer, weights)) in zip(document.architecture.layers, document.weights).enumerated() {
            let variables = document.architecture.variables(ofLayer: index)
            // Layers without weights (dropout, activation, flatten) have no entry.
            guard !variables.isEmpty else { continue }
            writer.key(layer.name)
            writer.beginObject()
            for variable in variables {
                guard let tensor = weights[variable.name] else { continue }
                writer.key(variable.name); write(tensor, encoding: tensors, to: &writer)
            }
            writer.endObject()
        }
        writer.endObject()
    }

    private static func write(
        _ training: ModelDocument.TrainingRecord, parameterNames: [String], tensors: JSONTensorEncoding,
        to writer: inout JSONWriter
    ) {
        writer.beginObject()
        writer.key("loss"); DocumentJSON.write(training.loss, to: &writer)
        writer.key("optimizer")
        writer.beginObject()
        writer.key("name"); writer.string(training.optimizer.config.kind.name)
        writer.key("hyperparameters"); DocumentJSON.write(hyperparameters: training.optimizer.config, to: &writer)
        writer.key("iterations"); writer.integer(training.optimizer.iterations)
        writer.key("slots")
        writer.beginObject()
        for slot in training.optimizer.slots {
            writer.key(slot.name)
            writer.beginObject()
            for (name, tensor) in zip(parameterNames, slot.tensors) {
                writer.key(name); write(tensor, encoding: tensors, to: &writer)
            }
            writer.endObject()
        }
        writer.endObject()
        if !training.optimizer.scalars.isEmpty {
            writer.key("scalars")
            writer.beginObject(inline: true)
            for scalar in training.optimizer.scalars { writer.key(scalar.name); writer.number(scalar.value) }
            writer.endObject()
        }
        writer.endObject()
        writer.key("epochs_completed"); writer.integer(training.epochsCompleted)
        if let state = training.randomState {
            writer.key("random_state"); DocumentJSON.write(state, to: &writer)
        }
        writer.key("history"); DocumentJSON.write(training.history, to: &writer)
        writer.endObject()
    }

    /// Sorted by key, so that saving the same document twice gives the same bytes.
    private static func write(metadata: [String: String], to writer: inout JSONWriter) {
        writer.beginObject()
        for key in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            writer.key(key)
            writer.string(metadata[key] ?? "")
        }
        writer.endObject()
    }

    /// Room for the whole text, so the buffer grows once: about 12 bytes per float32 and 22 per float64 in arrays,
    /// 4/3 of the bytes in base64, plus the structure.
    private static func estimatedSize(of document: ModelDocument, tensors: JSONTensorEncoding) -> Int {
        let all = document.weights.flatMap { Array($0.tensors.values) }
            + (document.training?.optimizer.slots.flatMap(\.tensors) ?? [])
        let data = all.reduce(0) { total, tensor in
            total + (usesArray(tensor, tensors) ? tensor.count * (tensor.dtype == .float32 ? 12 : 22)
                                                : Base64.encodedCount(tensor.byteCount))
        }
        return data + 200 * all.count + 100 * (document.training?.history.count ?? 0) + 4096
    }

    // MARK: Decoding

    /// Parses and checks a JSON model document. Every error names the file and the JSON path.
    package static func decode(_ bytes: UnsafeRawBufferPointer, file: String, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        try decode(file: file, limits: limits, releasingText: nil) { () throws(JSONError) in
            try JSONDocument.parse(bytes, file: file, limits: jsonLimits(for: limits))
        }
    }

    /// `decode` of what `parse` returns; `releasingText`, if given, is called with each tensor's text once the tensor
    /// is decoded.
    static func decode(
        file: String, limits: LoadLimits, releasingText: ((Range<Int>) -> Void)?,
        parse: () throws(JSONError) -> JSONDocument
    ) throws(ModelFileError) -> ModelDocument {
        let document: ModelDocument
        do {
            let json = try parse()
            var reader = Reader(limits: limits)
            reader.releaseText = releasingText
            document = try reader.read(json.root)
        } catch {
            throw ModelFileError(error)
        }
        // Everything has been checked above with its JSON path; this is the document type's own invariant check.
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        return document
    }

    /// The parser's caps for a model file: the file cap, the small depth of this format, and as many values as the
    /// tensor cap allows in float32 arrays (plus room for the structure and history), since json-c's tree costs
    /// far more per number than the tensor does. Tensor data arrays of 256 numbers or more are read straight from
    /// the text rather than through json-c's tree (five times faster; only `readNumbers` reads them), and so are
    /// strings of 4 KiB or more (base64 tensors), which json-c would copy byte by byte.
    package static func jsonLimits(for limits: LoadLimits) -> JSONLimits {
        JSONLimits(maxBytes: limits.maxFileBytes, maxDepth: maxDepth,
                   maxValues: min(limits.maxTotalBytes / 4, 1 << 28) + (1 << 20), bulkNumberArrays: 256,
                   bulkStrings: 4096)
    }

    /// Reads the document's parts, keeping the running total of tensor bytes for `LoadLimits.maxTotalBytes`.
    package struct Reader {
        package let limits: LoadLimits
        package var totalTensorBytes = 0
        /// Called with a tensor's text once it has been decoded (see `JSONModelCodec.read(path:limits:)`).
        package var releaseText: ((Range<Int>) -> Void)?

        package init(limits: LoadLimits) {
            self.limits = limits
        }

        package mutating func read(_ root: JSONValue) throws(JSONError) -> ModelDocument {
            guard root.kind == .object else {
                throw root.error(.type, "expected an mlpconv model document (a JSON object), found \(root.kind)")
            }
            try checkFormat(root)
            try DocumentJSON.requireKeys(root, allowed: JSONModelCodec.documentKeys)
            let architecture = try DocumentJSON.readArchitecture(try root.value(at: "architecture"))
            // The parameter names and shapes follow from the architecture alone.
            let skeleton = ModelDocument(architecture: architecture, weights: [])
            let weights = try readWeights(try root.value(at: "weights"), architecture: architecture)
            var training: ModelDocument.TrainingRecord?
            if let value = try root.optionalValue(at: "training") {
                training = try readTraining(value, parameters: Array(zip(skeleton.parameterNames, skeleton.parameterShapes)))
            }
            var metadata: [String: String] = [:]
            if let value = try root.optionalValue(at: "metadata") {
                for (key, member) in try value.members() { metadata[key] = try member.string() }
            }
            return ModelDocument(architecture: architecture, weights: weights, training: training, metadata: metadata)
        }

        /// `format` first: a JSON file that is not a model document should say so, not complain about its keys.
        private func checkFormat(_ root: JSONValue) throws(JSONError) {
            guard let formatValue = try root.optionalValue(at: "format") else {
                throw JSONError(kind: .missing, file: root.document.file, path: "$.format",
                                reason: "not an mlpconv model document: required key \"format\" is missing "
                                    + "(expected \"\(ModelDocument.formatName)\")")
            }
            let format = try formatValue.string()
            guard format == ModelDocument.formatName else {
                throw formatValue.error(.value, "not an mlpconv model document: format is \(JSONPath.quoted(format)), "
                                            + "expected \"\(ModelDocument.formatName)\"")
            }
            let versionValue = try root.value(at: "format_version")
            let version = try versionValue.int64()
            guard version <= ModelDocument.formatVersion else {
                throw versionValue.error(.value, "format version \(version) is newer than this mlpconv reads "
                                             + "(\(ModelDocument.formatVersion)); a newer mlpconv is needed")
            }
            guard version == ModelDocument.formatVersion else {
                throw versionValue.error(.value, "expected format version \(ModelDocument.formatVersion), found \(version)")
            }
        }

        private mutating func readWeights(
            _ value: JSONValue, architecture: ModelDocument.Architecture
        ) throws(JSONError) -> [ModelDocument.LayerWeights] {
            let holders = architecture.layers.indices.filter { !architecture.variables(ofLayer: $0).isEmpty }
            let groups = try members(of: value, expected: holders.map { architecture.layers[$0].name }, what: "weights for layer",
                                     expectation: "the architecture's layers with weights are")
            var weights = [ModelDocument.LayerWeights](repeating: ModelDocument.LayerWeights(), count: architecture.layers.count)
            for (index, group) in zip(holders, groups) {
                let layer = architecture.layers[index]
                let variables = architecture.variables(ofLayer: index)
                if case .dense(let dense) = layer.kind, !dense.useBias, let unexpected = try group.optionalValue(at: "bias") {
                    throw unexpected.error(.value, "unexpected tensor: layer \"\(layer.name)\" has use_bias false")
                }
                let values = try members(of: group, expected: variables.map(\.name), what: "tensor",
                                         expectation: "a \(layer.kind.typeName) layer with these settings holds")
                for (variable, tensorValue) in zip(variables, values) {
                    weights[index][variable.name] = try readTensor(
                        tensorValue, expected: variable.shape, owner: owner(of: variable, in: layer, inputs: architecture.inputWidth(ofLayer: index)))
                }
            }
            return weights
        }

        /// `parameters`: each trainable tensor's name (`dense/kernel`) and shape, in the order slots list them.
        private mutating func readTraining(
            _ value: JSONValue, parameters: [(String, [Int])]
        ) throws(JSONError) -> ModelDocument.TrainingRecord {
            try DocumentJSON.requireKeys(value, allowed: JSONModelCodec.trainingKeys)
            let loss = try DocumentJSON.readLoss(try value.value(at: "loss"))
            let optimizer = try readOptimizer(try value.object(at: "optimizer"), parameters: parameters)
            let epochs = try value.value(at: "epochs_completed").int(atLeast: 0)
            var randomState: RandomState?
            if let stateValue = try value.optionalValue(at: "random_state") {
                randomState = try DocumentJSON.readRandomState(stateValue)
            }
            var history: [EpochRecord] = []
            if let historyValue = try value.optionalValue(at: "history") {
                history = try DocumentJSON.readHistory(historyValue)
            }
            return ModelDocument.TrainingRecord(loss: loss, optimizer: optimizer, epochsCompleted: epochs,
                                                randomState: randomState, history: history)
        }

        private mutating func readOptimizer(
            _ value: JSONValue, parameters: [(String, [Int])]
        ) throws(JSONError) -> ModelDocument.OptimizerRecord {
            try DocumentJSON.requireKeys(value, allowed: JSONModelCodec.optimizerKeys)
            let kind = try DocumentJSON.named(value, "name", OptimizerKind.init(name:), OptimizerKind.acceptedNames,
                                              what: "optimizer")
            let config = try DocumentJSON.readOptimizerConfig(kind: kind, hyperparameters: try value.object(at: "hyperparameters"))
            let iterations = try value.value(at: "iterations").int(atLeast: 0)
            let slotNames = config.slotNames
            let slotValues = try members(
                of: try value.value(at: "slots"), expected: slotNames, what: "slot",
                expectation: "\(kind.name) with these hyperparameters keeps " + (slotNames.isEmpty ? "no slots" : "slots"))
            var slots: [ModelDocument.OptimizerRecord.Slot] = []
            for (name, slotValue) in zip(slotNames, slotValues) {
                let entries = try members(of: slotValue, expected: parameters.map(\.0), what: "slot entry",
                                          expectation: "the model's parameters are")
                var tensors: [Tensor] = []
                for ((parameter, shape), entry) in zip(parameters, entries) {
                    tensors.append(try readTensor(entry, expected: shape, owner: "\(parameter)"))
                }
                slots.append(ModelDocument.OptimizerRecord.Slot(name: name, tensors: tensors))
            }
            let scalarNames = config.scalarNames
            var scalars: [ModelDocument.OptimizerRecord.Scalar] = []
            if let scalarsValue = try value.optionalValue(at: "scalars") {
                let values = try members(
                    of: scalarsValue, expected: scalarNames, what: "scalar",
                    expectation: "\(kind.name) with these hyperparameters keeps " + (scalarNames.isEmpty ? "no scalars" : "scalars"))
                for (name, member) in zip(scalarNames, values) { scalars.append(.init(name: name, value: try member.double())) }
            } else if let missing = scalarNames.first {
                throw JSONError(kind: .missing, file: value.document.file, path: value.path.appending("scalars").description,
                                reason: "missing scalar \(JSONPath.quoted(missing)) (\(kind.name) keeps "
                                    + scalarNames.map { JSONPath.quoted($0) }.joined(separator: ", ") + ")")
            }
            return ModelDocument.OptimizerRecord(config: config, iterations: iterations, slots: slots, scalars: scalars)
        }

        /// The members of an object whose keys must be exactly `expected` (in any order), returned in `expected`'s
        /// order. A key not in `expected` or one missing is reported with the list of expected keys.
        /// How shape errors describe the tensor's owner: `layer "hidden" (4 inputs × 8 units)`.
        private func owner(of variable: VariableSpec, in layer: ModelDocument.Layer, inputs: Int) -> String {
            switch (layer.kind, variable.name) {
            case (.dense(let dense), "kernel"): "layer \"\(layer.name)\" (\(inputs) inputs × \(dense.units) units)"
            case (.dense(let dense), _): "layer \"\(layer.name)\" (\(dense.units) units)"
            default: "layer \"\(layer.name)\" (\(inputs) features)"
            }
        }

        private func members(
            of value: JSONValue, expected: [String], what: String, expectation: String
        ) throws(JSONError) -> [JSONValue] {
            var found: [String: JSONValue] = [:]
            let listed = expected.isEmpty ? "" : ": " + expected.map { JSONPath.quoted($0) }.joined(separator: ", ")
            for (key, member) in try value.members() {
                guard expected.contains(key) else {
                    throw member.error(.value, "unexpected \(what) \(JSONPath.quoted(key)) (\(expectation)\(listed))")
                }
                found[key] = member
            }
            var result: [JSONValue] = []
            for key in expected {
                guard let member = found[key] else {
                    throw JSONError(kind: .missing, file: value.document.file, path: value.path.appending(key).description,
                                    reason: "missing \(what) \(JSONPath.quoted(key)) (\(expectation)\(listed))")
                }
                result.append(member)
            }
            return result
        }
    }
}
