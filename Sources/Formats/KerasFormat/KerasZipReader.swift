import FileSupport
import Foundation
import MLPCore
import FormatSupport
import HDF5Support
import JSONSupport
import MLPDocument
import ZipSupport

/// Keras 3 native `.keras` files (docs/keras-formats.md, the .keras layout): a zip whose members are looked up by
/// exact name (`config.json`, `metadata.json`, `model.weights.h5`); nothing is ever unpacked under a member's
/// name. An archive with a member that could escape a folder it were unpacked into (`../x`, `/etc/passwd`) or a
/// symbolic link is refused all the same: Keras never writes one, so the file was crafted, and whoever runs
/// `inspect` on it should hear so rather than have it pass on. The archive is read on demand, and the weights
/// member is copied (CRC-checked) to a private temporary file that HDF5 opens and that is unlinked at once: the
/// weights are in memory once, as tensors, rather than also as the archive's bytes and as an HDF5 image.
package enum KerasZipReader {
    /// Most entries accepted in the archive (Keras writes three, plus assets for some layers).
    package static let maxEntries = 1000
    /// Largest `config.json` / `metadata.json`, decompressed.
    package static let maxJSONBytes = 16 << 20

    package static let configName = "config.json"
    package static let metadataName = "metadata.json"
    package static let weightsName = "model.weights.h5"

    /// Reads the model at `path`. The weights member is copied to a scratch file in `scratchFolder` (default: the
    /// system's temporary folder), removed before this returns.
    package static func read(path: String, limits: LoadLimits,
                             scratchFolder: String? = nil) throws(ModelFileError) -> ModelDocument {
        let archive = try openArchive(path, limits: limits)
        var entries: [String: ZipReader.Entry] = [:]
        for entry in archive.entries {
            if let reason = unsafeMemberReason(entry) {
                throw ModelFileError(file: path, object: "zip member \"\(entry.name)\"", reason: reason
                                     + "; Keras never writes such a member, so the archive is refused (nothing is extracted)")
            }
            guard [configName, metadataName, weightsName].contains(entry.name) else { continue }
            if entries[entry.name] != nil {
                throw ModelFileError(file: path, object: entry.name, reason: "the archive has two entries with this name")
            }
            entries[entry.name] = entry
        }
        func entry(_ name: String) throws(ModelFileError) -> ZipReader.Entry {
            guard let entry = entries[name] else {
                throw ModelFileError(file: path, object: name, reason: "missing from the archive (a .keras file holds "
                                     + "\(configName), \(metadataName) and \(weightsName))")
            }
            return entry
        }
        func member(_ name: String, cap: Int) throws(ModelFileError) -> Data {
            try extract(try entry(name), of: archive, cap: cap, file: path)
        }

        let configData = try member(configName, cap: maxJSONBytes)
        var metadata: [String: String] = [:]
        var extras: KerasExtras?
        if entries[metadataName] != nil {
            // mlpconv's record (KerasExtras) may hold a long history: its own cap.
            let cap = KerasExtras.maxBytes + maxJSONBytes
            let data = try member(metadataName, cap: cap)
            try KerasH5Reader.parse(String(decoding: data, as: UTF8.self), file: path, object: metadataName,
                                    maxBytes: cap) { value throws(JSONError) in
                if let version = try KerasConfig.optionalString(value, "keras_version") { metadata["keras_version"] = version }
                if let date = try KerasConfig.optionalString(value, "date_saved") { metadata["keras_date_saved"] = date }
                if let record = try value.optionalValue(at: KerasExtras.key) { extras = try KerasExtras.read(record) }
            }
        }
        let isKeras2 = metadata["keras_version"].map { !$0.hasPrefix("3.") } ?? false
        let (spec, compiled, trainingNotRead) = try KerasH5Reader.parse(
            String(decoding: configData, as: UTF8.self), file: path, object: configName) {
            root throws(JSONError) -> (KerasModelSpec, Compiled?, String?) in
            let spec = try KerasConfig.readModel(root, isKeras2: isKeras2)
            do throws(JSONError) {
                guard var compiled = try readCompileConfig(root, isKeras2: isKeras2) else { return (spec, nil, nil) }
                if let reason = spec.trainingNotReadReason { return (spec, nil, reason) }
                // Keras 3 compiles a mixed_float16 model with a LossScaleOptimizer around the optimizer it is given,
                // and saves the optimizer it was given: the weights file holds the wrapper's variables.
                if !isKeras2, spec.metadata[KerasConfig.dtypePolicyKey] == "mixed_float16",
                   compiled.optimizer?.dynamicLossScale == nil {
                    compiled.optimizer?.dynamicLossScale = OptimizerConfig.DynamicLossScale()
                }
                return (spec, compiled, nil)
            } catch {
                // The model itself is fine; only its training setup is one mlpconv cannot continue.
                return (spec, nil, KerasConfig.trainingNotReadNote(ModelFileError(file: path, in: configName, error)))
            }
        }

        // The weights file can hold no more than the parameters (float64 at most) and up to three optimizer slots
        // for each, plus HDF5's metadata: anything that inflates past that is refused before it is all in memory.
        var parameterBytes = 0
        var width = spec.inputWidth
        for layer in spec.layers {
            for variable in layer.kind.variables(inputWidth: width) {
                let (count, o1) = variable.shape.reduce((1, false)) { partial, dimension in
                    let (product, o) = partial.0.multipliedReportingOverflow(by: dimension)
                    return (product, partial.1 || o)
                }
                let (sum, o2) = parameterBytes.addingReportingOverflow(count)
                guard !o1, !o2 else { throw ModelFileError(file: path, object: configName, reason: "the model is too large to address") }
                parameterBytes = sum
            }
            width = layer.kind.outputWidth(inputWidth: width)
        }
        let (tensorBytes, overflow) = parameterBytes.multipliedReportingOverflow(by: 8 * 5)
        let weightsCap = min(limits.maxFileBytes, limits.maxTotalBytes, overflow ? Int.max : tensorBytes) + (16 << 20)
        let (h5, weightsSize) = try openWeights(try entry(weightsName), of: archive, cap: weightsCap, file: path,
                                                scratchFolder: scratchFolder)
        var reader = KerasWeightsReader(file: path, objectPrefix: "\(weightsName):", fileSize: weightsSize,
                                        limits: limits)
        var document = ModelDocument(architecture: .init(inputWidth: spec.inputWidth, inputShape: spec.inputShape,
                                                         layers: spec.layers), weights: [])
        document.weights = Array(repeating: ModelDocument.LayerWeights(), count: spec.layers.count)
        for (index, (layer, key)) in zip(spec.layers, KerasWriting.layerKeys(spec.layers)).enumerated() {
            let variables = document.architecture.variables(ofLayer: index)
            guard !variables.isEmpty else { continue }
            let groupPath = "layers/\(key)/vars"
            var present = try reader.wrap(h5.hasMember("layers"))
            if present { present = try reader.wrap(h5.openGroup("layers").hasMember(key)) }
            let className = KerasWriting.kerasClassName(layer.kind)
            guard present else {
                throw reader.fail("/layers/\(key)", "missing: the weights of \(className) layer \"\(layer.name)\"")
            }
            let vars = try reader.wrap(h5.openGroup(groupPath))
            let found = try reader.wrap(vars.members(limit: 64)).count
            guard found == variables.count else {
                throw reader.fail("/\(groupPath)", "holds \(found) variables; \(className) layer \"\(layer.name)\" has "
                                  + "\(variables.count) (\(variables.map(\.name).joined(separator: ", ")))")
            }
            let inputs = document.architecture.inputWidth(ofLayer: index)
            for (position, variable) in variables.enumerated() {
                document.weights[index][variable.name] = try reader.tensor(
                    in: vars, String(position), expected: variable.shape,
                    origin: KerasWriting.origin(of: variable, layer: layer, inputs: inputs))
            }
        }

        document.metadata = spec.metadata.merging(metadata) { $1 }
        if let trainingNotRead { document.metadata[KerasConfig.trainingNotReadKey] = trainingNotRead }
        if let compiled {
            if let note = compiled.legacyRuleNote { document.metadata[KerasConfig.legacyRuleKey] = note }
            if let metrics = compiled.metrics { document.metadata[KerasConfig.metricsKey] = metrics }
            if let config = compiled.optimizer {
                document.training = .init(loss: compiled.loss, optimizer: try readOptimizer(
                    h5, config: config, document: document, isKeras2: isKeras2, reader: &reader))
            } else {
                // Without the optimizer's class its variables cannot be interpreted.
                document.metadata["keras_loss"] = compiled.loss.name
                document.metadata["keras_optimizer_state"] = "not read: compile_config names no optimizer"
            }
        }
        document.metadata["source_format"] = "keras"
        if let name = spec.modelName { document.metadata["keras_model_name"] = name }
        extras?.apply(to: &document)
        do { try document.validate() } catch { throw ModelFileError(file: path, error) }
        return document
    }

    package typealias Compiled = (loss: Loss, optimizer: OptimizerConfig?, legacyRuleNote: String?, metrics: String?)

    /// `compile_config`: the loss, the optimizer (when named), a legacy-rule note and the metrics; nil when the
    /// model was not compiled.
    package static func readCompileConfig(_ root: JSONValue, isKeras2: Bool) throws(JSONError) -> Compiled? {
        guard let compile = try root.optionalValue(at: "compile_config"), compile.kind == .object,
              let lossValue = try compile.optionalValue(at: "loss"), !lossValue.isNull else { return nil }
        let loss = try KerasConfig.readLoss(lossValue)
        try KerasConfig.checkLossWeights(compile)
        var optimizer: OptimizerConfig?
        var note: String?
        if let value = try compile.optionalValue(at: "optimizer"), !value.isNull {
            if value.kind == .string {
                optimizer = OptimizerConfig(try OptimizerKind(kerasClassName: try value.string(), at: value))
            } else {
                let config = try KerasConfig.readOptimizer(value, isKeras2: isKeras2)
                optimizer = config
                note = try KerasConfig.legacyRuleNote(value, config: config)
            }
        }
        return (loss, optimizer, note, try KerasConfig.readMetrics(compile))
    }

    /// `/optimizer/vars/0` iteration, `/1` learning_rate, then the slots in Keras 3's order. Keras 2.13–2.15's
    /// `.keras` files have no learning_rate variable (the slots start at `/1`, in the same order), and their SGD
    /// keeps a momentum per parameter even with momentum 0 (holding the last −lr·g, never fed back: not read).
    private static func readOptimizer(_ h5: HDF5File, config: OptimizerConfig, document: ModelDocument, isKeras2: Bool,
                                      reader: inout KerasWeightsReader) throws(ModelFileError) -> ModelDocument.OptimizerRecord {
        let order = KerasOptimizerLayout.keras3Order(config, parameterCount: document.parameterShapes.count)
        var hasVars = try reader.wrap(h5.hasMember("optimizer"))
        if hasVars { hasVars = try reader.wrap(h5.openGroup("optimizer").hasMember("vars")) }
        let vars = hasVars ? try reader.wrap(h5.openGroup("optimizer/vars")) : nil
        var found = 0
        if let vars { found = try reader.wrap(vars.members(limit: 100_000)).count }
        if found == 0 {
            // An optimizer that was never built (compiled, not trained): fresh state, as Keras would start.
            return .init(config: config, iterations: 0, slots: KerasH5Reader.zeroSlots(config, document),
                         scalars: ModelDocument.OptimizerRecord.initialScalars(config))
        }
        // A LossScaleOptimizer's own variables come first: iteration (never advanced), learning_rate (0),
        // step_counter, dynamic_scale; then its inner optimizer's.
        let base = config.dynamicLossScale != nil ? 4 : 0
        // No learning_rate variable in Keras 2's files, nor in any optimizer that follows a schedule.
        let hasRateVariable = !isKeras2 && config.schedule == nil
        let firstSlot = base + (hasRateVariable ? 2 : 1)
        let unusedMomentums = isKeras2 && config.kind == .sgd && config.momentum == 0
            && found == firstSlot + document.parameterShapes.count
        let scalarNames = config.scalarNames.filter { !KerasOptimizerLayout.namedScalars.contains($0) }
        guard let vars, found == firstSlot + order.count + scalarNames.count || unusedMomentums else {
            throw reader.fail("/optimizer/vars", "holds \(found) variables; \(config.kind.kerasClassName) with these "
                              + "settings keeps " + (base > 0 ? "the LossScaleOptimizer's iteration, learning_rate, step_counter and dynamic_scale, " : "")
                              + "iteration, \(hasRateVariable ? "learning_rate and " : "")\(order.count) slot tensors"
                              + (scalarNames.isEmpty ? "" : " and \(scalarNames.joined(separator: ", "))"))
        }
        let iterations = try reader.integerScalar(in: vars, "\(base)")
        guard iterations >= 0, let count = Int(exactly: iterations) else {
            throw reader.fail("/optimizer/vars/\(base)", "iteration count \(iterations) is negative")
        }
        let shapes = document.parameterShapes, names = document.parameterNames
        var slots: [String: [Tensor]] = [:]
        for (offset, (slot, parameter)) in order.enumerated() {
            let tensor = try reader.tensor(in: vars, "\(offset + firstSlot)", expected: shapes[parameter],
                                           origin: "\(slot) of \(names[parameter])")
            slots[slot, default: []].append(tensor)
        }
        var scalars: [ModelDocument.OptimizerRecord.Scalar] = []
        if base > 0 {
            _ = try reader.integerScalar(in: vars, "0")
            scalars.append(.init(name: "step_counter", value: Double(try reader.integerScalar(in: vars, "2"))))
            scalars.append(.init(name: "dynamic_scale", value: try reader.floatScalar(in: vars, "3")))
        }
        // Nadam's u_product follows the slots.
        for (offset, name) in scalarNames.enumerated() {
            scalars.append(.init(name: name, value: try reader.floatScalar(in: vars, "\(firstSlot + order.count + offset)")))
        }
        return .init(config: config, iterations: count,
                     slots: config.slotNames.map { .init(name: $0, tensors: slots[$0] ?? []) }, scalars: scalars)
    }

    /// Why a member could not be unpacked safely: a symbolic link, an absolute name or a `..` component (zip
    /// slip). Backslashes count as separators, as Windows unzippers treat them.
    package static func unsafeMemberReason(_ entry: ZipReader.Entry) -> String? {
        if entry.isSymbolicLink { return "a symbolic link" }
        let name = entry.name
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: "\\", omittingEmptySubsequences: false) }
        if name.hasPrefix("/") || name.hasPrefix("\\") || components.first?.last == ":" {
            return "an absolute path"
        }
        if components.contains("..") { return "a name that climbs out of the archive with \"..\" (zip slip)" }
        return nil
    }

    /// The archive at `path`: a regular file is read on demand (its records, then the members asked for), anything
    /// else whole, after the same size check.
    private static func openArchive(_ path: String, limits: LoadLimits) throws(ModelFileError) -> ZipReader {
        let source: FileHandle?
        do throws(FileFailure) {
            if case .regular(let size) = FileStatus(path: path) {
                try WholeFile.checkSize(size, limit: limits.maxFileBytes)
                guard let handle = FileHandle(forReadingAtPath: path) else { throw WholeFile.cannotOpen }
                source = handle
            } else {
                source = nil
            }
        } catch {
            throw ModelFileError(file: path, reason: error.reason)
        }
        let bytes = source == nil ? try ModelFileBytes.read(path, limits: limits) : nil
        let archive: ZipReader
        do throws(ZipReader.Failure) {
            if let source {
                archive = try ZipReader(file: source, maxEntries: maxEntries)
            } else {
                archive = try ZipReader(bytes ?? Data(), maxEntries: maxEntries)
            }
        } catch where error.isOverLimit {
            throw ModelFileError(file: path, reason: "\(error); refused (a .keras file holds a few)")
        } catch {
            throw ModelFileError(file: path, reason: "a zip archive that cannot be read as a .keras file: \(error)")
        }
        if archive.size > UInt64(limits.maxFileBytes) {
            throw ModelFileError(file: path, reason: WholeFile.grewPastLimit(limits.maxFileBytes).reason)
        }
        return archive
    }

    /// Copies the weights member (at most `cap` bytes, its CRC-32 checked on the way) to a temporary file, opens
    /// it with HDF5 and unlinks it: HDF5 keeps reading the open file, and no path is left behind. Returns the file
    /// and its size.
    private static func openWeights(_ entry: ZipReader.Entry, of archive: ZipReader, cap: Int, file: String,
                                    scratchFolder: String?) throws(ModelFileError) -> (HDF5File, Int) {
        guard !entry.isDirectory else {
            throw ModelFileError(file: file, object: entry.name, reason: "not a regular file entry")
        }
        let copy: TemporaryFile, output: StreamingFile
        do throws(FileFailure) {
            let base = "mlpconv-\(weightsName)"
            copy = if let scratchFolder { try TemporaryFile(in: scratchFolder, base: base) } else { try TemporaryFile(base: base) }
            output = try StreamingFile(path: copy.path)
        } catch {
            throw ModelFileError(file: file, object: entry.name, reason: "cannot be copied out to be read: \(error.reason)")
        }
        var size = 0
        var writeFailure: FileFailure?
        do {
            try archive.extract(entry, cap: cap) { piece in
                do throws(FileFailure) { try output.write(piece) } catch {
                    writeFailure = error
                    throw error
                }
                size += piece.count
            }
        } catch {
            let reason = writeFailure.map { "cannot be copied out to be read: \($0.reason)" } ?? error.description
            throw ModelFileError(file: file, object: entry.name, reason: reason)
        }
        do throws(FileFailure) { try output.finish() } catch {
            throw ModelFileError(file: file, object: entry.name, reason: "cannot be copied out to be read: \(error.reason)")
        }
        defer { copy.remove() }
        do throws(HDF5Error) {
            return (try HDF5File.openReadOnly(at: copy.path), size)
        } catch {
            throw ModelFileError(file: file, object: weightsName, reason: "not a readable HDF5 file: \(error.reason)")
        }
    }

    /// One member's content, at most `cap` bytes whatever it declares (zip bombs lie); the reader checks the
    /// declared size and CRC-32.
    private static func extract(_ entry: ZipReader.Entry, of archive: ZipReader, cap: Int,
                                file: String) throws(ModelFileError) -> Data {
        guard !entry.isDirectory else {
            throw ModelFileError(file: file, object: entry.name, reason: "not a regular file entry")
        }
        do {
            return try archive.contents(of: entry, cap: cap)
        } catch {
            throw ModelFileError(file: file, object: entry.name, reason: error.description)
        }
    }
}
