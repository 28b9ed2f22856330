import Foundation
import MLPCore
import FileSupport
import FormatSupport
import HDF5Support
import JSONSupport
import MLPDocument
import ZipSupport

/// What both Keras writers share: the JSON configurations and names Keras 3.15.1 writes (docs/keras-formats.md),
/// mirroring what `KerasConfig` and the readers understand.
package enum KerasWriting {
    package static let kerasVersion = "3.15.1"
    package static let backend = "jax"

    /// The model's name: the one read from a Keras file, else Keras's default.
    package static func modelName(_ document: ModelDocument) -> String {
        if let name = document.metadata["keras_model_name"], !name.isEmpty, !name.contains("/"),
           !name.unicodeScalars.contains("\0") {
            return name
        }
        return "sequential"
    }

    /// Each layer's key under `/layers` in a `.keras` weights file: Keras's snake-case class name, numbered per
    /// class in layer order (`dense`, `dense_1`, `dropout`, `batch_normalization`, …).
    package static func layerKeys(_ layers: [ModelDocument.Layer]) -> [String] {
        var counts: [String: Int] = [:]
        return layers.map { layer in
            let base = KerasConfig.snakeCase(kerasClassName(layer.kind))
            let count = counts[base, default: 0]
            counts[base] = count + 1
            return count == 0 ? base : "\(base)_\(count)"
        }
    }

    /// How a shape error explains the expected shape.
    package static func origin(of variable: VariableSpec, layer: ModelDocument.Layer, inputs: Int) -> String {
        switch (layer.kind, variable.name) {
        case (.dense(let dense), "kernel"): "layer \"\(layer.name)\" has \(inputs) inputs and \(dense.units) units"
        case (.dense(let dense), _): "layer \"\(layer.name)\" has \(dense.units) units"
        default: "layer \"\(layer.name)\" has \(inputs) features"
        }
    }

    package static func kerasClassName(_ kind: LayerKind) -> String {
        switch kind {
        case .dense: "Dense"
        case .activation: "Activation"
        case .dropout: "Dropout"
        case .batchNormalization: "BatchNormalization"
        case .layerNormalization: "LayerNormalization"
        case .flatten: "Flatten"
        }
    }

    /// Keras's auto name for the optimizer: `sgd`, `adam`, `adam_w`, `rm_sprop`, `adagrad`.
    package static func optimizerName(_ config: OptimizerConfig) -> String {
        KerasConfig.snakeCase(config.kind.kerasClassName)
    }

    /// The document as Keras can hold it: a torch optimizer becomes Keras's through the translation
    /// (ModelDocument+OptimizerTranslation.swift), an approximate one noting the difference in the metadata under
    /// `optimizerTranslationKey`. Refuses what Keras cannot load: an optimizer with no Keras translation, a loss it
    /// does not have, an iteration count over int32.
    package static func writable(_ document: ModelDocument, file: String) throws(ModelFileError) -> ModelDocument {
        var document = document
        if let optimizer = document.training?.optimizer, optimizer.config.kind.isTorch {
            switch optimizer.translated(to: .keras) {
            case .exact(let record):
                document.training?.optimizer = record
            case .approximate(let record, let difference):
                document.training?.optimizer = record
                document.metadata[optimizerTranslationKey] = "from \(optimizer.config.kind.name): \(difference)"
            case .unavailable(let reason):
                throw ModelFileError(file: file, reason: "the optimizer has no Keras translation: \(reason); convert with "
                                     + "--drop-optimizer to leave the training state out")
            }
        }
        try check(document, file: file)
        return document
    }

    /// Where `writable` records how a torch optimizer's translation to Keras differs from the original.
    package static let optimizerTranslationKey = "optimizer_translation"

    /// Refuses what Keras cannot load: a loss it does not have, torch's running-variance update, an iteration
    /// count over int32.
    private static func check(_ document: ModelDocument, file: String) throws(ModelFileError) {
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        for layer in document.architecture.layers {
            if case .batchNormalization(let bn) = layer.kind, bn.unbiasedMovingVariance {
                throw ModelFileError(file: file, object: "layer \"\(layer.name)\"", reason: "updates its moving variance "
                                     + "with the unbiased batch variance (torch's BatchNorm1d), which Keras's "
                                     + "BatchNormalization cannot express")
            }
        }
        guard let training = document.training else { return }
        try KerasMetrics.validate(document, file: file)
        if training.loss.kind == .halfSquaredError || training.loss.kind.isTorchOnly {
            throw ModelFileError(file: file, reason: "the loss \(training.loss.description) has no Keras equivalent; "
                                 + "retrain with a Keras loss or convert with --drop-optimizer")
        }
        guard Int32(exactly: training.optimizer.iterations) != nil else {
            throw ModelFileError(file: file, reason: "the optimizer's \(training.optimizer.iterations) iterations do not "
                                 + "fit Keras's int32 counter")
        }
    }

    /// The Sequential model configuration; `native` adds what `.keras` files carry (`module`, `registered_name`,
    /// `build_config`).
    package static func writeModel(_ document: ModelDocument, native: Bool, to writer: inout JSONWriter) {
        let architecture = document.architecture
        writer.beginObject()
        if native { writer.key("module"); writer.string("keras") }
        writer.key("class_name"); writer.string("Sequential")
        writer.key("config"); writer.beginObject()
        writer.key("name"); writer.string(modelName(document))
        writer.key("trainable"); writer.bool(true)
        let policy = dtypePolicyName(document)
        writer.key("dtype"); dtypePolicy(policy, &writer)
        writer.key("layers"); writer.beginArray()
        writer.beginObject()
        if native { writer.key("module"); writer.string("keras.layers") }
        writer.key("class_name"); writer.string("InputLayer")
        writer.key("config"); writer.beginObject()
        writer.key("batch_shape"); inputShape(architecture.inputShape ?? [architecture.inputWidth], &writer)
        writer.key("dtype"); writer.string("float32")
        writer.key("sparse"); writer.bool(false)
        writer.key("ragged"); writer.bool(false)
        writer.key("name"); writer.string("input_layer")
        writer.key("optional"); writer.bool(false)
        writer.endObject()
        if native { writer.key("registered_name"); writer.null() }
        writer.endObject()
        for index in architecture.layers.indices {
            writeLayer(index, of: architecture, policy: policy, native: native, to: &writer)
        }
        writer.endArray()
        writer.key("build_input_shape"); inputShape(architecture.inputShape ?? [architecture.inputWidth], &writer)
        writer.endObject()
        if native {
            writer.key("registered_name"); writer.null()
            writer.key("build_config"); writer.beginObject()
            writer.key("input_shape"); inputShape(architecture.inputShape ?? [architecture.inputWidth], &writer)
            writer.endObject()
            if let training = document.training {
                writer.key("compile_config"); writer.beginObject()
                writer.key("optimizer"); writeOptimizer(training.optimizer.config, native: true, to: &writer)
                writeCompileRest(training, document: document, native: true, to: &writer)
                writer.endObject()
            }
        }
        writer.endObject()
    }

    /// `{"class_name": "Adam", "config": {...}}` with Keras's keys in Keras's order; the learning rate as the
    /// float32 Keras keeps, widened.
    static func writeInnerOptimizer(_ config: OptimizerConfig, native: Bool, to writer: inout JSONWriter) {
        writer.beginObject()
        if native { writer.key("module"); writer.string("keras.optimizers") }
        writer.key("class_name"); writer.string(config.kind.kerasClassName)
        writer.key("config"); writer.beginObject()
        writer.key("name"); writer.string(optimizerName(config))
        writer.key("learning_rate")
        if let schedule = config.schedule {
            KerasSchedule.write(schedule, to: &writer)
        } else {
            writer.number(Double(Float(config.learningRate)))
        }
        let hyperparameters = config.hyperparameters
        func emit(_ key: String, _ value: Hyperparameter) {
            writer.key(key)
            switch value {
            case .number(let number), .optionalNumber(let number?): writer.number(number)
            case .optionalNumber(nil): writer.null()
            case .flag(let flag): writer.bool(flag)
            }
        }
        let common = ["weight_decay", "clipnorm", "global_clipnorm", "clipvalue"]
        for key in common {
            if let entry = hyperparameters.first(where: { $0.key == key }) { emit(key, entry.value) }
        }
        writer.key("use_ema"); writer.bool(config.useEMA)
        writer.key("ema_momentum"); writer.number(config.useEMA ? config.emaMomentum : 0.99)
        writer.key("ema_overwrite_frequency")
        if config.useEMA, let frequency = config.emaOverwriteFrequency { writer.integer(frequency) } else { writer.null() }
        writer.key("loss_scale_factor")
        if let factor = config.lossScaleFactor { writer.number(factor) } else { writer.null() }
        writer.key("gradient_accumulation_steps")
        if let steps = config.gradientAccumulationSteps { writer.integer(steps) } else { writer.null() }
        for (key, value) in hyperparameters
        where key != "learning_rate" && !common.contains(key) && !OptimizerConfig.wrapperKeys.contains(key) {
            emit(key, value)
        }
        writer.endObject()
        if native { writer.key("registered_name"); writer.null() }
        writer.endObject()
    }

    /// The compile settings besides the optimizer, shared by `training_config` (where they come first, as in
    /// Keras's files) and `compile_config` (where they follow the optimizer).
    private static func writeCompileRest(_ training: ModelDocument.TrainingRecord, document: ModelDocument, native: Bool,
                                         to writer: inout JSONWriter) {
        writer.key("loss"); writeLoss(training.loss, native: native, to: &writer)
        writer.key("loss_weights"); writer.null()
        writer.key("metrics"); KerasMetrics.write(document, native: native, to: &writer)
        writer.key("weighted_metrics"); writer.null()
        writer.key("run_eagerly"); writer.bool(false)
        writer.key("steps_per_execution"); writer.integer(1)
        writer.key("jit_compile"); writer.bool(true)
    }

    /// The legacy `.h5` `training_config`.
    package static func trainingConfigText(_ document: ModelDocument, _ training: ModelDocument.TrainingRecord) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writeCompileRest(training, document: document, native: false, to: &writer)
        writer.key("optimizer_config"); writeOptimizer(training.optimizer.config, native: false, to: &writer)
        writer.endObject()
        return String(decoding: writer.finish(), as: UTF8.self)
    }

    package static func modelConfigText(_ document: ModelDocument, native: Bool) -> String {
        var writer = JSONWriter()
        writeModel(document, native: native, to: &writer)
        return String(decoding: writer.finish(), as: UTF8.self)
    }

    /// Writes a tensor as a dataset in its own dtype.
    package static func writeTensor(_ tensor: Tensor, at path: String, in group: some HDF5Container) throws(HDF5Error) {
        let type: HDF5ElementType = tensor.dtype == .float32 ? .float32 : .float64
        let result = tensor.withUnsafeBytes { bytes in
            Result { () throws(HDF5Error) in _ = try group.createDataset(path, type: type, shape: tensor.shape, bytes: bytes) }
        }
        try result.get()
    }

    /// The optimizer variables after iteration and learning_rate, in Keras 3's order: (slot, parameter index, tensor).
    package static func slotVariables(_ optimizer: ModelDocument.OptimizerRecord,
                              parameterCount: Int) -> [(slot: String, parameter: Int, tensor: Tensor)] {
        var bySlot: [String: [Tensor]] = [:]
        for slot in optimizer.slots { bySlot[slot.name] = slot.tensors }
        return KerasOptimizerLayout.keras3Order(optimizer.config, parameterCount: parameterCount).compactMap { slot, index in
            guard let tensors = bySlot[slot], index < tensors.count else { return nil }
            return (slot, index, tensors[index])
        }
    }
}

/// Keras 3's legacy `.h5` layout (docs/keras-formats.md, the legacy .h5 layout), as Keras 3.15.1 (JAX) writes it.
package enum KerasH5Writer {
    package static func write(_ document: ModelDocument, toPath path: String, file: String) throws(ModelFileError) {
        let document = try KerasWriting.writable(document, file: file)
        do throws(HDF5Error) {
            let h5 = try HDF5File.create(at: path)
            try writeContents(document, to: h5)
            try h5.close()
        } catch {
            throw ModelFileError(error, file: file)
        }
    }

    private static func writeContents(_ document: ModelDocument, to h5: HDF5File) throws(HDF5Error) {
        let model = KerasWriting.modelName(document)
        try h5.setAttribute("backend", .string(KerasWriting.backend))
        try h5.setAttribute("keras_version", .string(KerasWriting.kerasVersion))
        try h5.setAttribute("model_config", .string(KerasWriting.modelConfigText(document, native: false)))
        if let training = document.training {
            try h5.setAttribute("training_config", .string(KerasWriting.trainingConfigText(document, training)))
        }
        var extras = KerasExtras(document)
        // Metric functions have no .h5 form (docs/keras-formats.md, metrics): the record keeps the exact list.
        if let metrics = KerasMetrics.textLostInH5(document) { extras.metadata[KerasConfig.metricsKey] = metrics }
        if !extras.isEmpty { try h5.setAttribute(KerasExtras.key, .string(extras.text)) }

        let weights = try h5.createGroup("model_weights")
        try weights.setAttribute("backend", .string(KerasWriting.backend))
        try weights.setAttribute("keras_version", .string(KerasWriting.kerasVersion))
        try setNames(document.architecture.layers.map(\.name), "layer_names", on: weights)
        for (index, (layer, tensors)) in zip(document.architecture.layers, document.weights).enumerated() {
            let group = try weights.createGroup(layer.name)
            let variables = document.architecture.variables(ofLayer: index)
            let names = variables.map { "\(model)/\(layer.name)/\($0.name)" }
            // Keras lists every layer, and writes an empty list for one without weights.
            if names.isEmpty {
                try group.setAttribute("weight_names", .doubles([]))
            } else {
                try group.setAttribute("weight_names", .strings(names))
            }
            for (variable, name) in zip(variables, names) {
                if let tensor = tensors[variable.name] { try KerasWriting.writeTensor(tensor, at: name, in: group) }
            }
        }
        let topLevel = try weights.createGroup("top_level_model_weights")
        try topLevel.setAttribute("weight_names", .doubles([]))

        guard let training = document.training else { return }
        let optimizer = training.optimizer
        let name = KerasWriting.optimizerName(optimizer.config)
        let group = try h5.createGroup("optimizer_weights")
        var names: [String] = []
        // A LossScaleOptimizer's own variables first: its iteration (never advanced) and learning rate (0), then
        // the loss scale's counter and scale.
        if optimizer.config.dynamicLossScale != nil {
            let wrapper = "loss_scale_optimizer"
            _ = try group.createDataset("\(wrapper)/iteration", shape: [], values: [Int32(0)])
            _ = try group.createDataset("\(wrapper)/learning_rate", shape: [], values: [Float(0)])
            _ = try group.createDataset("\(wrapper)/step_counter", shape: [], values: [Int32(clamping: Int(optimizer.scalar("step_counter")))])
            _ = try group.createDataset("\(wrapper)/dynamic_scale", shape: [], values: [Float(optimizer.scalar("dynamic_scale"))])
            names += ["iteration", "learning_rate", "step_counter", "dynamic_scale"].map { "\(wrapper)/\($0)" }
        }
        // `check` has refused counts over int32.
        _ = try group.createDataset("\(name)/iteration", shape: [], values: [Int32(clamping: optimizer.iterations)])
        names.append("\(name)/iteration")
        // With a schedule Keras keeps no learning_rate variable.
        if optimizer.config.schedule == nil {
            _ = try group.createDataset("\(name)/learning_rate", shape: [], values: [Float(optimizer.config.learningRate)])
            names.append("\(name)/learning_rate")
        }
        let parameterNames = document.parameterNames.map { "\(model)_" + $0.replacingOccurrences(of: "/", with: "_") }
        for variable in KerasWriting.slotVariables(optimizer, parameterCount: parameterNames.count) {
            let path = "\(name)/\(parameterNames[variable.parameter])_\(variable.slot)"
            try KerasWriting.writeTensor(variable.tensor, at: path, in: group)
            names.append(path)
        }
        // Keras creates Nadam's u_product without a name, outside the optimizer's scope: `variable`.
        let unnamed = optimizer.scalars.filter { !KerasOptimizerLayout.namedScalars.contains($0.name) }
        for (offset, scalar) in unnamed.enumerated() {
            let path = offset == 0 ? "variable" : "variable_\(offset)"
            try KerasWriting.writeTensor(KerasOptimizerLayout.scalarTensor(
                scalar.value, dtype: KerasOptimizerLayout.scalarDType(scalar.name, document: document)), at: path, in: group)
            names.append(path)
        }
        try setNames(names, "weight_names", on: group)
    }

    /// Names per attribute. An attribute must fit in its object's 64 KiB header, so Keras splits long name lists
    /// into `layer_names0`, `layer_names1`, … (`save_attributes_to_hdf5_group`) and its readers (and ours) join
    /// them. Ours are variable-length strings, 16 bytes each in the header: the split is by count.
    package static let namesPerAttribute = 2048

    private static func setNames(_ names: [String], _ attribute: String, on object: some HDF5Object) throws(HDF5Error) {
        guard names.count > namesPerAttribute else {
            try object.setAttribute(attribute, .strings(names))
            return
        }
        // Equal parts, as numpy's array_split gives Keras.
        let parts = (names.count + namesPerAttribute - 1) / namesPerAttribute
        for part in 0..<parts {
            let range = (names.count * part / parts)..<(names.count * (part + 1) / parts)
            try object.setAttribute("\(attribute)\(part)", .strings(Array(names[range])))
        }
    }
}

/// Keras 3's native `.keras` zip (docs/keras-formats.md, the .keras layout): entries stored uncompressed, in Keras's order.
package enum KerasZipWriter {
    package static func write(_ document: ModelDocument, toPath path: String, file: String,
                      forceZip64: Bool = false) throws(ModelFileError) {
        let document = try KerasWriting.writable(document, file: file)
        let failure = modelFileFailure(file)
        // model.weights.h5 goes to a file of its own beside the output, then into the archive piece by piece: the
        // weights are never in memory again next to the document (as an HDF5 image, then as the archive).
        let weights: TemporaryFile
        do { weights = try TemporaryFile(nextTo: path) } catch { throw failure(error) }
        do throws(HDF5Error) {
            let h5 = try HDF5File.create(at: weights.path)
            try writeWeights(document, to: h5)
            try h5.close()
        } catch {
            throw ModelFileError(error, file: file)
        }

        let saved = Date()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        var metadataWriter = JSONWriter()
        metadataWriter.beginObject()
        metadataWriter.key("keras_version"); metadataWriter.string(KerasWriting.kerasVersion)
        metadataWriter.key("date_saved"); metadataWriter.string(formatter.string(from: saved))
        let extras = KerasExtras(document)
        if !extras.isEmpty { metadataWriter.key(KerasExtras.key); extras.write(to: &metadataWriter) }
        metadataWriter.endObject()
        let metadata = metadataWriter.finish()
        let config = Array(KerasWriting.modelConfigText(document, native: true).utf8)
        do throws(FileFailure) {
            // The header before the weights holds their CRC-32: one pass over the file for it, one to copy it.
            let size = try weights.size()
            var crc: UInt32 = 0
            try weights.forEachPiece(expectedSize: size) { crc = StoredZip.checksum($0, continuing: crc) }
            let output = try StreamingFile(path: path)
            var archive = StoredZip.Writer<FileFailure>(StoredZip(modified: saved, forceZip64: forceZip64)) {
                bytes throws(FileFailure) in try output.write(bytes)
            }
            for (name, bytes) in [(KerasZipReader.metadataName, metadata), (KerasZipReader.configName, config)] {
                let result = bytes.withUnsafeBytes { raw in
                    Result { () throws(FileFailure) in try archive.add(name: name, bytes: raw) }
                }
                try result.get()
            }
            try archive.add(name: KerasZipReader.weightsName, size: UInt64(size), crc: crc) { write throws(FileFailure) in
                try weights.forEachPiece(expectedSize: size, write)
            }
            try archive.finish()
            try output.finish()
        } catch {
            throw failure(error)
        }
    }

    private static func writeWeights(_ document: ModelDocument, to h5: HDF5File) throws(HDF5Error) {
        // Keys `dense`, `dense_1`, …: what the reader (KerasConfig.readModel) expects for Dense-only models.
        let layersGroup = try h5.createGroup("layers")
        for (index, (layer, key)) in zip(document.architecture.layers, KerasWriting.layerKeys(document.architecture.layers)).enumerated() {
            _ = try layersGroup.createGroup(key)
            let vars = try layersGroup.createGroup("\(key)/vars")
            try vars.setAttribute("name", .string(layer.name))
            for (position, variable) in document.architecture.variables(ofLayer: index).enumerated() {
                if let tensor = document.weights[index][variable.name] {
                    try KerasWriting.writeTensor(tensor, at: String(position), in: vars)
                }
            }
        }
        if let training = document.training {
            let optimizer = training.optimizer
            _ = try h5.createGroup("optimizer")
            let vars = try h5.createGroup("optimizer/vars")
            if optimizer.config.dynamicLossScale != nil {
                // A LossScaleOptimizer saves all its variables (its own four, then its inner optimizer's), and the
                // inner optimizer saves its own again under optimizer/inner_optimizer.
                try vars.setAttribute("name", .string("loss_scale_optimizer"))
                _ = try vars.createDataset("0", shape: [], values: [Int32(0)])
                _ = try vars.createDataset("1", shape: [], values: [Float(0)])
                _ = try vars.createDataset("2", shape: [], values: [Int32(clamping: Int(optimizer.scalar("step_counter")))])
                _ = try vars.createDataset("3", shape: [], values: [Float(optimizer.scalar("dynamic_scale"))])
                try writeOptimizerVariables(optimizer, document: document, to: vars, from: 4)
                _ = try h5.createGroup("optimizer/inner_optimizer")
                let inner = try h5.createGroup("optimizer/inner_optimizer/vars")
                try inner.setAttribute("name", .string(KerasWriting.optimizerName(optimizer.config)))
                try writeOptimizerVariables(optimizer, document: document, to: inner, from: 0)
            } else {
                try vars.setAttribute("name", .string(KerasWriting.optimizerName(optimizer.config)))
                try writeOptimizerVariables(optimizer, document: document, to: vars, from: 0)
            }
        }
        let top = try h5.createGroup("vars")
        try top.setAttribute("name", .string(KerasWriting.modelName(document)))
    }

    /// One optimizer's variables, numbered from `first`: iteration, learning_rate (none with a schedule), the
    /// slots in Keras 3's order, then Nadam's u_product.
    private static func writeOptimizerVariables(_ optimizer: ModelDocument.OptimizerRecord, document: ModelDocument,
                                                to vars: HDF5Group, from first: Int) throws(HDF5Error) {
        _ = try vars.createDataset("\(first)", shape: [], values: [Int32(clamping: optimizer.iterations)])
        if optimizer.config.schedule == nil {
            _ = try vars.createDataset("\(first + 1)", shape: [], values: [Float(optimizer.config.learningRate)])
        }
        let firstSlot = first + (optimizer.config.schedule == nil ? 2 : 1)
        let variables = KerasWriting.slotVariables(optimizer, parameterCount: document.parameterNames.count)
        for (offset, variable) in variables.enumerated() {
            try KerasWriting.writeTensor(variable.tensor, at: "\(offset + firstSlot)", in: vars)
        }
        let unnamed = optimizer.scalars.filter { !KerasOptimizerLayout.namedScalars.contains($0.name) }
        for (offset, scalar) in unnamed.enumerated() {
            try KerasWriting.writeTensor(KerasOptimizerLayout.scalarTensor(
                scalar.value, dtype: KerasOptimizerLayout.scalarDType(scalar.name, document: document)),
                at: "\(firstSlot + variables.count + offset)", in: vars)
        }
    }
}
