import FormatSupport
import Foundation
import JSONSupport
import MLPCore
import MLPDocument
import PickleSupport

/// Reads what `torch.save` writes (docs/torch-formats.md, "PyTorch checkpoints"): a bare `state_dict`, or a training
/// checkpoint dict with the model under `model_state_dict`/`state_dict`/`model`, the optimizer under
/// `optimizer_state_dict`/`optimizer`, and scalars (`epoch`, `loss`, …) kept as `torch.<key>` metadata.
///
/// The pickle goes through `PickleSupport`'s restricted unpickler (what `torch.load(weights_only=True)` accepts) and
/// every storage is checked against its zip member before use. On top, reading refuses, each with its message:
/// - a root that is neither a dict of tensors nor a dict holding one under a model key;
/// - a model entry that is not a float tensor (BatchNorm's `num_batches_tracked` is an int64 scalar);
/// - tensors that do not form the recorded (`mlpconv_architecture`) or an inferable layer chain, or no
///   `LoadOptions.activations`/`LoadOptions.sequential` for a file without an architecture;
/// - an optimizer state with several param groups, params that are not the model's parameters in order, slots
///   missing or of the wrong shape, per-parameter steps that differ, or a class the file cannot tell without
///   `LoadOptions.optimizer` (Adam vs AdamW from torch before 2.4 with weight decay).
/// An optimizer mlpconv has no rule for, or a checkpoint without a recorded loss and no `LoadOptions.loss`, loads
/// without a training record; `torch_training_state` says why.
package enum TorchCheckpointReader {
    package static let trainingNoteKey = "torch_training_state"
    package static let dtypeNoteKey = "torch_dtype"

    static let modelKeys = ["model_state_dict", "state_dict", "model"]
    static let optimizerKeys = ["optimizer_state_dict", "optimizer"]

    /// Whether the file's first bytes are a torch.save file's: a zip whose first member is `<name>/data.pkl` (which
    /// torch.save writes first; a local file header's name), or the legacy format's magic number.
    package static func matches(head: [UInt8]) -> Bool {
        // The legacy format is claimed only so that its reader can say what it is.
        if head.starts(with: TorchArchive.legacyMagic) { return true }
        guard head.count >= 30, head.starts(with: [0x50, 0x4B, 0x03, 0x04]) else { return false }
        let nameLength = Int(head[26]) | Int(head[27]) << 8
        guard nameLength > 0, 30 + nameLength <= head.count else { return false }
        let name = String(decoding: head[30..<30 + nameLength], as: UTF8.self)
        // A damaged archive may start with another of torch's members; its reader then says what is missing.
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return name == "data.pkl" }
        let member = parts.dropFirst().joined(separator: "/")
        return ["data.pkl", "byteorder", "version", ".format_version", ".storage_alignment", ".data/version",
                ".data/serialization_id"].contains(member) || (parts.count == 3 && parts[1] == "data")
    }

    package static func read(path: String, limits: LoadLimits, options: LoadOptions) throws(ModelFileError) -> ModelDocument {
        let archive: TorchArchive
        do {
            // A tensor's elements are bounded by the file's size (PickleSupport's default): only a zero-stride view
            // could claim more, and none of the tensors a model holds is one.
            archive = try TorchArchive(contentsOf: path, limits: TorchArchiveLimits(maxFileBytes: limits.maxFileBytes))
        } catch {
            throw ModelFileError(file: path, object: error.object.isEmpty ? nil : error.object, reason: error.reason)
        }
        return try decode(archive, file: path, limits: limits, options: options)
    }

    package static func decode(_ archive: TorchArchive, file: String, limits: LoadLimits,
                       options: LoadOptions) throws(ModelFileError) -> ModelDocument {
        guard case .dict(let root) = archive.root else {
            throw ModelFileError(file: file, object: "data.pkl", reason: "expected a dict (a state_dict or a checkpoint), found \(describe(archive.root))")
        }
        let reader = ValueReader(archive: archive, file: file, limits: limits)
        let isStateDict = !root.entries.isEmpty && root.entries.allSatisfy { if case .tensor = $0.value { true } else { false } }
        var modelPath = "data.pkl"
        var stateDict = root
        var checkpoint: PickleDict?
        if !isStateDict {
            guard let key = modelKeys.first(where: { root[$0] != nil }), case .dict(let model)? = root[key] else {
                throw ModelFileError(file: file, object: "data.pkl", reason: "neither a state_dict (a dict of tensors) nor a checkpoint dict with "
                    + modelKeys.map { "\"\($0)\"" }.joined(separator: ", ") + "; its keys are " + keyList(root))
            }
            modelPath = "[\"\(key)\"]"
            stateDict = model
            checkpoint = root
        }
        var entries: [(name: String, value: TorchModules.Value)] = []
        var narrowed: Set<String> = []
        for entry in stateDict.entries {
            guard case .string(let name) = entry.key else {
                throw ModelFileError(file: file, object: modelPath, reason: "a key is \(describe(entry.key)), not a tensor name")
            }
            let object = "\(modelPath)[\"\(name)\"]"
            guard case .tensor(let reference) = entry.value else {
                throw ModelFileError(file: file, object: object, reason: "expected a tensor, found \(describe(entry.value))")
            }
            let value = try reader.stateValue(reference, object: object)
            if reference.storage.dtype == .float16 || reference.storage.dtype == .bfloat16 { narrowed.insert(reference.storage.dtype.rawValue) }
            entries.append((name, value))
        }

        var strings: [String: String] = [:]
        var metadata: [String: String] = [:]
        for entry in checkpoint?.entries ?? [] {
            guard case .string(let key) = entry.key else { continue }
            if modelKeys.contains(key) || optimizerKeys.contains(key) { continue }
            if TorchCheckpointRecord.keys.contains(key) {
                guard case .string(let text) = entry.value else {
                    throw ModelFileError(file: file, object: "[\"\(key)\"]", reason: "expected a string (mlpconv's JSON text), found \(describe(entry.value))")
                }
                strings[key] = text
                continue
            }
            metadata["torch.\(key)"] = scalarText(entry.value) ?? "(\(describe(entry.value)), not read)"
        }
        if strings[TorchCheckpointRecord.Key.training] != nil {
            // mlpconv wrote these from its record, which holds them exactly.
            metadata["torch.epoch"] = nil
            metadata["torch.loss"] = nil
        }

        let record = try TorchCheckpointRecord.read(strings, file: file)
        var document: ModelDocument
        do {
            let (architecture, weights) = try TorchModules.document(
                entries: entries, architecture: record?.architecture, activations: options.activations, sequential: options.sequential)
            document = ModelDocument(architecture: architecture, weights: weights)
        } catch {
            // Tensor names are within the model entry; the definition's errors are not.
            let isTensor = !error.object.hasPrefix("[") && error.object != TorchSequential.object
            throw ModelFileError(file: file, object: isTensor ? "\(modelPath)[\"\(error.object)\"]" : error.object,
                                 reason: error.reason)
        }
        if let record { document.metadata.merge(record.metadata) { _, new in new } }
        document.metadata.merge(metadata) { _, new in new }
        if !narrowed.isEmpty {
            document.metadata[dtypeNoteKey] = "stored as \(narrowed.sorted().joined(separator: " and ")); read as float32 (exactly)"
        }

        if let key = optimizerKeys.first(where: { checkpoint?[$0] != nil }), let value = checkpoint?[key] {
            let state = try TorchOptimizerState.read(value, object: "[\"\(key)\"]", document: document, reader: reader,
                                                     hint: options.optimizer, recordedIterations: record?.iterations)
            switch state {
            case .read(let optimizer):
                if let loss = record?.loss ?? options.loss {
                    document.training = ModelDocument.TrainingRecord(
                        loss: loss, optimizer: optimizer, epochsCompleted: record?.epochsCompleted ?? epochs(checkpoint) ?? 0,
                        randomState: record?.randomState, history: record?.history ?? [])
                } else {
                    document.metadata[trainingNoteKey] = "not read: a torch checkpoint does not record its loss; give --loss "
                        + "(e.g. --loss CrossEntropyLoss) to keep the \(optimizer.config.kind.name) state (step \(optimizer.iterations))"
                }
            case .notRead(let reason):
                document.metadata[trainingNoteKey] = "not read: \(reason)"
            }
        }
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        return document
    }

    /// A checkpoint's `epoch`, when it is a non-negative integer (torch's usual meaning: epochs completed).
    private static func epochs(_ checkpoint: PickleDict?) -> Int? {
        if case .int(let epoch)? = checkpoint?["epoch"], epoch >= 0, let value = Int(exactly: epoch) { return value }
        return nil
    }

    static func keyList(_ dict: PickleDict) -> String {
        let keys = dict.entries.prefix(8).map { scalarText($0.key) ?? describe($0.key) }
        return keys.isEmpty ? "none" : keys.joined(separator: ", ") + (dict.entries.count > 8 ? ", …" : "")
    }

    /// Python's text of a scalar (`3`, `0.25`, `True`, `None`, a string), nil for anything else.
    static func scalarText(_ value: PickleValue) -> String? {
        switch value {
        case .none: "None"
        case .bool(let flag): flag ? "True" : "False"
        case .int(let integer): String(integer)
        case .float(let number): TorchModules.python(number)
        case .string(let text): text
        default: nil
        }
    }

    static func describe(_ value: PickleValue) -> String {
        switch value {
        case .none: "None"
        case .bool: "a bool"
        case .int: "an int"
        case .float: "a float"
        case .complex: "a complex number"
        case .string: "a string"
        case .bytes: "bytes"
        case .tuple: "a tuple"
        case .list: "a list"
        case .set: "a set"
        case .dict: "a dict"
        case .tensor(let tensor): "a \(tensor.storage.dtype.qualifiedName) tensor of shape \(tensor.shape)"
        case .dtype(let dtype): dtype.qualifiedName
        case .device: "a torch.device"
        case .size: "a torch.Size"
        case .layout: "a layout"
        }
    }
}

/// Reads tensors out of the archive as the document needs them, within the load limits.
struct ValueReader {
    let archive: TorchArchive
    let file: String
    let limits: LoadLimits

    /// A state-dict entry: a float tensor (float16/bfloat16 widened to float32) or an int64 scalar.
    func stateValue(_ reference: TensorReference, object: String) throws(ModelFileError) -> TorchModules.Value {
        let tensor = try values(reference, object: object)
        switch tensor.values {
        case .int64(let integers):
            guard tensor.shape.isEmpty, let value = integers.first else {
                throw ModelFileError(file: file, object: object, reason: "an int64 tensor of shape \(tensor.shape): only BatchNorm's num_batches_tracked scalar may be an integer")
            }
            return .int64Scalar(value)
        case .float, .double:
            return .tensor(try floatTensor(tensor, object: object))
        }
    }

    func values(_ reference: TensorReference, object: String) throws(ModelFileError) -> TorchTensor {
        let elementSize = reference.storage.dtype.elementSize ?? 1
        // The archive bounded every view by its storage when it opened; this applies the caller's tensor cap.
        let limit = Int64(limits.maxTensorBytes / max(elementSize, 1))
        var elements: Int64 = 1
        for size in reference.shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: max(size, 0))
            guard !overflow, product <= limit else {
                throw ModelFileError(file: file, object: object, reason: "shape \(reference.shape) exceeds the tensor limit of \(limits.maxTensorBytes) bytes")
            }
            elements = product
        }
        do {
            return try archive.tensor(reference, at: object)
        } catch {
            throw ModelFileError(file: file, object: error.object.isEmpty ? object : error.object, reason: error.reason)
        }
    }

    func floatTensor(_ tensor: TorchTensor, object: String) throws(ModelFileError) -> Tensor {
        func make(_ body: () throws(TensorError) -> Tensor) throws(ModelFileError) -> Tensor {
            do { return try body() } catch { throw ModelFileError(file: file, object: object, reason: error.description) }
        }
        switch tensor.values {
        case .float(let floats): return try make { () throws(TensorError) in try Tensor(shape: tensor.shape, float32: floats) }
        case .double(let doubles): return try make { () throws(TensorError) in try Tensor(shape: tensor.shape, float64: doubles) }
        case .int64:
            throw ModelFileError(file: file, object: object, reason: "expected a float tensor, found \(tensor.dtype.qualifiedName)")
        }
    }
}
