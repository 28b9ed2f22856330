import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import PickleSupport
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The hostile checkpoints in fixtures/torch/bad (torch-written, then altered; see its README) and
/// fixtures/torch-pickle/bad, through the façade every command reads with: one error naming the file, the object
/// inside it and the reason (docs/robustness.md, the catalogue).
@Suite struct TorchBadInputTests {
    static let cases: [(file: String, message: String)] = [
        ("torch/bad/legacy_format.pt", "a legacy (pre-1.6) torch.save file, not the zip format mlpconv reads; load it with PyTorch and save it again with torch.save's default zip format"),
        ("torch/bad/missing_data_pkl.pt", "no <name>/data.pkl member: not a torch.save archive"),
        ("torch/bad/negative_stride.pt", "tensor [\"model_state_dict\"][\"0.bias\"]: negative stride -1 in [-1]"),
        ("torch/bad/offset_past_end.pt", "tensor [\"model_state_dict\"][\"0.bias\"]: offset 1000, size [3] and stride [1] reach element 1002, past the storage's 3 elements"),
        ("torch/bad/pickle_builtins_eval.pt", "pickle_builtins_eval/data.pkl byte 24: disallowed global builtins.eval"),
        ("torch/bad/pickle_os_system.pt", "pickle_os_system/data.pkl byte 24: disallowed global os.system"),
        ("torch/bad/storage_too_short.pt", "tensor [\"model_state_dict\"][\"0.weight\"]: offset 0, size [3, 4] and stride [4, 1] reach element 11, past the storage's 10 elements"),
        ("torch/bad/truncated.pt", "no end-of-central-directory record: not a zip archive"),
        ("torch-pickle/bad/dotdot-member.pt", "member \"../evil\": its path leaves the archive"),
        ("torch-pickle/bad/huge-size.pt", "tensor [\"t\"]: size [1099511627776, 1099511627776] is more than the limit of 16777216 elements"),
        ("torch-pickle/bad/protocol-4-frame.pt", "archive/data.pkl byte 2: unsupported opcode 0x95 (FRAME)"),
        ("torch-pickle/bad/reduce-disallowed-class.pt", "archive/data.pkl byte 2: disallowed global builtins.print"),
        ("torch-pickle/bad/storage-larger-than-member.pt", "tensor [\"t\"]: storage \"0\" declares 4 elements of 4 bytes, but member archive/data/0 holds 12 bytes"),
        ("torch-pickle/bad/truncated-stream.pt", "archive/data.pkl byte 421: truncated: the stream ends before STOP"),
        ("torch-pickle/bad/unknown-opcode.pt", "archive/data.pkl byte 2: unsupported opcode 0xff"),
    ]

    @Test(arguments: cases.map(\.file))
    func refusedWithItsReason(_ name: String) {
        let path = repository.appendingPathComponent("fixtures").appendingPathComponent(name).path
        let expected = Self.cases.first { $0.file == name }?.message ?? ""
        do {
            _ = try ModelFiles.load(path, options: LoadOptions(activations: [.relu, .linear]))
            Issue.record("\(name) loaded")
        } catch {
            #expect(error.description == "\(path): \(expected)")
        }
    }

    /// Every file in the bad folders is in the table.
    @Test func everyHostileFileIsCovered() throws {
        var files: [String] = []
        for folder in ["torch/bad", "torch-pickle/bad"] {
            let url = repository.appendingPathComponent("fixtures").appendingPathComponent(folder)
            files += try FileManager.default.contentsOfDirectory(atPath: url.path)
                .filter { $0.hasSuffix(".pt") }.map { "\(folder)/\($0)" }
        }
        // The pickle folder's other files are the same attacks as in torch/bad (os.system, builtins.eval, a missing
        // data.pkl, a negative stride, an offset past the storage), read at the archive level by PickleSupportTests.
        let archiveLevelOnly: Set<String> = ["torch-pickle/bad/builtins-eval.pt", "torch-pickle/bad/global-os-system.pt",
                                             "torch-pickle/bad/missing-data-pkl.pt", "torch-pickle/bad/negative-stride.pt",
                                             "torch-pickle/bad/offset-past-storage.pt"]
        #expect(Set(files).subtracting(archiveLevelOnly) == Set(Self.cases.map(\.file)))
    }

    /// The caller's tensor cap applies to every tensor of a checkpoint, before its values are read.
    @Test func theTensorLimitApplies() throws {
        let path = repository.appendingPathComponent("fixtures/torch/adam_gelu_ce.pt").path
        var limits = LoadLimits()
        limits.maxTensorBytes = 64
        do {
            _ = try ModelFiles.load(path, limits: limits, options: LoadOptions(activations: [.gelu, .gelu, .linear]))
            Issue.record("loaded")
        } catch {
            #expect(error.description == "\(path): [\"model_state_dict\"][\"0.weight\"]: shape [16, 6] exceeds the tensor limit of 64 bytes")
        }
    }

    /// A param group with a key that changes the update in a way mlpconv does not follow (an LR scheduler's
    /// `initial_lr`) leaves the optimizer out, not the model: the note names the key.
    @Test func anUnknownParamGroupKeyLeavesTheOptimizerOut() throws {
        let source = repository.appendingPathComponent("fixtures/torch/adam_gelu_ce.pt").path
        let archive = try TorchArchive(contentsOf: source)
        guard case .dict(var root) = archive.root,
              let index = root.entries.firstIndex(where: { $0.key == .string("optimizer_state_dict") }),
              case .dict(var optimizer) = root.entries[index].value,
              let groupsIndex = optimizer.entries.firstIndex(where: { $0.key == .string("param_groups") }),
              case .list(var groups) = optimizer.entries[groupsIndex].value, case .dict(var group) = groups[0] else {
            Issue.record("unexpected fixture structure")
            return
        }
        group.entries.append(.init(.string("initial_lr"), .float(0.01)))
        groups[0] = .dict(group)
        optimizer.entries[groupsIndex].value = .list(groups)
        root.entries[index].value = .dict(optimizer)
        var writer = TorchArchiveWriter(prefix: archive.prefix)
        var seen = Set<String>()
        for (_, tensor) in TorchArchive.tensors(in: archive.root) where seen.insert(tensor.storage.key).inserted {
            try writer.addStorage(tensor.storage, littleEndianBytes: try archive.storageBytes(tensor.storage))
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("torch-initial-lr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("scheduled.pt").path
        try writer.archive(.dict(root)).write(to: URL(fileURLWithPath: path))

        let document = try ModelFiles.load(path, options: LoadOptions(activations: [.gelu, .gelu, .linear],
                                                                      loss: Loss(name: "CrossEntropyLoss")))
        #expect(document.training == nil)
        #expect(document.metadata["torch_training_state"]?.contains("[\"initial_lr\"]: a setting mlpconv does not know") == true,
                "\(document.metadata)")
    }

    /// Checkpoint structures the reader refuses beyond the archive: each names the object and says why.
    @Test func structuralRefusals() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("torch-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // A state dict without activations: the error says which flags supply them.
        let stateDict = repository.appendingPathComponent("fixtures/torch/state_dict_relu_softmax.pth").path
        #expect(throws: ModelFileError.self) { try ModelFiles.load(stateDict) }
        do { _ = try ModelFiles.load(stateDict) } catch {
            #expect(error.description.contains("--activations"), "\(error)")
        }
        // Adam's state read as SGD's: the class the file says and the flag disagree.
        let adam = repository.appendingPathComponent("fixtures/torch/adam_gelu_ce.pt").path
        do {
            _ = try ModelFiles.load(adam, options: LoadOptions(activations: [.gelu, .gelu, .linear], loss: Loss(name: "CrossEntropyLoss"),
                                                               optimizer: .torchSGD))
            Issue.record("loaded")
        } catch {
            #expect("\(error)".hasSuffix("the state is torch.optim.Adam's, not torch_sgd as --optimizer says"), "\(error)")
        }
    }
}
