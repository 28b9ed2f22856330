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
    package static func encode(_ document: ModelDocument, file: String) throws(ModelFileError) -> Data {
        let stateDict: TorchModules.StateDict
        do {
            stateDict = try TorchModules.stateDict(of: document)
        } catch {
            throw ModelFileError(file: file, object: error.object, reason: "cannot be written as a torch model: \(error.reason)")
        }
        var archive = TorchArchiveWriter(prefix: prefix(of: file))
        var model: [PickleDict.Entry] = []
        for (name, value) in stateDict.entries {
            let reference: TensorReference = switch value {
            case .tensor(let tensor): add(tensor, to: &archive)
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
            return try archive.archive(.dict(PickleDict(entries: root)))
        } catch {
            throw ModelFileError(file: file, reason: "cannot write the checkpoint: \(error.description)")
        }
    }

    /// A contiguous tensor in the document's dtype.
    static func add(_ tensor: Tensor, to archive: inout TorchArchiveWriter) -> TensorReference {
        switch tensor.storage {
        case .float32(let values): archive.addTensor(.float(values), shape: tensor.shape)
        case .float64(let values): archive.addTensor(.double(values), shape: tensor.shape)
        }
    }

    /// torch.save names the archive's folder after the file (`model.pt` → `model/`); any name loads.
    static func prefix(of file: String) -> String {
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let safe = stem.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
        return safe.isEmpty || safe.hasPrefix(".") ? "archive" : safe
    }
}
