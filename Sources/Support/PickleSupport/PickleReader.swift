import Foundation

/// Why a pickle was refused: the byte offset of the opcode (or of the end, for a truncated stream) and the reason.
package struct PickleFailure: Error, CustomStringConvertible, Equatable, Sendable {
    package var offset: Int
    package var reason: String

    package init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    package var description: String { "pickle byte \(offset): \(reason)" }
}

/// Bounds on what a pickle may build. The stack, the memo and the containers are bounded by the stream itself
/// (every push costs an opcode byte); these bound what sharing could multiply and what recursion could reach.
package struct PickleLimits: Sendable {
    /// Containers and tuples nested deeper than this are refused (a cyclic structure is infinitely deep).
    package var maxDepth: Int
    /// Values in the resulting tree. Memo references make copies of shared objects, so a small pickle could
    /// otherwise describe an exponentially large tree.
    package var maxValues: Int

    package init(maxDepth: Int, maxValues: Int) {
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }

    /// Limits for a pickle of `byteCount` bytes: a value per byte and a margin, and nesting far beyond any
    /// checkpoint's (a training checkpoint nests about six deep).
    package static func derived(fromByteCount byteCount: Int) -> PickleLimits {
        PickleLimits(maxDepth: 100, maxValues: byteCount.addingReportingOverflow(4096).overflow ? .max : byteCount + 4096)
    }
}

/// The restricted unpickler: the opcodes and globals torch 2.15's `torch.load(weights_only=True)` accepts,
/// interpreted without executing anything. Persistent ids must be torch's storage ids; tensors become
/// `TensorReference`s whose storages the caller checks.
package struct PickleReader {
    private let bytes: [UInt8]
    private let limits: PickleLimits

    package init(_ data: Data, limits: PickleLimits? = nil) {
        self.bytes = [UInt8](data)
        self.limits = limits ?? .derived(fromByteCount: data.count)
    }

    package func read() throws(PickleFailure) -> PickleValue {
        var machine = Machine(bytes: bytes, limits: limits)
        return try machine.run()
    }
}

// MARK: - The machine

/// An object on the stack or in the memo while unpickling. Lists, dicts and sets live in `Machine.containers`
/// and are referred to by index, so a memo reference shares them (APPEND after BINGET changes the one list, as
/// in Python) and no chain of references can make releasing them recurse.
private indirect enum Item {
    case value(PickleValue)
    case tuple([Item], depth: Int)
    case container(Int)
    case global(PickleGlobal)
    case storage(StorageReference)

    var depth: Int {
        if case .tuple(_, let depth) = self { return depth }
        return 0
    }
}

private enum Container {
    case list([Item])
    case dict(kind: PickleDict.Kind, keys: [PickleValue], values: [Item], index: [PickleValue: Int],
              attributes: [(PickleValue, Item)])
    case set([PickleValue], members: Set<PickleValue>)
}

private struct Machine {
    let bytes: [UInt8]
    let limits: PickleLimits
    var position = 0
    /// Where the opcode being run starts: what failures name.
    var opcodeOffset = 0
    var stack: [Item] = []
    var metastack: [[Item]] = []
    var memo: [UInt32: Item] = [:]
    var containers: [Container] = []
    var storages: [String: StorageReference] = [:]
    /// Values dict keys and set elements may add up to over the whole pickle: a key that is a tuple of shared
    /// tuples is a tree as large as the values budget allows, and hashing it again for every SETITEM would take
    /// time quadratic in the stream.
    var keyBudget: Int

    init(bytes: [UInt8], limits: PickleLimits) {
        self.bytes = bytes
        self.limits = limits
        self.keyBudget = limits.maxValues
    }

    func fail(_ reason: String) -> PickleFailure { PickleFailure(offset: opcodeOffset, reason: reason) }

    // MARK: Reading the stream

    mutating func take(_ count: Int, for what: String) throws(PickleFailure) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else {
            throw fail("truncated: \(what) needs \(count) bytes, \(bytes.count - position) remain")
        }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func littleEndian(_ count: Int, for what: String) throws(PickleFailure) -> UInt64 {
        var value: UInt64 = 0
        for (shift, byte) in try take(count, for: what).enumerated() { value |= UInt64(byte) << (8 * shift) }
        return value
    }

    mutating func line(for what: String) throws(PickleFailure) -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else {
            throw fail("truncated: \(what) has no end of line")
        }
        defer { position = end + 1 }
        guard let text = String(validating: bytes[position..<end], as: UTF8.self) else {
            throw fail("\(what) is not UTF-8")
        }
        return text
    }

    func text(_ raw: ArraySlice<UInt8>, _ what: String) throws(PickleFailure) -> String {
        // Python writes lone surrogates with "surrogatepass"; a Swift string cannot hold them.
        guard let text = String(validating: raw, as: UTF8.self) else { throw fail("\(what) is not valid UTF-8") }
        return text
    }

    // MARK: The stack

    mutating func push(_ item: Item) throws(PickleFailure) {
        guard item.depth <= limits.maxDepth else {
            throw fail("tuples nested more than \(limits.maxDepth) deep")
        }
        stack.append(item)
    }

    mutating func pop(_ opcode: String) throws(PickleFailure) -> Item {
        guard let item = stack.popLast() else { throw fail("\(opcode) on an empty stack") }
        return item
    }

    func top(_ opcode: String) throws(PickleFailure) -> Item {
        guard let item = stack.last else { throw fail("\(opcode) on an empty stack") }
        return item
    }

    mutating func popMark(_ opcode: String) throws(PickleFailure) -> [Item] {
        guard let outer = metastack.popLast() else { throw fail("\(opcode) without a MARK") }
        defer { stack = outer }
        return stack
    }

    func makeTuple(_ items: [Item]) -> Item {
        .tuple(items, depth: 1 + (items.map(\.depth).max() ?? 0))
    }

    // MARK: Running

    mutating func run() throws(PickleFailure) -> PickleValue {
        while true {
            opcodeOffset = position
            guard position < bytes.count else {
                throw PickleFailure(offset: position, reason: "truncated: the stream ends before STOP")
            }
            let opcode = bytes[position]
            position += 1
            switch opcode {
            case 0x80:  // PROTO
                let version = try littleEndian(1, for: "PROTO")
                guard version <= 5 else { throw fail("unknown pickle protocol \(version)") }
            case 0x2E:  // STOP
                let result = try pop("STOP")
                var budget = limits.maxValues
                return try materialize(result, depth: 0, budget: &budget)
            case 0x63:  // GLOBAL
                let module = try line(for: "GLOBAL's module")
                let name = try line(for: "GLOBAL's name")
                switch PickleGlobal.resolve(module: module, name: name) {
                case .allowed(let global): try push(.global(global))
                case .unsupported(let path, let what): throw fail("global \(path) (\(what)) is not supported")
                case .disallowed(let path): throw fail("disallowed global \(path)")
                }
            case 0x52:  // REDUCE
                let arguments = try pop("REDUCE")
                guard case .global(let function) = try pop("REDUCE") else {
                    throw fail("REDUCE of something that is not an allowed global")
                }
                try push(try call(function, arguments, opcode: "REDUCE"))
            case 0x81:  // NEWOBJ
                let arguments = try pop("NEWOBJ")
                guard case .global(let type) = try pop("NEWOBJ") else {
                    throw fail("NEWOBJ of something that is not an allowed class")
                }
                try push(try newObject(type, arguments))
            case 0x62:  // BUILD
                let state = try pop("BUILD")
                try build(on: try top("BUILD"), state: state)
            case 0x61:  // APPEND
                let item = try pop("APPEND")
                try append([item], to: try top("APPEND"), "APPEND")
            case 0x65:  // APPENDS
                let items = try popMark("APPENDS")
                try append(items, to: try top("APPENDS"), "APPENDS")
            case 0x73:  // SETITEM
                let value = try pop("SETITEM"), key = try pop("SETITEM")
                try setItems([key, value], in: try top("SETITEM"), "SETITEM")
            case 0x75:  // SETITEMS
                let items = try popMark("SETITEMS")
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number (\(items.count)) of items") }
                try setItems(items, in: try top("SETITEMS"), "SETITEMS")
            case 0x28:  // MARK
                metastack.append(stack)
                stack = []
            case 0x74:  // TUPLE
                try push(makeTuple(try popMark("TUPLE")))
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let count = Int(opcode - 0x84)
                guard stack.count >= count else { throw fail("TUPLE\(count) with \(stack.count) items on the stack") }
                let items = Array(stack.suffix(count))
                stack.removeLast(count)
                try push(makeTuple(items))
            case 0x4E: try push(.value(.none))  // NONE
            case 0x89: try push(.value(.bool(false)))  // NEWFALSE
            case 0x88: try push(.value(.bool(true)))  // NEWTRUE
            case 0x29: try push(.value(.tuple([])))  // EMPTY_TUPLE
            case 0x5D: try push(newContainer(.list([])))  // EMPTY_LIST
            case 0x7D:  // EMPTY_DICT
                try push(newContainer(.dict(kind: .dict, keys: [], values: [], index: [:], attributes: [])))
            case 0x8F: try push(newContainer(.set([], members: [])))  // EMPTY_SET
            case 0x4A:  // BININT
                try push(.value(.int(Int64(Int32(bitPattern: UInt32(try littleEndian(4, for: "BININT")))))))
            case 0x4B: try push(.value(.int(Int64(try littleEndian(1, for: "BININT1")))))
            case 0x4D: try push(.value(.int(Int64(try littleEndian(2, for: "BININT2")))))
            case 0x8A:  // LONG1
                let count = Int(try littleEndian(1, for: "LONG1"))
                guard count <= 8 else { throw fail("LONG1 integer of \(count) bytes is wider than 64 bits") }
                let raw = try littleEndian(count, for: "LONG1")
                // Two's complement of `count` bytes, sign-extended.
                let value = count == 0 || count == 8 ? Int64(bitPattern: raw)
                    : Int64(bitPattern: raw << (64 - 8 * UInt64(count))) >> (64 - 8 * Int64(count))
                try push(.value(.int(value)))
            case 0x47:  // BINFLOAT, big-endian
                let raw = try take(8, for: "BINFLOAT").reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                try push(.value(.float(Double(bitPattern: raw))))
            case 0x58:  // BINUNICODE
                let length = try littleEndian(4, for: "BINUNICODE's length")
                try push(.value(.string(try text(try take(Int(length), for: "BINUNICODE"), "BINUNICODE string"))))
            case 0x55:  // SHORT_BINSTRING, decoded as torch.load decodes it (encoding "utf-8")
                let length = try littleEndian(1, for: "SHORT_BINSTRING's length")
                try push(.value(.string(try text(try take(Int(length), for: "SHORT_BINSTRING"),
                                                 "SHORT_BINSTRING string"))))
            case 0x51:  // BINPERSID
                try push(.storage(try storage(for: try pop("BINPERSID"))))
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let index = UInt32(try littleEndian(opcode == 0x68 ? 1 : 4, for: "BINGET"))
                guard let item = memo[index] else { throw fail("memo entry \(index) was never stored") }
                try push(item)
            case 0x71, 0x72:  // BINPUT, LONG_BINPUT
                let index = UInt32(try littleEndian(opcode == 0x71 ? 1 : 4, for: "BINPUT"))
                memo[index] = try top("BINPUT")
            default:
                throw fail("unsupported opcode 0x\(String(opcode, radix: 16, uppercase: false))"
                           + (Self.opcodeNames[opcode].map { " (\($0))" } ?? ""))
            }
        }
    }

    /// Names of the standard opcodes torch's weights-only unpickler refuses, for the message.
    static let opcodeNames: [UInt8: String] = [
        0x93: "STACK_GLOBAL", 0x95: "FRAME", 0x94: "MEMOIZE", 0x8C: "SHORT_BINUNICODE", 0x8B: "LONG4",
        0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x50: "PERSID", 0x69: "INST", 0x6F: "OBJ",
        0x49: "INT", 0x4C: "LONG", 0x46: "FLOAT", 0x53: "STRING", 0x54: "BINSTRING", 0x56: "UNICODE", 0x67: "GET",
        0x70: "PUT", 0x64: "DICT", 0x6C: "LIST", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x42: "BINBYTES",
        0x43: "SHORT_BINBYTES", 0x8D: "BINUNICODE8", 0x8E: "BINBYTES8", 0x96: "BYTEARRAY8",
        0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
    ]

    mutating func newContainer(_ container: Container) -> Item {
        containers.append(container)
        return .container(containers.count - 1)
    }

    // MARK: Containers

    mutating func append(_ items: [Item], to target: Item, _ opcode: String) throws(PickleFailure) {
        guard case .container(let index) = target, case .list(var list) = containers[index] else {
            throw fail("\(opcode) to something that is not a list")
        }
        containers[index] = .list([])  // hand the array over without a copy
        list.append(contentsOf: items)
        containers[index] = .list(list)
    }

    mutating func setItems(_ items: [Item], in target: Item, _ opcode: String) throws(PickleFailure) {
        guard case .container(let index) = target,
              case .dict(let kind, var keys, var values, var lookup, let attributes) = containers[index] else {
            throw fail("\(opcode) on something that is not a dict, OrderedDict or Counter")
        }
        containers[index] = .list([])
        for pair in stride(from: 0, to: items.count, by: 2) {
            let key = try hashable(items[pair], "a dict key")
            if let existing = lookup[key] {
                values[existing] = items[pair + 1]
            } else {
                lookup[key] = keys.count
                keys.append(key)
                values.append(items[pair + 1])
            }
        }
        containers[index] = .dict(kind: kind, keys: keys, values: values, index: lookup, attributes: attributes)
    }

    /// The value of an item that Python could hash: not a list, dict or set, nor a tuple holding one.
    mutating func hashable(_ item: Item, _ what: String) throws(PickleFailure) -> PickleValue {
        keyBudget -= 1
        guard keyBudget >= 0 else {
            throw fail("dict keys and set elements add up to more than \(limits.maxValues) values")
        }
        switch item {
        case .value(let value): return value
        case .tuple(let items, _):
            var values: [PickleValue] = []
            for element in items { values.append(try hashable(element, what)) }
            return .tuple(values)
        case .container: throw fail("\(what) is a list, dict or set, which Python cannot hash")
        case .global(.dtype(let dtype)): return .dtype(dtype)
        case .global(let global): throw fail("\(what) is the global \(global.qualifiedName)")
        case .storage: throw fail("\(what) is a storage")
        }
    }

    // MARK: Calls (REDUCE), NEWOBJ and BUILD on the allowed globals

    func arguments(_ item: Item, of name: String) throws(PickleFailure) -> [Item] {
        switch item {
        case .tuple(let items, _): return items
        case .value(.tuple(let values)): return values.map(Item.value)
        default: throw fail("the arguments of \(name) are not a tuple")
        }
    }

    func integer(_ item: Item, _ what: String) throws(PickleFailure) -> Int64 {
        switch item {
        case .value(.int(let value)): return value
        case .value(.bool(let flag)): return flag ? 1 : 0
        default: throw fail("\(what) is not an integer")
        }
    }

    func integers(_ item: Item, _ what: String) throws(PickleFailure) -> [Int64] {
        let elements: [Item]
        switch item {
        case .tuple(let items, _): elements = items
        case .value(.tuple(let values)), .value(.list(let values)): elements = values.map(Item.value)
        case .value(.size(let values)): return values
        case .container(let index):
            guard case .list(let items) = containers[index] else { throw fail("\(what) is not a tuple of integers") }
            elements = items
        default: throw fail("\(what) is not a tuple of integers")
        }
        var values: [Int64] = []
        for element in elements {
            guard case .value(.int(let value)) = element else { throw fail("\(what) is not a tuple of integers") }
            values.append(value)
        }
        return values
    }

    func string(_ item: Item, _ what: String) throws(PickleFailure) -> String {
        guard case .value(.string(let text)) = item else { throw fail("\(what) is not a string") }
        return text
    }

    func boolean(_ item: Item, _ what: String) throws(PickleFailure) -> Bool {
        guard case .value(.bool(let flag)) = item else { throw fail("\(what) is not a bool") }
        return flag
    }

    func isEmptyDict(_ item: Item) -> Bool {
        guard case .container(let index) = item, case .dict(_, let keys, _, _, let attributes) = containers[index] else {
            return false
        }
        return keys.isEmpty && attributes.isEmpty
    }

    func tensor(_ item: Item, _ what: String) throws(PickleFailure) -> TensorReference {
        guard case .value(.tensor(let tensor)) = item else { throw fail("\(what) is not a tensor") }
        return tensor
    }

    mutating func call(_ function: PickleGlobal, _ packed: Item, opcode: String) throws(PickleFailure) -> Item {
        let name = function.qualifiedName
        let args = try arguments(packed, of: name)
        func expectCount(_ counts: ClosedRange<Int>) throws(PickleFailure) {
            guard counts.contains(args.count) else {
                throw fail("\(name) called with \(args.count) arguments, not \(counts.lowerBound == counts.upperBound ? "\(counts.lowerBound)" : "\(counts.lowerBound)–\(counts.upperBound)")")
            }
        }
        switch function {
        case .orderedDict, .counter:
            try expectCount(0...1)
            var keys: [PickleValue] = [], values: [Item] = [], lookup: [PickleValue: Int] = [:]
            if let source = args.first {
                var pairs: [Item] = []
                switch source {
                case .container(let index):
                    switch containers[index] {
                    case .dict(_, let sourceKeys, let sourceValues, _, _):
                        for (key, value) in zip(sourceKeys, sourceValues) { pairs += [.value(key), value] }
                    case .list(let items) where function == .orderedDict:
                        for item in items { pairs += try pair(item, name) }
                    default: throw fail("\(name) called with an argument mlpconv does not read")
                    }
                case .tuple(let items, _) where function == .orderedDict:
                    for item in items { pairs += try pair(item, name) }
                default: throw fail("\(name) called with an argument mlpconv does not read")
                }
                for pair in stride(from: 0, to: pairs.count, by: 2) {
                    let key = try hashable(pairs[pair], "a dict key")
                    if let existing = lookup[key] { values[existing] = pairs[pair + 1]; continue }
                    lookup[key] = keys.count
                    keys.append(key)
                    values.append(pairs[pair + 1])
                }
            }
            return newContainer(.dict(kind: function == .counter ? .counter : .orderedDict, keys: keys, values: values,
                                      index: lookup, attributes: []))
        case .rebuildTensorV2, .rebuildTensor:
            try expectCount(function == .rebuildTensor ? 4...4 : 6...7)
            guard case .storage(let storage) = args[0] else { throw fail("\(name): its first argument is not a storage") }
            let offset = try integer(args[1], "\(name)'s storage offset")
            let shape = try integers(args[2], "\(name)'s size")
            let strides = try integers(args[3], "\(name)'s stride")
            guard shape.count == strides.count else {
                throw fail("\(name): size \(shape) and stride \(strides) have different lengths")
            }
            var requiresGrad = false
            if function == .rebuildTensorV2 {
                requiresGrad = try boolean(args[4], "\(name)'s requires_grad")
                guard isEmptyDict(args[5]) else { throw fail("\(name): backward hooks are not supported") }
                if args.count == 7, !isEmptyDict(args[6]), !isNone(args[6]) {
                    throw fail("\(name): tensor metadata is not supported")
                }
            }
            return .value(.tensor(TensorReference(storage: storage, storageOffset: offset, shape: shape, strides: strides,
                                                  requiresGrad: requiresGrad)))
        case .rebuildParameter, .rebuildParameterWithState:
            try expectCount(function == .rebuildParameter ? 3...3 : 4...4)
            var tensor = try tensor(args[0], "\(name)'s data")
            tensor.requiresGrad = try boolean(args[1], "\(name)'s requires_grad")
            tensor.isParameter = true
            guard isEmptyDict(args[2]) else { throw fail("\(name): backward hooks are not supported") }
            if args.count == 4, !isEmptyDict(args[3]) { throw fail("\(name): parameter state is not supported") }
            return .value(.tensor(tensor))
        case .sizeClass:
            try expectCount(0...1)
            return .value(.size(try args.first.map { (item) throws(PickleFailure) in try integers(item, "torch.Size's argument") } ?? []))
        case .deviceClass:
            try expectCount(1...2)
            let type = try string(args[0], "torch.device's type")
            guard !type.isEmpty, type.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic
                    || ("0"..."9").contains($0) || $0 == "_" || $0 == ":") }) else {
                throw fail("torch.device(\"\(type)\") is not a device name")
            }
            if args.count == 2, !isNone(args[1]) {
                let index = try integer(args[1], "torch.device's index")
                guard index >= 0, !type.contains(":") else { throw fail("torch.device(\"\(type)\", \(index)) is not a device") }
                return .value(.device("\(type):\(index)"))
            }
            return .value(.device(type))
        case .getLayout:
            try expectCount(1...1)
            let layout = try string(args[0], "_get_layout's argument")
            guard Self.layouts.contains(layout) else { throw fail("\(layout) is not a torch layout") }
            return .value(.layout(layout))
        case .codecsEncode:
            try expectCount(1...2)
            return .value(.bytes(try encode(args, name)))
        case .bytearrayClass:
            try expectCount(0...2)
            if args.isEmpty { return .value(.bytes([])) }
            if args.count == 1, case .value(.bytes(let raw)) = args[0] { return .value(.bytes(raw)) }
            return .value(.bytes(try encode(args, name)))
        case .setClass:
            try expectCount(0...1)
            var elements: [PickleValue] = [], members: Set<PickleValue> = []
            if let source = args.first {
                let items: [Item]
                switch source {
                case .tuple(let tupleItems, _): items = tupleItems
                case .value(.tuple(let values)): items = values.map(Item.value)
                case .container(let index):
                    switch containers[index] {
                    case .list(let listItems): items = listItems
                    case .set(let setElements, _): items = setElements.map(Item.value)
                    case .dict(_, let keys, _, _, _): items = keys.map(Item.value)
                    }
                default: throw fail("builtins.set called with an argument mlpconv does not read")
                }
                for item in items {
                    let element = try hashable(item, "a set element")
                    if members.insert(element).inserted { elements.append(element) }
                }
            }
            return newContainer(.set(elements, members: members))
        case .complexClass:
            try expectCount(0...2)
            var parts: [Double] = [0, 0]
            for (index, item) in args.enumerated() {
                switch item {
                case .value(.float(let value)): parts[index] = value
                case .value(.int(let value)): parts[index] = Double(value)
                default: throw fail("builtins.complex's arguments are not numbers")
                }
            }
            return .value(.complex(real: parts[0], imaginary: parts[1]))
        case .parameterClass, .tensorClass, .dtype, .storageClass:
            throw fail("\(opcode) calls \(name), which mlpconv does not support calling")
        }
    }

    static let layouts: Set<String> = ["torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch.sparse_csc",
                                       "torch.sparse_bsr", "torch.sparse_bsc", "torch._mkldnn", "torch.jagged"]

    func isNone(_ item: Item) -> Bool {
        if case .value(.none) = item { return true }
        return false
    }

    func pair(_ item: Item, _ name: String) throws(PickleFailure) -> [Item] {
        switch item {
        case .tuple(let items, _) where items.count == 2: return items
        case .value(.tuple(let values)) where values.count == 2: return values.map(Item.value)
        default: throw fail("\(name) called with an element that is not a (key, value) pair")
        }
    }

    /// `_codecs.encode(text, encoding)`: how protocol 2 pickles `bytes`, with "latin1".
    func encode(_ args: [Item], _ name: String) throws(PickleFailure) -> [UInt8] {
        let text = try string(args[0], "\(name)'s text")
        let encoding = args.count > 1 ? try string(args[1], "\(name)'s encoding").lowercased() : "utf-8"
        switch encoding {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
            var raw: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else { throw fail("\(name): the text does not fit latin-1") }
                raw.append(UInt8(scalar.value))
            }
            return raw
        case "utf-8", "utf8": return Array(text.utf8)
        default: throw fail("\(name) with encoding \"\(encoding)\" is not supported")
        }
    }

    mutating func newObject(_ type: PickleGlobal, _ packed: Item) throws(PickleFailure) -> Item {
        let args = try arguments(packed, of: "NEWOBJ of \(type.qualifiedName)")
        switch type {
        case .orderedDict, .counter:
            // dict.__new__ ignores its arguments: the items come with SETITEMS.
            return newContainer(.dict(kind: type == .counter ? .counter : .orderedDict, keys: [], values: [], index: [:],
                                      attributes: []))
        case .setClass:
            return newContainer(.set([], members: []))
        case .sizeClass:
            guard args.count <= 1 else { throw fail("NEWOBJ of torch.Size with \(args.count) arguments") }
            return .value(.size(try args.first.map { (item) throws(PickleFailure) in try integers(item, "torch.Size's argument") } ?? []))
        case .parameterClass:
            guard (1...2).contains(args.count) else { throw fail("NEWOBJ of torch.nn.Parameter with \(args.count) arguments") }
            var tensor = try tensor(args[0], "nn.Parameter's data")
            tensor.isParameter = true
            tensor.requiresGrad = args.count == 2 ? try boolean(args[1], "nn.Parameter's requires_grad") : true
            return .value(.tensor(tensor))
        default:
            throw fail("NEWOBJ of \(type.qualifiedName) is not supported")
        }
    }

    mutating func build(on target: Item, state: Item) throws(PickleFailure) {
        // torch builds an OrderedDict (or Counter) by updating its attributes from a dict: a state_dict's `_metadata`.
        guard case .container(let index) = target,
              case .dict(let kind, let keys, let values, let lookup, var attributes) = containers[index],
              kind != .dict else {
            throw fail("BUILD on something other than an OrderedDict or Counter is not supported")
        }
        if isNone(state) { return }
        guard case .container(let stateIndex) = state,
              case .dict(_, let stateKeys, let stateValues, _, _) = containers[stateIndex] else {
            throw fail("BUILD state for an OrderedDict is not a dict")
        }
        for (key, value) in zip(stateKeys, stateValues) {
            guard case .string = key else { throw fail("BUILD sets an attribute whose name is not a string") }
            if let existing = attributes.firstIndex(where: { $0.0 == key }) {
                attributes[existing].1 = value
            } else {
                attributes.append((key, value))
            }
        }
        containers[index] = .dict(kind: kind, keys: keys, values: values, index: lookup, attributes: attributes)
    }

    // MARK: Persistent ids

    /// `('storage', <storage class>, key, location, numel)`, as torch.serialization's `persistent_load` takes it.
    mutating func storage(for id: Item) throws(PickleFailure) -> StorageReference {
        guard case .tuple(let parts, _) = id else {
            throw fail("persistent id is not a tuple")
        }
        guard parts.count == 5, case .value(.string("storage")) = parts[0] else {
            throw fail("persistent id is not ('storage', type, key, location, numel)")
        }
        guard case .global(.storageClass(let dtype)) = parts[1] else {
            throw fail("persistent id names a storage type that is not a torch storage class")
        }
        let key = try string(parts[2], "the storage key")
        let location = try string(parts[3], "the storage location")
        let count = try integer(parts[4], "the storage's element count")
        guard count >= 0 else { throw fail("storage \"\(key)\" has a negative element count \(count)") }
        let reference = StorageReference(key: key, dtype: dtype, location: location, elementCount: count)
        if let earlier = storages[key], earlier != reference {
            throw fail("storage \"\(key)\" is declared again as \(count) \(dtype.qualifiedName) elements, first as "
                       + "\(earlier.elementCount) \(earlier.dtype.qualifiedName)")
        }
        storages[key] = reference
        return reference
    }

    // MARK: The result

    /// The value tree of an item, following container references; every value counts against the budget.
    func materialize(_ item: Item, depth: Int, budget: inout Int) throws(PickleFailure) -> PickleValue {
        guard depth <= limits.maxDepth else {
            throw fail("values nested more than \(limits.maxDepth) deep (or a structure that contains itself)")
        }
        budget -= 1
        guard budget >= 0 else {
            throw fail("the pickle describes more than \(limits.maxValues) values (shared objects copied out)")
        }
        switch item {
        case .value(let value):
            return value
        case .tuple(let items, _):
            var values: [PickleValue] = []
            for element in items { values.append(try materialize(element, depth: depth + 1, budget: &budget)) }
            return .tuple(values)
        case .container(let index):
            switch containers[index] {
            case .list(let items):
                var values: [PickleValue] = []
                for element in items { values.append(try materialize(element, depth: depth + 1, budget: &budget)) }
                return .list(values)
            case .set(let elements, _):
                budget -= elements.count
                guard budget >= 0 else {
                    throw fail("the pickle describes more than \(limits.maxValues) values (shared objects copied out)")
                }
                return .set(elements)
            case .dict(let kind, let keys, let values, _, let attributes):
                var entries: [PickleDict.Entry] = []
                for (key, value) in zip(keys, values) {
                    entries.append(.init(key, try materialize(value, depth: depth + 1, budget: &budget)))
                }
                var attributeEntries: [PickleDict.Entry] = []
                for (key, value) in attributes {
                    attributeEntries.append(.init(key, try materialize(value, depth: depth + 1, budget: &budget)))
                }
                return .dict(PickleDict(kind: kind, entries: entries, attributes: attributeEntries))
            }
        case .global(let global):
            // A dtype is a value; any other global left in the result is a class or function.
            guard case .dtype(let dtype) = global else {
                throw fail("the result holds the global \(global.qualifiedName), which is not a value")
            }
            return .dtype(dtype)
        case .storage(let storage):
            throw fail("the result holds storage \"\(storage.key)\" outside a tensor, which is not supported")
        }
    }
}
