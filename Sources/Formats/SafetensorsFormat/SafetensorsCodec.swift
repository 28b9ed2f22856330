import FileSupport
import Foundation
import FormatSupport
import JSONSupport
import MLPCore
import MLPDocument

/// A model as a `.safetensors` file (docs/torch-formats.md, "safetensors"): the weights as `model.state_dict()`
/// of the model's `nn.Sequential` names them (`TorchModules`), so `load_state_dict(load_file(f), strict=True)`
/// works; mlpconv's architecture and training record as JSON texts in `__metadata__` under `mlpconv.*` keys; the
/// optimizer's slots in a sibling file `NAME.optimizer.safetensors` (they would break a strict load), linked to the
/// main file by the optimizer step and a digest of the main file's tensor bytes.
///
/// The container's validation rules are `SafetensorsContainer`'s. On top, reading refuses, each with its message:
/// - a dtype other than F32, F64, F16, BF16 (F16 and BF16 become float32, exactly; `safetensors_dtype` says so),
///   except BatchNorm's `num_batches_tracked` (an I64 scalar);
/// - a tensor over `LoadLimits.maxTensorBytes`, or all of them over `maxTotalBytes`;
/// - `mlpconv.*` texts that do not parse (the native JSON schema's forms), a newer `mlpconv.format_version`;
/// - tensors that are not exactly the recorded architecture's (names, shapes), or — without an architecture —
///   tensors that do not form one chain of Linear/BatchNorm1d/LayerNorm modules, or no `LoadOptions.activations`,
///   or tensors that are not exactly those of the `LoadOptions.sequential` definition;
/// - a sibling whose step and digest match but whose tensors are not exactly the optimizer's slots.
/// A missing sibling, or one written for other weights or another step, is ignored: the model loads without its
/// training record, and `safetensors_training_state` says why.
package enum SafetensorsCodec {
    package static let formatVersion = 1

    package enum Key {
        /// Written by torch's `save_file` conventions: `"pt"`.
        static let format = "format"
        static let formatVersion = "mlpconv.format_version"
        static let architecture = "mlpconv.architecture"
        static let metadata = "mlpconv.metadata"
        static let loss = "mlpconv.loss"
        static let optimizer = "mlpconv.optimizer"
        static let epochsCompleted = "mlpconv.epochs_completed"
        static let randomState = "mlpconv.random_state"
        static let history = "mlpconv.history"
        /// In the sibling: the optimizer step and the main file's digest it was written with.
        static let optimizerStep = "mlpconv.optimizer_step"
        static let weightsDigest = "mlpconv.weights_digest"
    }

    /// Metadata keys the reader adds (never written back).
    package static let dtypeNoteKey = "safetensors_dtype"
    package static let trainingNoteKey = "safetensors_training_state"

    package static func matches(head: [UInt8]) -> Bool { SafetensorsContainer.matches(head: head) }

    /// `model.safetensors` → `model.optimizer.safetensors` (another name gets `.optimizer.safetensors` appended).
    package static func optimizerPath(of path: String) -> String {
        (path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path) + ".optimizer.safetensors"
    }

    // MARK: Reading

    /// Reads `path` and, when the file records a training state, its sibling optimizer file: each header first,
    /// then each tensor's bytes straight from the file into the tensor (the file is never held whole in memory).
    package static func read(path: String, limits: LoadLimits, options: LoadOptions) throws(ModelFileError) -> ModelDocument {
        try decode(try Source(path: path, limits: limits), file: path, limits: limits, options: options,
                   optimizerPath: optimizerPath(of: path))
    }

    /// `optimizerPath`: where the sibling is, read only when the file records a training state.
    package static func decode(
        _ bytes: [UInt8], file: String, limits: LoadLimits, options: LoadOptions = LoadOptions(), optimizerPath: String? = nil
    ) throws(ModelFileError) -> ModelDocument {
        try decode(.memory(bytes), file: file, limits: limits, options: options, optimizerPath: optimizerPath)
    }

    /// Where a container's bytes come from: the file, read at offsets, or bytes already in memory.
    enum Source {
        case file(PositionalFile)
        case memory([UInt8])

        init(path: String, limits: LoadLimits) throws(ModelFileError) {
            do { self = .file(try PositionalFile(path: path, limit: limits.maxFileBytes)) } catch {
                throw ModelFileError(file: path, reason: error.reason)
            }
        }

        var size: Int {
            switch self {
            case .file(let file): file.size
            case .memory(let bytes): bytes.count
            }
        }

        /// The bytes at `offset`, which the caller has checked lie inside `size`.
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int, file: String) throws(ModelFileError) {
            switch self {
            case .file(let positional):
                do { try positional.read(into: buffer, at: offset) } catch {
                    throw ModelFileError(file: file, reason: error.reason)
                }
            case .memory(let bytes):
                guard offset >= 0, offset <= bytes.count - buffer.count else {
                    throw ModelFileError(file: file, reason: "cannot read \(buffer.count) bytes at offset \(offset): the file has \(bytes.count)")
                }
                bytes.withUnsafeBytes { raw in
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + buffer.count)]))
                }
            }
        }

        func bytes(count: Int, at offset: Int, file: String) throws(ModelFileError) -> [UInt8] {
            guard count >= 0, offset >= 0, offset <= size - count else {
                throw ModelFileError(file: file, reason: "cannot read \(count) bytes at offset \(offset): the file has \(size)")
            }
            var bytes = [UInt8](repeating: 0, count: count)
            try bytes.withUnsafeMutableBytes { raw in
                Result { () throws(ModelFileError) in try read(into: raw, at: offset, file: file) }
            }.get()
            return bytes
        }

        /// The container's header, checked (length, JSON, offsets against the size) before any tensor is read.
        func container(file: String) throws(ModelFileError) -> SafetensorsContainer {
            let prefix = try bytes(count: min(8, size), at: 0, file: file)
            let headerLength = try prefix.withUnsafeBytes { raw in
                Result { () throws(ModelFileError) in try SafetensorsContainer.headerLength(prefix: raw, fileSize: size, file: file) }
            }.get()
            let header = try bytes(count: headerLength, at: 8, file: file)
            return try header.withUnsafeBytes { raw in
                Result { () throws(ModelFileError) in try SafetensorsContainer.parse(header: raw, fileSize: size, file: file) }
            }.get()
        }
    }

    private static func decode(
        _ source: Source, file: String, limits: LoadLimits, options: LoadOptions, optimizerPath: String?
    ) throws(ModelFileError) -> ModelDocument {
        let (container, entries, converted) = try tensors(source, file: file, limits: limits)
        let stored = container.metadata ?? [:]
        var document: ModelDocument
        if let architectureText = stored[Key.architecture] {
            document = try mlpconvDocument(stored, architectureText: architectureText, entries: entries, file: file)
            if stored[Key.optimizer] != nil {
                var sibling: (file: String, source: Source)?
                if let optimizerPath, FileManager.default.fileExists(atPath: optimizerPath) {
                    sibling = (optimizerPath, try Source(path: optimizerPath, limits: limits))
                }
                let digest = try digestText(source, from: container.dataStart, file: file)
                switch try training(stored, document: document, file: file, sibling: sibling, digest: digest, limits: limits) {
                case .read(let record): document.training = record
                case .notRead(let why): document.metadata[trainingNoteKey] = why
                }
            }
        } else {
            do {
                let (architecture, weights) = try TorchModules.document(entries: entries, architecture: nil,
                                                                        activations: options.activations,
                                                                        sequential: options.sequential)
                document = ModelDocument(architecture: architecture, weights: weights)
            } catch {
                throw ModelFileError(file: file, error)
            }
            for (key, value) in stored where key != Key.format { document.metadata[key] = value }
            document.metadata["source_format"] = "safetensors"
        }
        if !converted.isEmpty {
            document.metadata[dtypeNoteKey] = converted.sorted { $0.key < $1.key }
                .map { "\($0.value) \($0.key) tensor\($0.value == 1 ? "" : "s") converted to float32" }.joined(separator: ", ")
        }
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        return document
    }

    /// The container's tensors as state-dict values, checked against the limits; `converted` counts the F16/BF16
    /// tensors by dtype name.
    private static func tensors(
        _ source: Source, file: String, limits: LoadLimits
    ) throws(ModelFileError) -> (SafetensorsContainer, [(name: String, value: TorchModules.Value)], [String: Int]) {
        let container = try source.container(file: file)
        var entries: [(name: String, value: TorchModules.Value)] = []
        var converted: [String: Int] = [:]
        var total = 0
        for entry in container.entries {
            let object = "tensor \"\(entry.name)\""
            let start = container.dataStart + entry.begin, end = container.dataStart + entry.end
            let count = (end - start) * 8 / entry.dtype.bitSize
            let decodedBytes = entry.dtype == .F64 || entry.dtype == .I64 ? count * 8 : count * 4
            guard decodedBytes <= limits.maxTensorBytes else {
                throw ModelFileError(file: file, object: object, reason: "\(decodedBytes) bytes exceed the limit of \(limits.maxTensorBytes) per tensor")
            }
            total += decodedBytes
            guard total <= limits.maxTotalBytes else {
                throw ModelFileError(file: file, object: object, reason: "the tensors up to this one take \(total) bytes, over the limit of \(limits.maxTotalBytes)")
            }
            let value: TorchModules.Value
            switch entry.dtype {
            case .F32, .F64:
                // Straight from the file into the tensor's storage; the offsets check made the byte count exact.
                let storage: Tensor.Storage = entry.dtype == .F32
                    ? .float32(try values(count: count, of: Float.self, from: source, at: start, file: file))
                    : .float64(try values(count: count, of: Double.self, from: source, at: start, file: file))
                do { value = .tensor(try Tensor(shape: entry.shape, storage: storage)) } catch {
                    throw ModelFileError(file: file, object: object, reason: error.description)
                }
            case .F16, .BF16:
                let bytes = try source.bytes(count: end - start, at: start, file: file)
                var values = [Float](repeating: 0, count: count)
                var index = 0
                for position in 0..<count {
                    let half = UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8
                    values[position] = entry.dtype == .BF16 ? Float(bitPattern: UInt32(half) << 16) : float(fromHalf: half)
                    index += 2
                }
                value = .tensor(Tensor(unchecked: entry.shape, storage: .float32(values)))
                converted[entry.dtype.rawValue, default: 0] += 1
            case .I64 where entry.shape.isEmpty && entry.name.hasSuffix(".num_batches_tracked"):
                let bytes = try source.bytes(count: 8, at: start, file: file)
                var number: UInt64 = 0
                for offset in (0..<8).reversed() { number = number << 8 | UInt64(bytes[offset]) }
                value = .int64Scalar(Int64(bitPattern: number))
            default:
                throw ModelFileError(file: file, object: object, reason: "dtype \(entry.dtype.rawValue) is not supported "
                    + "(mlpconv reads F32, F64, F16 and BF16 tensors, and I64 only for a BatchNorm's num_batches_tracked)")
            }
            entries.append((entry.name, value))
        }
        return (container, entries, converted)
    }

    /// `count` little-endian values read from `source` at `offset` into a new array.
    private static func values<Element: BinaryFloatingPoint>(
        count: Int, of _: Element.Type, from source: Source, at offset: Int, file: String
    ) throws(ModelFileError) -> [Element] {
        var failure: ModelFileError?
        let values = [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(ModelFileError) {
                try source.read(into: UnsafeMutableRawBufferPointer(buffer), at: offset, file: file)
                initialized = count
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return values
    }

    /// `tensors`' values by name, with the names in file order.
    private static func namedTensors(
        _ source: Source, file: String, limits: LoadLimits
    ) throws(ModelFileError) -> (SafetensorsContainer, [String], [String: TorchModules.Value]) {
        let (container, entries, _) = try tensors(source, file: file, limits: limits)
        return (container, entries.map(\.name), Dictionary(entries, uniquingKeysWith: { first, _ in first }))
    }

    /// IEEE 754 binary16 → binary32, exact (every half is a float).
    static func float(fromHalf half: UInt16) -> Float {
        let sign = UInt32(half & 0x8000) << 16
        let exponent = Int(half >> 10 & 0x1F), fraction = UInt32(half & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: fraction × 2^-24.
            let magnitude = Float(fraction) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | fraction << 13)
        default:
            return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | fraction << 13)
        }
    }

    private static func mlpconvDocument(
        _ stored: [String: String], architectureText: String, entries: [(name: String, value: TorchModules.Value)], file: String
    ) throws(ModelFileError) -> ModelDocument {
        let versionText = stored[Key.formatVersion] ?? ""
        guard let version = Int(versionText), version >= 1 else {
            throw ModelFileError(file: file, object: metadataObject(Key.formatVersion),
                                 reason: "expected a layout version such as \"1\", found \"\(versionText)\"")
        }
        guard version <= formatVersion else {
            throw ModelFileError(file: file, object: metadataObject(Key.formatVersion),
                                 reason: "layout version \(version) is newer than this build reads (\(formatVersion))")
        }
        let architecture = try DocumentJSON.readArchitecture(text: architectureText, file: file,
                                                             object: metadataObject(Key.architecture))
        var document: ModelDocument
        do {
            let (_, weights) = try TorchModules.document(entries: entries, architecture: architecture, activations: nil)
            document = ModelDocument(architecture: architecture, weights: weights)
        } catch {
            throw ModelFileError(file: file, error)
        }
        if let text = stored[Key.metadata] {
            try parseJSON(text, file: file, key: Key.metadata) { root throws(JSONError) in
                for (key, value) in try root.members() { document.metadata[key] = try value.string() }
            }
        }
        return document
    }

    private enum TrainingOutcome {
        case read(ModelDocument.TrainingRecord)
        /// A missing or stale sibling: the reason, for the metadata.
        case notRead(String)
    }

    /// The training record from the main file's texts and the sibling's slots, or why it was left out.
    private static func training(
        _ stored: [String: String], document: ModelDocument, file: String, sibling: (file: String, source: Source)?,
        digest: String, limits: LoadLimits
    ) throws(ModelFileError) -> TrainingOutcome {
        func text(_ key: String) throws(ModelFileError) -> String {
            guard let value = stored[key] else {
                throw ModelFileError(file: file, object: metadataObject(key), reason: "missing (\(Key.optimizer) is present)")
            }
            return value
        }
        let loss = try DocumentJSON.readLoss(text: try text(Key.loss), file: file, object: metadataObject(Key.loss))
        var config: OptimizerConfig?
        var iterations = 0
        var scalars: [ModelDocument.OptimizerRecord.Scalar] = []
        try parseJSON(try text(Key.optimizer), file: file, key: Key.optimizer) { root throws(JSONError) in
            try DocumentJSON.requireKeys(root, allowed: ["name", "hyperparameters", "iterations", "scalars"])
            let kind = try DocumentJSON.named(root, "name", OptimizerKind.init(name:), OptimizerKind.acceptedNames, what: "optimizer")
            let parsed = try DocumentJSON.readOptimizerConfig(kind: kind, hyperparameters: try root.object(at: "hyperparameters"))
            iterations = try root.value(at: "iterations").int(atLeast: 0)
            let scalarsValue = try root.object(at: "scalars")
            let keys = try scalarsValue.keys()
            guard Set(keys) == Set(parsed.scalarNames), keys.count == parsed.scalarNames.count else {
                throw scalarsValue.error(.value, "expected the scalars \(kind.name) keeps: "
                    + (parsed.scalarNames.isEmpty ? "none" : parsed.scalarNames.joined(separator: ", ")))
            }
            for name in parsed.scalarNames { scalars.append(.init(name: name, value: try scalarsValue.value(at: name).double())) }
            config = parsed
        }
        guard let config else { throw ModelFileError(file: file, object: metadataObject(Key.optimizer), reason: "missing") }
        let epochsText = try text(Key.epochsCompleted)
        guard let epochs = Int(epochsText), epochs >= 0 else {
            throw ModelFileError(file: file, object: metadataObject(Key.epochsCompleted), reason: "expected an integer ≥ 0, found \"\(epochsText)\"")
        }
        var randomState: RandomState?
        if let stateText = stored[Key.randomState] {
            try parseJSON(stateText, file: file, key: Key.randomState) { root throws(JSONError) in
                randomState = try DocumentJSON.readRandomState(root)
            }
        }
        let history = try DocumentJSON.readHistory(text: try text(Key.history), file: file, object: metadataObject(Key.history))

        let siblingName = URL(fileURLWithPath: optimizerPath(of: file)).lastPathComponent
        guard let sibling else {
            return .notRead("not read: the optimizer file \(siblingName) is missing")
        }
        // By name, so that each slot tensor is let go as soon as its document-layout copy is made: the sibling's
        // tensors are never all held twice.
        var (container, names, values) = try namedTensors(sibling.source, file: sibling.file, limits: limits)
        let link = container.metadata ?? [:]
        guard link[Key.weightsDigest] == digest, link[Key.optimizerStep] == String(iterations) else {
            return .notRead("not read: \(siblingName) was written for other weights or another step "
                + "(its step \(link[Key.optimizerStep] ?? "none"), the model's \(iterations))")
        }
        let parameterNames: [String]
        do { parameterNames = try TorchModules.parameterNames(of: document) } catch { throw ModelFileError(file: file, error) }
        var byName: [String: Tensor] = [:]
        for name in names {
            guard case .tensor(let tensor)? = values.removeValue(forKey: name) else {
                throw ModelFileError(file: sibling.file, object: "tensor \"\(name)\"", reason: "expected a float tensor")
            }
            byName[name] = tensor
        }
        let variables = document.parameterVariables
        var slots: [ModelDocument.OptimizerRecord.Slot] = []
        var used = Set<String>()
        for slot in config.slotNames {
            var tensors: [Tensor] = []
            for (parameter, variable) in zip(parameterNames, variables) {
                let name = "\(slot).\(parameter)"
                let expected = variable.name == "kernel" ? Array(variable.shape.reversed()) : variable.shape
                let found = byName.removeValue(forKey: name)
                guard let tensor = found, tensor.shape == expected else {
                    throw ModelFileError(file: sibling.file, object: "tensor \"\(name)\"", reason: found == nil
                        ? "missing (\(config.kind.name) keeps the slots \(config.slotNames.joined(separator: ", ")) for every parameter)"
                        : "expected shape \(expected), got \(found?.shape ?? [])")
                }
                tensors.append(TorchModules.documentLayout(tensor, variable: variable.name))
                used.insert(name)
            }
            slots.append(.init(name: slot, tensors: tensors))
        }
        if let extra = names.first(where: { !used.contains($0) }) {
            throw ModelFileError(file: sibling.file, object: "tensor \"\(extra)\"",
                                 reason: "unexpected (\(config.kind.name) keeps " + (config.slotNames.isEmpty ? "no slots)" : "the slots \(config.slotNames.joined(separator: ", ")))"))
        }
        let optimizer = ModelDocument.OptimizerRecord(config: config, iterations: iterations, slots: slots, scalars: scalars)
        return .read(ModelDocument.TrainingRecord(loss: loss, optimizer: optimizer, epochsCompleted: epochs,
                                                     randomState: randomState, history: history))
    }

    private static func metadataObject(_ key: String) -> String { "header $.__metadata__[\"\(key)\"]" }

    private static func parseJSON(
        _ text: String, file: String, key: String, _ body: (JSONValue) throws(JSONError) -> Void
    ) throws(ModelFileError) {
        try DocumentJSON.parse(text: text, file: file, object: metadataObject(key), body)
    }

    // MARK: Writing

    package struct Encoded {
        package var model: [UInt8]
        /// The sibling `NAME.optimizer.safetensors`, when the document has a training record.
        package var optimizer: [UInt8]?
    }

    /// Both files in memory (tests); `write` and `writeOptimizer` stream the same bytes to disk.
    package static func encode(_ document: ModelDocument, file: String) throws(ModelFileError) -> Encoded {
        var model: [UInt8] = []
        let digest = try emit(try modelContent(document, file: file), file: file) { bytes throws(ModelFileError) in
            model.append(contentsOf: bytes)
        }
        guard document.training != nil else { return Encoded(model: model, optimizer: nil) }
        var optimizer: [UInt8] = []
        _ = try emit(try optimizerContent(document, digest: digest, file: file), file: file) { bytes throws(ModelFileError) in
            optimizer.append(contentsOf: bytes)
        }
        return Encoded(model: model, optimizer: optimizer)
    }

    /// Writes the model file to `path` (which must exist: `AtomicFile.replace`'s temporary file), each tensor's
    /// bytes straight from the document through one buffer. Returns the digest `writeOptimizer` links the sibling
    /// with, when the document has a training record.
    package static func write(_ document: ModelDocument, toPath path: String, file: String) throws(ModelFileError) -> String? {
        let digest = try stream(try modelContent(document, file: file), toPath: path, file: file)
        return document.training == nil ? nil : digest
    }

    /// Writes the sibling optimizer file of a document with a training record to `path`, linked by `digest`.
    package static func writeOptimizer(
        _ document: ModelDocument, digest: String, toPath path: String, file: String
    ) throws(ModelFileError) {
        _ = try stream(try optimizerContent(document, digest: digest, file: file), toPath: path, file: file)
    }

    /// A file's tensors, each in the document's layout until it is written, and its metadata.
    private struct Content {
        var entries: [(name: String, value: TorchModules.Value, variable: String)]
        var metadata: [String: String]
    }

    private static func modelContent(_ document: ModelDocument, file: String) throws(ModelFileError) -> Content {
        let entries: [(name: String, value: TorchModules.Value, variable: String)]
        do {
            entries = try TorchModules.documentLayoutEntries(of: document).entries
        } catch {
            throw ModelFileError(file: file, object: error.object, reason: "cannot be written as a torch model: \(error.reason)")
        }
        var metadata = [Key.format: "pt", Key.formatVersion: String(formatVersion),
                        Key.architecture: DocumentJSON.architectureText(document.architecture)]
        if !document.metadata.isEmpty {
            var writer = JSONWriter()
            writer.beginObject()
            for key in document.metadata.keys.sorted() { writer.key(key); writer.string(document.metadata[key] ?? "") }
            writer.endObject()
            metadata[Key.metadata] = String(decoding: writer.finish(), as: UTF8.self)
        }
        if let training = document.training {
            metadata[Key.loss] = DocumentJSON.lossText(training.loss)
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("name"); writer.string(training.optimizer.config.kind.name)
            writer.key("hyperparameters"); DocumentJSON.write(hyperparameters: training.optimizer.config, to: &writer)
            writer.key("iterations"); writer.integer(training.optimizer.iterations)
            writer.key("scalars"); writer.beginObject()
            for scalar in training.optimizer.scalars { writer.key(scalar.name); writer.number(scalar.value) }
            writer.endObject()
            writer.endObject()
            metadata[Key.optimizer] = String(decoding: writer.finish(), as: UTF8.self)
            metadata[Key.epochsCompleted] = String(training.epochsCompleted)
            if let state = training.randomState {
                var stateWriter = JSONWriter()
                DocumentJSON.write(state, to: &stateWriter)
                metadata[Key.randomState] = String(decoding: stateWriter.finish(), as: UTF8.self)
            }
            metadata[Key.history] = DocumentJSON.historyText(training.history)
        }
        return Content(entries: entries, metadata: metadata)
    }

    private static func optimizerContent(_ document: ModelDocument, digest: String, file: String) throws(ModelFileError) -> Content {
        guard let training = document.training else { return Content(entries: [], metadata: [:]) }
        let parameterNames: [String]
        do {
            parameterNames = try TorchModules.parameterNames(of: document)
        } catch {
            throw ModelFileError(file: file, object: error.object, reason: "cannot be written as a torch model: \(error.reason)")
        }
        let variables = document.parameterVariables
        var entries: [(name: String, value: TorchModules.Value, variable: String)] = []
        for slot in training.optimizer.slots {
            for ((parameter, variable), tensor) in zip(zip(parameterNames, variables), slot.tensors) {
                entries.append(("\(slot.name).\(parameter)", .tensor(tensor), variable.name))
            }
        }
        return Content(entries: entries, metadata: [
            Key.format: "pt", Key.optimizerStep: String(training.optimizer.iterations), Key.weightsDigest: digest,
        ])
    }

    private static func stream(_ content: Content, toPath path: String, file: String) throws(ModelFileError) -> String {
        let out: StreamingFile
        do { out = try StreamingFile(path: path) } catch { throw ModelFileError(file: file, reason: error.reason) }
        let digest = try emit(content, file: file) { bytes throws(ModelFileError) in
            do throws(FileFailure) { try out.write(bytes) } catch { throw ModelFileError(file: file, reason: error.reason) }
        }
        do { try out.finish() } catch { throw ModelFileError(file: file, reason: error.reason) }
        return digest
    }

    /// Hands `sink` the file's bytes in order — the reference writer's header (`SafetensorsContainer.header`), then
    /// each tensor, put into torch's layout one at a time — and returns the digest of the tensor bytes.
    private static func emit(
        _ content: Content, file: String, to sink: (UnsafeRawBufferPointer) throws(ModelFileError) -> Void
    ) throws(ModelFileError) -> String {
        let layouts = content.entries.map { entry -> SafetensorsContainer.Layout in
            switch entry.value {
            case .tensor(let tensor):
                let shape = entry.variable == "kernel" ? Array(tensor.shape.reversed()) : tensor.shape
                return .init(name: entry.name, dtype: tensor.dtype == .float32 ? .F32 : .F64, shape: shape, byteCount: tensor.byteCount)
            case .int64Scalar:
                return .init(name: entry.name, dtype: .I64, shape: [], byteCount: 8)
            }
        }
        let (header, order) = SafetensorsContainer.header(layouts, metadata: content.metadata)
        try header.withUnsafeBytes { raw in Result { () throws(ModelFileError) in try sink(raw) } }.get()
        var digest = Digest()
        for index in order {
            switch content.entries[index].value {
            case .tensor(let tensor):
                try TorchModules.forEachTorchLayoutChunk(tensor, variable: content.entries[index].variable) {
                    (raw: UnsafeRawBufferPointer) throws(ModelFileError) in
                    digest.add(raw)
                    try sink(raw)
                }
            case .int64Scalar(let number):
                let result = withUnsafeBytes(of: UInt64(bitPattern: number).littleEndian) { raw in
                    digest.add(raw)
                    return Result { () throws(ModelFileError) in try sink(raw) }
                }
                try result.get()
            }
        }
        return digest.text
    }

    /// FNV-1a (64-bit) of the main file's tensor bytes: enough to tell a sibling written for other weights; not
    /// a defence against a forger, who could as well rewrite both files.
    struct Digest {
        private var hash: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func add(_ bytes: UnsafeRawBufferPointer) {
            var hash = self.hash
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            self.hash = hash
        }

        var text: String {
            let digits = String(hash, radix: 16)
            return "fnv1a64:" + String(repeating: "0", count: 16 - digits.count) + digits
        }
    }

    /// The digest of the bytes from `offset` to the end, read a chunk at a time.
    private static func digestText(_ source: Source, from offset: Int, file: String) throws(ModelFileError) -> String {
        var digest = Digest()
        var chunk = [UInt8](repeating: 0, count: min(1 << 20, max(source.size - offset, 0)))
        var position = offset
        while position < source.size {
            let count = min(chunk.count, source.size - position)
            try chunk.withUnsafeMutableBytes { raw in
                Result { () throws(ModelFileError) in
                    let part = UnsafeMutableRawBufferPointer(rebasing: raw[0..<count])
                    try source.read(into: part, at: position, file: file)
                    digest.add(UnsafeRawBufferPointer(part))
                }
            }.get()
            position += count
        }
        return digest.text
    }
}
