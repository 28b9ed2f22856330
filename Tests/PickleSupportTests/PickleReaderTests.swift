import Foundation
import PickleSupport
import Testing

@Suite("The restricted unpickler and the pickle writer")
struct PickleReaderTests {
    static let storage = StorageReference(key: "0", dtype: .float32, location: "cpu", elementCount: 6)

    /// A tree with every kind of value the writer writes.
    static let everything: PickleValue = .dict(PickleDict(kind: .orderedDict, entries: [
        .init(.string("none"), .none),
        .init(.string("bools"), .tuple([.bool(true), .bool(false)])),
        .init(.string("ints"), .list([.int(0), .int(255), .int(256), .int(65535), .int(65536), .int(-1),
                                      .int(Int64(Int32.min)), .int(Int64(Int32.max) + 1), .int(1 << 40), .int(.max),
                                      .int(.min), .int(-129), .int(128 << 24)])),
        .init(.string("floats"), .list([.float(0.1), .float(-0.0), .float(.infinity), .float(1e300)])),
        .init(.string("text"), .string("naïve ✓")),
        .init(.string("bytes"), .bytes([0, 1, 0x7F, 0x80, 0xFF])),
        .init(.string("empty bytes"), .bytes([])),
        .init(.int(7), .tuple([.int(1), .int(2), .int(3), .int(4), .int(5)])),
        .init(.string("set"), .set([.int(3), .string("a")])),
        .init(.string("complex"), .complex(real: 1.5, imaginary: -2)),
        .init(.string("plain"), .dict(PickleDict(kind: .dict, entries: [.init(.string("lr"), .float(0.01))]))),
        .init(.string("counter"), .dict(PickleDict(kind: .counter, entries: [.init(.string("a"), .int(2))]))),
        .init(.string("tensor"), .tensor(TensorReference(storage: storage, storageOffset: 1, shape: [2, 2],
                                                          strides: [1, 2], requiresGrad: true))),
        .init(.string("parameter"), .tensor(TensorReference(storage: storage, storageOffset: 0, shape: [6],
                                                             strides: [1], requiresGrad: true, isParameter: true))),
        .init(.string("frozen parameter"), .tensor(TensorReference(storage: storage, storageOffset: 0, shape: [],
                                                                    strides: [], isParameter: true))),
        .init(.string("dtype"), .dtype(.bfloat16)),
        .init(.string("device"), .device("cuda:1")),
        .init(.string("size"), .size([3, 0, 1])),
        .init(.string("layout"), .layout("torch.strided")),
        .init(.string("long list"), .list((0..<2500).map { .int($0) })),
    ], attributes: [.init(.string("_metadata"), .dict(PickleDict(kind: .orderedDict, entries: [
        .init(.string(""), .dict(PickleDict(entries: [.init(.string("version"), .int(1))])))])))]))

    @Test func everyValueKindComesBackFromTheWritersPickle() throws {
        let (data, storages) = try PickleWriter.pickle(Self.everything)
        #expect(storages == [Self.storage])
        #expect(try PickleReader(data).read() == Self.everything)
    }

    func refusal(_ bytes: [UInt8]) -> PickleFailure? {
        do {
            _ = try PickleReader(Data(bytes)).read()
            return nil
        } catch {
            return error
        }
    }

    @Test func aMemoReferenceSharesTheListAsPythonDoes() throws {
        // EMPTY_LIST, BINPUT 0, BININT1 1, APPEND, BINGET 0, TUPLE2: the list, after the append, twice.
        let tuple: [UInt8] = [0x80, 2, 0x5D, 0x71, 0, 0x4B, 1, 0x61, 0x68, 0, 0x86, 0x2E]
        #expect(try PickleReader(Data(tuple)).read() == .tuple([.list([.int(1)]), .list([.int(1)])]))
    }

    @Test func hostilePicklesAreRefusedAtTheirOpcode() {
        // A list that contains itself.
        #expect(refusal([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E])
                == PickleFailure(offset: 8, reason: "values nested more than 100 deep (or a structure that contains itself)"))
        // 200 nested one-tuples.
        #expect(refusal([0x80, 2, 0x4E] + [UInt8](repeating: 0x85, count: 200) + [0x2E])
                == PickleFailure(offset: 103, reason: "tuples nested more than 100 deep"))
        // Billion laughs: each level a pair of the level below, 40 levels from 2 * 40 + a few bytes.
        var laughs: [UInt8] = [0x80, 2, 0x4E, 0x71, 0]
        for level in 1...40 { laughs += [0x68, UInt8(level - 1), 0x68, UInt8(level - 1), 0x86, 0x71, UInt8(level)] }
        laughs.append(0x2E)
        #expect(refusal(laughs)?.reason == "the pickle describes more than \(laughs.count + 4096) values (shared objects copied out)")
        // A dict key that is a tuple of shared tuples, 60 levels: hashing it would visit 2^60 values.
        var key: [UInt8] = [0x80, 2, 0x7D, 0x4E, 0x85]
        for level in 0..<60 { key += [0x71, UInt8(level), 0x68, UInt8(level), 0x86] }
        key += [0x4E, 0x73, 0x2E]
        #expect(refusal(key) == PickleFailure(offset: 306, reason: "dict keys and set elements add up to more than "
                                                  + "\(key.count + 4096) values"))
        #expect(refusal([0x80, 2, 0x8A, 9] + [UInt8](repeating: 1, count: 9) + [0x2E])
                == PickleFailure(offset: 2, reason: "LONG1 integer of 9 bytes is wider than 64 bits"))
        #expect(refusal([0x80, 2, 0x68, 3, 0x2E]) == PickleFailure(offset: 2, reason: "memo entry 3 was never stored"))
        #expect(refusal([0x80, 2, 0x93, 0x2E]) == PickleFailure(offset: 2, reason: "unsupported opcode 0x93 (STACK_GLOBAL)"))
        #expect(refusal([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x61])
                == PickleFailure(offset: 2, reason: "truncated: BINUNICODE needs 4294967295 bytes, 1 remain"))
        #expect(refusal([0x80, 2, 0x74, 0x2E]) == PickleFailure(offset: 2, reason: "TUPLE without a MARK"))
        #expect(refusal([0x80, 2, 0x61, 0x2E]) == PickleFailure(offset: 2, reason: "APPEND on an empty stack"))
        #expect(refusal([0x80, 2, 0x7D, 0x4B, 1, 0x61, 0x2E]) == PickleFailure(offset: 5, reason: "APPEND to something that is not a list"))
        #expect(refusal([0x80, 2, 0x7D, 0x5D, 0x4B, 1, 0x73, 0x2E])
                == PickleFailure(offset: 6, reason: "a dict key is a list, dict or set, which Python cannot hash"))
        #expect(refusal([0x80, 2] + Array("cposix\nsystem\n.".utf8))
                == PickleFailure(offset: 2, reason: "disallowed global posix.system"))
        #expect(refusal([0x80, 2] + Array("ctorch._utils\n_rebuild_qtensor\n.".utf8))
                == PickleFailure(offset: 2, reason: "global torch._utils._rebuild_qtensor (a quantized tensor) is not supported"))
        #expect(refusal([0x80, 2] + Array("ctorch\nfloat32\n)R.".utf8))
                == PickleFailure(offset: 18, reason: "REDUCE calls torch.float32, which mlpconv does not support calling"))
        #expect(refusal([0x80, 2] + Array("c__builtin__\ngetattr\n.".utf8))
                == PickleFailure(offset: 2, reason: "disallowed global builtins.getattr"))
    }

    @Test func aPersistentIDMustBeATorchStorage() {
        let id: [UInt8] = [0x28] + Array("X\u{07}\0\0\0storagec__builtin__\nset\nX\u{01}\0\0\00X\u{03}\0\0\0cpuK\u{04}t".utf8)
        #expect(refusal([0x80, 2] + id + [0x51, 0x2E])
                == PickleFailure(offset: 49, reason: "persistent id names a storage type that is not a torch storage class"))
        #expect(refusal([0x80, 2, 0x4B, 1, 0x51, 0x2E]) == PickleFailure(offset: 4, reason: "persistent id is not a tuple"))
    }
}
