import Foundation
import PickleSupport
import Testing

@Suite("Hostile torch.save files are refused naming the file, the object and the reason")
struct BadFileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var object: String
        var reason: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "global-os-system", object: "archive/data.pkl byte 2", reason: "disallowed global os.system"),
        Case(name: "builtins-eval", object: "archive/data.pkl byte 2", reason: "disallowed global builtins.eval"),
        Case(name: "reduce-disallowed-class", object: "archive/data.pkl byte 2",
             reason: "disallowed global builtins.print"),
        Case(name: "unknown-opcode", object: "archive/data.pkl byte 2", reason: "unsupported opcode 0xff"),
        Case(name: "protocol-4-frame", object: "archive/data.pkl byte 2", reason: "unsupported opcode 0x95 (FRAME)"),
        Case(name: "truncated-stream", object: "archive/data.pkl byte 421",
             reason: "truncated: the stream ends before STOP"),
        Case(name: "storage-larger-than-member", object: "tensor [\"t\"]",
             reason: "storage \"0\" declares 4 elements of 4 bytes, but member archive/data/0 holds 12 bytes"),
        Case(name: "offset-past-storage", object: "tensor [\"t\"]",
             reason: "offset 3, size [2] and stride [1] reach element 4, past the storage's 4 elements"),
        Case(name: "negative-stride", object: "tensor [\"t\"]", reason: "negative stride -1 in [-1]"),
        Case(name: "huge-size", object: "tensor [\"t\"]",
             reason: "size [1099511627776, 1099511627776] is more than the limit of 16777216 elements"),
        Case(name: "missing-data-pkl", object: "", reason: "no <name>/data.pkl member: not a torch.save archive"),
        Case(name: "dotdot-member", object: "member \"../evil\"", reason: "its path leaves the archive"),
    ]

    @Test(arguments: cases)
    func isRefusedWithTheExactMessage(_ bad: Case) {
        let path = Fixtures.path("bad/\(bad.name).pt")
        #expect(throws: TorchArchiveError(file: path, object: bad.object, reason: bad.reason)) {
            try TorchArchive(contentsOf: path)
        }
    }

    @Test func everyBadFileHasACase() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("bad"))
            .filter { $0.hasSuffix(".pt") }.map { String($0.dropLast(3)) }
        #expect(Set(names) == Set(Self.cases.map(\.name)))
    }

    @Test func aFileThatIsNeitherZipNorLegacyIsRefused() {
        #expect(throws: TorchArchiveError(file: "x.pt", object: "",
                                          reason: "not a torch.save file (neither a zip archive nor the legacy format)")) {
            try TorchArchive(data: Data("hello".utf8), file: "x.pt")
        }
    }

    @Test func aReferenceThatDisagreesWithTheCheckedStorageIsRefused() throws {
        var writer = TorchArchiveWriter()
        let tensor = writer.addTensor(.float([1, 2]), shape: [2])
        let archive = try TorchArchive(data: try writer.archive(.tensor(tensor)), file: "small.pt")
        var forged = tensor
        forged.storage.elementCount = 1 << 20
        forged.shape = [1 << 20]
        #expect(throws: TorchArchiveError(file: "small.pt", object: "tensor forged",
                                          reason: "its storage \"0\" is not one of this archive's tree")) {
            try archive.tensor(forged, at: "forged")
        }
    }

    @Test func aZeroStrideViewPastTheElementLimitIsRefused() throws {
        var writer = TorchArchiveWriter()
        let storage = writer.addStorage(dtype: .float32, littleEndianBytes: Data(count: 4), elementCount: 1)
        let view = TensorReference(storage: storage, storageOffset: 0, shape: [1 << 13, 1 << 12], strides: [0, 0])
        #expect(throws: TorchArchiveError(file: "broadcast.pt", object: "tensor (root)",
                                          reason: "size [8192, 4096] is more than the limit of 16777216 elements")) {
            try TorchArchive(data: try writer.archive(.tensor(view)), file: "broadcast.pt")
        }
    }

    @Test func aTensorOfAnUnsupportedDTypeIsRefusedNamingIt() throws {
        var writer = TorchArchiveWriter()
        let storage = writer.addStorage(dtype: .int32, littleEndianBytes: Data(count: 8), elementCount: 2)
        let tensor = TensorReference(storage: storage, storageOffset: 0, shape: [2], strides: [1])
        let archive = try TorchArchive(data: try writer.archive(.dict(PickleDict(entries: [
            .init(.string("counts"), .tensor(tensor))]))), file: "ints.pt")
        #expect(throws: TorchArchiveError(file: "ints.pt", object: "tensor [\"counts\"]",
                                          reason: "dtype torch.int32 is not supported (float32, float64, float16, "
                                              + "bfloat16 and int64 are)")) {
            try archive.tensor(tensor, at: "[\"counts\"]")
        }
    }
}
