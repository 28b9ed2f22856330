import FileSupport
import FormatSupport
import Foundation
import MLPCore
import MLPDocument
import PickleSupport

/// Writes a training checkpoint that `torch.load(f, weights_only=True)` loads (docs/torch-formats.md, "PyTorch
/// checkpoints"): `{"model_state_dict": …, "optimizer_state_dict": …, "epoch": …}` with the weights named as the
/// model's `nn.Sequential` names them, the optimizer state in torch.optim's own `state_dict()` layout, and mlpconv's
/// record (architecture, loss, history, generator state, metadata) as JSON strings.
///
/// The optimizer must be one of the `torch_*` kinds: the façade translates a Keras optimizer before it gets here
/// (ModelDocument+OptimizerTranslation.swift). A document whose optimizer is not a torch kind is refused.
package enum TorchCheckpointWriter {
    /// Writes the checkpoint to `path` (which must exist: `AtomicFile.replace`'s temporary file) through one
    /// buffer, each storage straight from the document's tensors (a kernel transposed into torch's layout just
    /// before it is written), so the output is never held in memory next to the document.
    package static func write(_ document: ModelDocument, toPath path: String, file: String) throws(ModelFileError) {
        let prepared = try prepare(document, file: file)
        let out: StreamingFile
        do { out = try StreamingFile(path: path) } catch { throw ModelFileError(file: file, reason: error.reason) }
        do {
            try prepared.write { (bytes: UnsafeRawBufferPointer) throws(FileFailure) in try out.write(bytes) }
            try out.finish()
        } catch {
            throw ModelFileError(file: file, reason: error.reason)
        }
    }

    private static func prepare(_ document: ModelDocument, file: String) throws(ModelFileError) -> TorchArchiveWriter.PreparedArchive {
        let entries: [(name: String, value: TorchModules.Value, variable: String)]
        do {
            entries = try TorchModules.documentLayoutEntries(of: document).entries
        } catch {
            throw ModelFileError(file: file, object: error.object, reason: "cannot be written as a torch model: \(error.reason)")
        }
        var archive = TorchArchiveWriter(prefix: prefix(of: file))
        var model: [PickleDict.Entry] = []
        for (name, value, variable) in entries {
            let reference: TensorReference = switch value {
            case .tensor(let tensor): add(tensor, variable: variable, to: &archive)
            case .int64Scalar(let count): archive.addTensor(.int64([count]), shape: [])
            }
            model.append(.init(.string(name), .tensor(reference)))
        }
        var root: [PickleDict.Entry] = [.init(.string("model_state_dict"), .dict(PickleDict(kind: .orderedDict, entries: model)))]
        if let training = document.training {
            guard training.optimizer.config.kind.isTorch else {
                throw ModelFileError(file: file, object: "training.optimizer", reason: "\(training.optimizer.config.kind.name) is not a torch.optim "
                    + "optimizer; translate it first (mlpconv convert does) or convert with --drop-optimizer")
            }
            root.append(.init(.string("optimizer_state_dict"),
                              try TorchOptimizerState.value(of: training.optimizer, document: document, archive: &archive)))
            root.append(.init(.string("epoch"), .int(Int64(training.epochsCompleted))))
            if let last = training.history.last?.metrics["loss"] { root.append(.init(.string("loss"), .float(last))) }
        }
        for (key, text) in TorchCheckpointRecord.entries(of: document) {
            root.append(.init(.string(key), .string(text)))
        }
        do {
            return try archive.prepare(.dict(PickleDict(entries: root)))
        } catch {
            throw ModelFileError(file: file, reason: "cannot write the checkpoint: \(error.description)")
        }
    }

    /// A contiguous tensor in the document's dtype and torch's layout of `variable` (`TorchModules.torchLayout`),
    /// put into that layout a block at a time as the archive writes it.
    static func add(_ tensor: Tensor, variable: String, to archive: inout TorchArchiveWriter) -> TensorReference {
        let shape = variable == "kernel" ? Array(tensor.shape.reversed()) : tensor.shape
        return archive.addTensor(pieces: { emit in TorchModules.forEachTorchLayoutChunk(tensor, variable: variable) { emit($0) } },
                                 dtype: tensor.dtype == .float32 ? .float32 : .float64, count: tensor.count, shape: shape)
    }

    /// torch.save names the archive's folder after the file (`model.pt` → `model/`); any name loads.
    static func prefix(of file: String) -> String {
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let safe = stem.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
        return safe.isEmpty || safe.hasPrefix(".") ? "archive" : safe
    }
}
