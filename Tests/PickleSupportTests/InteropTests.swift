import Foundation
import PickleSupport
import Testing

/// Files for scripts/torch_pickle_check.py, which loads them with torch.load(weights_only=True) and compares each
/// with the JSON description written next to it (expected.json's tagged form). Runs only when
/// MLPCONV_INTEROP_DIR is set.
@Suite("Files the Swift writer leaves for real torch to load",
       .enabled(if: ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"] != nil))
struct InteropTests {
    static var directory: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["MLPCONV_INTEROP_DIR"] ?? "")
            .appendingPathComponent("torch-pickle")
    }

    /// The tagged JSON of a value whose tensors `archive` holds.
    static func describe(_ value: PickleValue, _ archive: TorchArchive, path: String = "") throws -> Any {
        func hex(_ value: Double) -> String { String(format: "%a", value) }
        switch value {
        case .none: return ["none"]
        case .bool(let flag): return ["bool", flag]
        case .int(let number): return ["int", number]
        case .float(let number): return ["float", hex(number)]
        case .string(let text): return ["string", text]
        case .bytes(let raw): return ["bytes", raw.map(Int.init)]
        case .tuple(let items): return ["tuple", try items.map { try describe($0, archive) }]
        case .list(let items): return ["list", try items.map { try describe($0, archive) }]
        case .size(let dimensions): return ["size", dimensions]
        case .dtype(let dtype): return ["dtype", dtype.rawValue]
        case .device(let name): return ["device", name]
        case .dict(let dict):
            return ["dict", dict.kind.rawValue,
                    try dict.entries.map { [try describe($0.key, archive), try describe($0.value, archive)] },
                    try dict.attributes.map { [try describe($0.key, archive), try describe($0.value, archive)] }]
        case .tensor(let tensor):
            let read = try archive.tensor(tensor, at: path)
            let values: [Any]
            switch read.values {
            case .float(let floats): values = floats.map { hex(Double($0)) }
            case .double(let doubles): values = doubles.map(hex)
            case .int64(let integers): values = integers
            }
            return ["tensor", ["key": tensor.storage.key, "dtype": tensor.storage.dtype.rawValue,
                               "numel": tensor.storage.elementCount, "offset": tensor.storageOffset,
                               "shape": tensor.shape, "stride": tensor.strides, "requires_grad": tensor.requiresGrad,
                               "parameter": tensor.isParameter, "values": values] as [String: Any]]
        case .set, .complex, .layout:
            throw Fixtures.Unexpected(description: "the check script does not describe \(value)")
        }
    }

    /// Writes `data` as `<name>.pt` and, from reading it back, `<name>.json`.
    static func leave(_ data: Data, named name: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try data.write(to: directory.appendingPathComponent(name + ".pt"))
        let archive = try TorchArchive(data: data, file: name + ".pt")
        let json = try JSONSerialization.data(withJSONObject: try describe(archive.root, archive), options: [.sortedKeys])
        try json.write(to: directory.appendingPathComponent(name + ".json"))
    }

    @Test func aStateDictAndACheckpointWrittenFromValues() throws {
        var writer = TorchArchiveWriter(prefix: "swift_checkpoint")
        let weight = writer.addTensor(.float([0.5, -1.25, 3, 1e-3, 7, -0.0]), shape: [2, 3])
        let bias = writer.addTensor(.float([0.25, -0.5]), shape: [2], requiresGrad: true, isParameter: true)
        let batches = writer.addTensor(.int64([12]), shape: [])
        let moments = writer.addTensor(.double([1e-300, 2.5]), shape: [2])
        let model = PickleDict(kind: .orderedDict, entries: [
            .init(.string("0.weight"), .tensor(weight)), .init(.string("0.bias"), .tensor(bias)),
            .init(.string("1.num_batches_tracked"), .tensor(batches))],
            attributes: [.init(.string("_metadata"), .dict(PickleDict(kind: .orderedDict, entries: [
                .init(.string(""), .dict(PickleDict(entries: [.init(.string("version"), .int(1))])))])))])
        let root = PickleValue.dict(PickleDict(entries: [
            .init(.string("model_state_dict"), .dict(model)),
            .init(.string("optimizer_state_dict"), .dict(PickleDict(entries: [
                .init(.string("state"), .dict(PickleDict(entries: [.init(.int(0), .dict(PickleDict(entries: [
                    .init(.string("exp_avg"), .tensor(moments))])))]))),
                .init(.string("param_groups"), .list([.dict(PickleDict(entries: [
                    .init(.string("lr"), .float(0.001)), .init(.string("betas"), .tuple([.float(0.9), .float(0.999)])),
                    .init(.string("foreach"), .none), .init(.string("amsgrad"), .bool(false)),
                    .init(.string("params"), .list([.int(0), .int(1)]))]))])),
            ]))),
            .init(.string("epoch"), .int(-3)), .init(.string("big"), .int(1 << 40)),
            .init(.string("note"), .string("Swift ✓")), .init(.string("raw"), .bytes([0, 200, 255])),
            .init(.string("dtype"), .dtype(.float16)), .init(.string("device"), .device("cpu")),
            .init(.string("size"), .size([2, 3])),
        ]))
        try Self.leave(try writer.archive(root), named: "swift_checkpoint")
    }

    /// PyTorch's own checkpoint fixture, read and written again by the Swift writer, storages byte for byte.
    @Test(arguments: ["checkpoint", "views", "big_endian"])
    func aTorchFileRewritten(_ name: String) throws {
        let archive = try TorchArchive(contentsOf: Fixtures.path(name + ".pt"))
        var writer = TorchArchiveWriter(prefix: "rewritten_" + name)
        var added: Set<String> = []
        for (_, tensor) in TorchArchive.tensors(in: archive.root) where added.insert(tensor.storage.key).inserted {
            try writer.addStorage(tensor.storage, littleEndianBytes: try archive.storageBytes(tensor.storage))
        }
        try Self.leave(try writer.archive(archive.root), named: "rewritten_" + name)
    }
}
