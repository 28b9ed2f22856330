import Foundation
import PickleSupport
import Testing

@Suite("torch.save files written by PyTorch 2.15 read as torch.load(weights_only=True) reads them")
struct TorchFixtureTests {
    @Test(arguments: ["state_dict", "checkpoint", "dtypes", "views", "big_endian"])
    func theValueTreeAndEveryTensorMatchTorch(_ name: String) throws {
        let cases = try Fixtures.expectedCases()
        var expectedTensors: [ExpectedTensor] = []
        let expected = try expectedValue(try #require(cases[name]), tensors: &expectedTensors)
        let archive = try TorchArchive(contentsOf: Fixtures.path(name + ".pt"))
        #expect(archive.root == expected)
        #expect(archive.prefix == name)
        #expect(archive.byteOrder == (name == "big_endian" ? .big : .little))
        let found = TorchArchive.tensors(in: archive.root)
        #expect(found.count == expectedTensors.count)
        for ((path, tensor), wanted) in zip(found, expectedTensors) {
            let read = try archive.tensor(tensor, at: path)
            #expect(read.shape == wanted.reference.shape.map { Int($0) }, "\(path)")
            #expect(read.dtype == wanted.reference.storage.dtype || (read.dtype == .int64 && wanted.reference.storage.dtype == .int64))
            #expect(read.values.asDoubles.map(\.bitPattern) == wanted.values.map(\.bitPattern), "\(path)")
        }
    }

    @Test func theCheckpointKeepsAdamsStateAndEveryParamGroupKey() throws {
        let archive = try TorchArchive(contentsOf: Fixtures.path("checkpoint.pt"))
        guard case .dict(let root) = archive.root, case .dict(let optimizer)? = root["optimizer_state_dict"],
              case .list(let groups)? = optimizer["param_groups"], case .dict(let group)? = groups.first,
              case .dict(let state)? = optimizer["state"] else {
            Issue.record("no optimizer_state_dict with param_groups and state")
            return
        }
        #expect(group.entries.map(\.key) == ["lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach",
                                             "capturable", "differentiable", "fused", "decoupled_weight_decay",
                                             "params"].map(PickleValue.string))
        #expect(group["betas"] == .tuple([.float(0.8), .float(0.99)]))
        #expect(group["foreach"] == PickleValue.none)
        #expect(state.entries.map(\.key) == (0..<6).map { PickleValue.int($0) })
        guard case .dict(let first)? = state.entries.first?.value, case .tensor(let step)? = first["step"] else {
            Issue.record("state[0] has no step tensor")
            return
        }
        #expect(try archive.tensor(step, at: "step").values == .float([2]))
    }

    @Test func aLegacyFileIsRefusedWithWhatToDo() {
        #expect(throws: TorchArchiveError(
            file: Fixtures.path("legacy.pt"), object: "",
            reason: "a legacy (pre-1.6) torch.save file, not the zip format mlpconv reads; load it with PyTorch and save it "
                + "again with torch.save's default zip format")) {
            try TorchArchive(contentsOf: Fixtures.path("legacy.pt"))
        }
    }

    @Test func membersAreWrittenInTorchsOrderAndAlignedAsTorchAlignsThem() throws {
        var writer = TorchArchiveWriter(prefix: "model")
        let weight = writer.addTensor(.float([1, 2, 3, 4, 5, 6]), shape: [2, 3])
        let steps = writer.addTensor(.int64([7]), shape: [])
        let data = try writer.archive(.dict(PickleDict(kind: .orderedDict, entries: [
            .init(.string("weight"), .tensor(weight)), .init(.string("num_batches_tracked"), .tensor(steps))])))
        let torchWritten = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("state_dict.pt")))
        func layout(_ data: Data) throws -> [(String, Int)] {
            try ZipLayout.members(data).map { (String($0.name.drop { $0 != "/" }), $0.dataOffset % 64) }
        }
        let ours = try layout(data), theirs = try layout(torchWritten)
        #expect(ours.map(\.1).allSatisfy { $0 == 0 })
        #expect(theirs.map(\.1).allSatisfy { $0 == 0 })
        // Torch's order, with as many storages as each file has.
        #expect(ours.map(\.0) == ["/data.pkl", "/.format_version", "/.storage_alignment", "/byteorder", "/data/0",
                                  "/data/1", "/version", "/.data/serialization_id"])
        #expect(theirs.map(\.0).filter { !$0.hasPrefix("/data/") } == ours.map(\.0).filter { !$0.hasPrefix("/data/") })
        let archive = try TorchArchive(data: data, file: "written.pt")
        #expect(try archive.tensor(weight, at: "weight").values == .float([1, 2, 3, 4, 5, 6]))
        #expect(try archive.tensor(steps, at: "steps") == TorchTensor(shape: [], dtype: .int64, values: .int64([7])))
    }

    /// A storage handed out in pieces (run twice: for the CRC-32, then to write) gives the same archive, byte for
    /// byte — serialization id included — as the same values given whole.
    @Test func aStorageWrittenInPiecesIsTheSameArchive() throws {
        let values = (0..<100_000).map { Float($0) * 0.25 }
        func archive(pieces: Bool) throws -> Data {
            var writer = TorchArchiveWriter(prefix: "model")
            let weight = pieces
                ? writer.addTensor(pieces: { emit in
                    values.withUnsafeBytes { raw in
                        var start = 0
                        while start < raw.count {
                            let end = min(start + 4_000, raw.count)
                            emit(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                            start = end
                        }
                    }
                }, dtype: .float32, count: values.count, shape: [100, 1_000])
                : writer.addTensor(.float(values), shape: [100, 1_000])
            let bias = writer.addTensor(.float([1, 2]), shape: [2])
            return try writer.archive(.dict(PickleDict(kind: .orderedDict, entries: [
                .init(.string("weight"), .tensor(weight)), .init(.string("bias"), .tensor(bias))])))
        }
        let whole = try archive(pieces: false), streamed = try archive(pieces: true)
        #expect(streamed == whole)
        // The reader checks every member against its CRC-32.
        _ = try TorchArchive(data: streamed, file: "pieces.pt")
    }

}
