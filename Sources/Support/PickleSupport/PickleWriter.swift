import Foundation

/// Why a value tree cannot be pickled for torch.
package struct PickleWriteFailure: Error, CustomStringConvertible, Equatable, Sendable {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}

/// Pickles a value tree as `torch.save` does: protocol 2, tensors through `torch._utils._rebuild_tensor_v2` with
/// their storages as BINPERSID ids, OrderedDicts through `collections.OrderedDict`, bytes through
/// `_codecs.encode`. Only opcodes and globals the weights-only unpickler accepts are written, so
/// `torch.load(weights_only=True)` reads the result.
package struct PickleWriter {
    private var out: [UInt8] = []
    private var memoizedGlobals: [String: UInt32] = [:]
    private var nextMemo: UInt32 = 0
    /// The storages in the order the pickle first names them: torch writes their members in that order.
    package private(set) var storageOrder: [StorageReference] = []
    private var storageKeys: Set<String> = []

    package init() {}

    /// The pickle of `value`, and the storages it names in order of first appearance.
    package static func pickle(_ value: PickleValue) throws(PickleWriteFailure) -> (data: Data, storages: [StorageReference]) {
        var writer = PickleWriter()
        writer.out = [0x80, 2]
        try writer.write(value)
        writer.out.append(0x2E)
        return (Data(writer.out), writer.storageOrder)
    }

    // MARK: Opcodes

    private mutating func int(_ value: Int64) {
        switch value {
        case 0...0xFF: out += [0x4B, UInt8(value)]
        case 0x100...0xFFFF: out += [0x4D, UInt8(value & 0xFF), UInt8(value >> 8)]
        case Int64(Int32.min)...Int64(Int32.max):
            out.append(0x4A)
            withUnsafeBytes(of: Int32(value).littleEndian) { out += $0 }
        default:
            // LONG1: the shortest two's complement little-endian bytes, as Python's encode_long writes.
            var raw: [UInt8] = []
            withUnsafeBytes(of: value.littleEndian) { raw += $0 }
            while raw.count > 1 {
                let last = raw[raw.count - 1], sign = raw[raw.count - 2] & 0x80
                guard (last == 0 && sign == 0) || (last == 0xFF && sign != 0) else { break }
                raw.removeLast()
            }
            out += [0x8A, UInt8(raw.count)] + raw
        }
    }

    private mutating func float(_ value: Double) {
        out.append(0x47)
        withUnsafeBytes(of: value.bitPattern.bigEndian) { out += $0 }
    }

    private mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        out.append(0x58)
        withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { out += $0 }
        out += utf8
    }

    private mutating func global(_ module: String, _ name: String) {
        let path = module + "\n" + name
        if let index = memoizedGlobals[path] {
            get(index)
            return
        }
        out.append(0x63)
        out += Array((path + "\n").utf8)
        memoizedGlobals[path] = nextMemo
        put(nextMemo)
        nextMemo += 1
    }

    private mutating func put(_ index: UInt32) {
        if index <= 0xFF {
            out += [0x71, UInt8(index)]
        } else {
            out.append(0x72)
            withUnsafeBytes(of: index.littleEndian) { out += $0 }
        }
    }

    private mutating func get(_ index: UInt32) {
        if index <= 0xFF {
            out += [0x68, UInt8(index)]
        } else {
            out.append(0x6A)
            withUnsafeBytes(of: index.littleEndian) { out += $0 }
        }
    }

    /// A tuple of the values `writeItems` writes (its count known in advance).
    private mutating func tuple(count: Int, _ writeItems: (inout PickleWriter) throws(PickleWriteFailure) -> Void)
        throws(PickleWriteFailure) {
        switch count {
        case 0: out.append(0x29)
        case 1...3:
            try writeItems(&self)
            out.append(0x84 + UInt8(count))
        default:
            out.append(0x28)
            try writeItems(&self)
            out.append(0x74)
        }
    }

    private mutating func emptyOrderedDict() {
        global("collections", "OrderedDict")
        out += [0x29, 0x52]
    }

    /// Items after a MARK in batches of 1000, as Python's pickler does, closed by `opcode` (APPENDS, SETITEMS).
    private mutating func batched<T>(_ items: [T], closing opcode: UInt8,
                                     _ writeItem: (inout PickleWriter, T) throws(PickleWriteFailure) -> Void)
        throws(PickleWriteFailure) {
        var start = 0
        while start < items.count {
            let end = min(items.count, start + 1000)
            out.append(0x28)
            for item in items[start..<end] { try writeItem(&self, item) }
            out.append(opcode)
            start = end
        }
    }

    // MARK: Values

    private mutating func write(_ value: PickleValue) throws(PickleWriteFailure) {
        switch value {
        case .none: out.append(0x4E)
        case .bool(let flag): out.append(flag ? 0x88 : 0x89)
        case .int(let number): int(number)
        case .float(let number): float(number)
        case .string(let text): string(text)
        case .bytes(let raw):
            // Protocol 2 has no bytes opcode torch accepts: Python 3 writes `_codecs.encode(latin-1 text, "latin1")`.
            global("_codecs", "encode")
            string(String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) })))
            string("latin1")
            out += [0x86, 0x52]
        case .complex(let real, let imaginary):
            global("builtins", "complex")
            float(real)
            float(imaginary)
            out += [0x86, 0x52]
        case .tuple(let items):
            try tuple(count: items.count) { (writer) throws(PickleWriteFailure) in
                for item in items { try writer.write(item) }
            }
        case .list(let items):
            out.append(0x5D)
            try batched(items, closing: 0x65) { (writer, item) throws(PickleWriteFailure) in try writer.write(item) }
        case .set(let items):
            global("builtins", "set")
            out.append(0x5D)
            try batched(items, closing: 0x65) { (writer, item) throws(PickleWriteFailure) in try writer.write(item) }
            out += [0x85, 0x52]
        case .dict(let dict):
            try write(dict)
        case .tensor(let tensor):
            try write(tensor)
        case .dtype(let dtype):
            global("torch", dtype.rawValue)
        case .device(let name):
            global("torch", "device")
            string(name)
            out += [0x85, 0x52]
        case .size(let dimensions):
            global("torch", "Size")
            try tuple(count: dimensions.count) { (writer) throws(PickleWriteFailure) in
                for dimension in dimensions { writer.int(dimension) }
            }
            out += [0x85, 0x52]
        case .layout(let name):
            global("torch.serialization", "_get_layout")
            string(name)
            out += [0x85, 0x52]
        }
    }

    private mutating func write(_ dict: PickleDict) throws(PickleWriteFailure) {
        switch dict.kind {
        case .dict: out.append(0x7D)
        case .orderedDict: emptyOrderedDict()
        case .counter:
            // collections.Counter() and then its items, as an OrderedDict is built.
            global("collections", "Counter")
            out += [0x29, 0x52]
        }
        try batched(dict.entries, closing: 0x75) { (writer, entry) throws(PickleWriteFailure) in
            try writer.write(entry.key)
            try writer.write(entry.value)
        }
        guard !dict.attributes.isEmpty else { return }
        guard dict.kind != .dict else { throw PickleWriteFailure("a plain dict cannot carry attributes") }
        out.append(0x7D)
        try batched(dict.attributes, closing: 0x75) { (writer, entry) throws(PickleWriteFailure) in
            try writer.write(entry.key)
            try writer.write(entry.value)
        }
        out.append(0x62)
    }

    private mutating func write(_ tensor: TensorReference) throws(PickleWriteFailure) {
        let storage = tensor.storage
        guard let storageClass = storage.dtype.storageClassName else {
            throw PickleWriteFailure("tensor dtype \(storage.dtype.qualifiedName) has no storage class torch.save writes")
        }
        guard tensor.shape.count == tensor.strides.count else {
            throw PickleWriteFailure("tensor of size \(tensor.shape) has strides \(tensor.strides)")
        }
        if tensor.isParameter { global("torch._utils", "_rebuild_parameter") }
        global("torch._utils", "_rebuild_tensor_v2")
        out.append(0x28)
        // The persistent id ('storage', torch.<Type>Storage, key, location, numel).
        out.append(0x28)
        string("storage")
        global("torch", storageClass)
        string(storage.key)
        string(storage.location)
        int(storage.elementCount)
        out += [0x74, 0x51]
        if storageKeys.insert(storage.key).inserted { storageOrder.append(storage) }
        int(tensor.storageOffset)
        try tuple(count: tensor.shape.count) { (writer) throws(PickleWriteFailure) in
            for dimension in tensor.shape { writer.int(dimension) }
        }
        try tuple(count: tensor.strides.count) { (writer) throws(PickleWriteFailure) in
            for stride in tensor.strides { writer.int(stride) }
        }
        // A parameter's own requires_grad is on the Parameter; torch saves its data tensor with False.
        out.append(tensor.requiresGrad && !tensor.isParameter ? 0x88 : 0x89)
        emptyOrderedDict()
        out += [0x74, 0x52]
        if tensor.isParameter {
            out.append(tensor.requiresGrad ? 0x88 : 0x89)
            emptyOrderedDict()
            out += [0x87, 0x52]
        }
    }
}
