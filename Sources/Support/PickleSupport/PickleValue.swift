/// What a restricted unpickle of a torch checkpoint yields: plain Python data, torch's small value types, and
/// tensors as references to storages (their bytes stay in the archive until `TorchArchive` reads them).
/// Shared objects in the pickle (memo references) come out as copies: this is a tree, never a graph.
package indirect enum PickleValue: Hashable, Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case complex(real: Double, imaginary: Double)
    case string(String)
    /// `bytes` (pickled by protocol 2 as `_codecs.encode(text, "latin1")`) and `bytearray`.
    case bytes([UInt8])
    case tuple([PickleValue])
    case list([PickleValue])
    case set([PickleValue])
    case dict(PickleDict)
    case tensor(TensorReference)
    case dtype(TorchDType)
    /// `torch.device("cpu")`, `torch.device("cuda", 0)` → "cpu", "cuda:0".
    case device(String)
    case size([Int64])
    /// `torch.serialization._get_layout("torch.strided")` → "torch.strided".
    case layout(String)
}

/// A Python dict in insertion order, as `dict`, `collections.OrderedDict` or `collections.Counter`.
package struct PickleDict: Hashable, Sendable {
    package enum Kind: String, Hashable, Sendable {
        case dict, orderedDict, counter
    }

    package struct Entry: Hashable, Sendable {
        package var key: PickleValue
        package var value: PickleValue

        package init(_ key: PickleValue, _ value: PickleValue) {
            self.key = key
            self.value = value
        }
    }

    package var kind: Kind
    package var entries: [Entry]
    /// Instance attributes set by BUILD: a `state_dict()` is an OrderedDict whose `_metadata` attribute holds
    /// each module's version.
    package var attributes: [Entry]

    package init(kind: Kind = .dict, entries: [Entry] = [], attributes: [Entry] = []) {
        self.kind = kind
        self.entries = entries
        self.attributes = attributes
    }

    /// The value under a string key (the keys of state dicts and checkpoints).
    package subscript(key: String) -> PickleValue? {
        entries.first { $0.key == .string(key) }?.value
    }
}

/// A tensor as `torch._utils._rebuild_tensor_v2` (or `_rebuild_parameter` around it) describes it: a view into
/// a storage. Sizes and strides are in elements.
package struct TensorReference: Hashable, Sendable {
    package var storage: StorageReference
    package var storageOffset: Int64
    package var shape: [Int64]
    package var strides: [Int64]
    package var requiresGrad: Bool
    /// Saved as an `nn.Parameter` (through `_rebuild_parameter`).
    package var isParameter: Bool

    package init(storage: StorageReference, storageOffset: Int64, shape: [Int64], strides: [Int64],
                 requiresGrad: Bool = false, isParameter: Bool = false) {
        self.storage = storage
        self.storageOffset = storageOffset
        self.shape = shape
        self.strides = strides
        self.requiresGrad = requiresGrad
        self.isParameter = isParameter
    }

    /// Row-major strides for `shape`, as torch gives a contiguous tensor (an empty dimension counts as size 1).
    package static func contiguousStrides(_ shape: [Int64]) -> [Int64] {
        var strides = [Int64](repeating: 1, count: shape.count)
        var running: Int64 = 1
        for index in shape.indices.reversed() {
            strides[index] = running
            running = running.multipliedReportingOverflow(by: max(shape[index], 1)).partialValue
        }
        return strides
    }
}

/// A persistent id `('storage', <Storage class>, key, location, numel)`: the zip member `data/<key>` holds
/// `numel` elements of `dtype`.
package struct StorageReference: Hashable, Sendable {
    package var key: String
    package var dtype: TorchDType
    package var location: String
    package var elementCount: Int64

    package init(key: String, dtype: TorchDType, location: String = "cpu", elementCount: Int64) {
        self.key = key
        self.dtype = dtype
        self.location = location
        self.elementCount = elementCount
    }
}

/// The dtypes torch's weights-only unpickler knows by name (`torch.float32` …), with the legacy storage class
/// of those that have one.
package enum TorchDType: String, CaseIterable, Hashable, Sendable {
    case float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool, complex128, complex64
    case qint8, qint32, quint8, quint4x2, quint2x4
    case uint16, uint32, uint64, bits16, bits8, bits1x8, bits2x4, bits4x2, complex32, bcomplex32
    case float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0fnu, float4_e2m1fn_x2
    case uint1, uint2, uint3, uint4, uint5, uint6, uint7, int1, int2, int3, int4, int5, int6, int7

    /// `torch.float32`: how the dtype is named as a pickle global and in messages.
    package var qualifiedName: String { "torch." + rawValue }

    /// Bytes per element (torch._utils._element_size); nil for the sub-byte dtypes no storage holds.
    package var elementSize: Int? {
        switch self {
        case .float64, .int64, .complex64, .uint64: 8
        case .float32, .int32, .qint32, .uint32, .complex32, .bcomplex32: 4
        case .float16, .bfloat16, .int16, .uint16, .bits16: 2
        case .int8, .uint8, .bool, .qint8, .quint8, .quint4x2, .quint2x4, .bits8, .bits1x8, .bits2x4, .bits4x2,
             .float8_e4m3fn, .float8_e5m2, .float8_e4m3fnuz, .float8_e5m2fnuz, .float8_e8m0fnu, .float4_e2m1fn_x2:
            1
        case .complex128: 16
        case .uint1, .uint2, .uint3, .uint4, .uint5, .uint6, .uint7, .int1, .int2, .int3, .int4, .int5, .int6, .int7:
            nil
        }
    }

    /// The legacy `torch.<Name>Storage` class torch.save names in a persistent id.
    package var storageClassName: String? {
        switch self {
        case .float64: "DoubleStorage"
        case .float32: "FloatStorage"
        case .float16: "HalfStorage"
        case .bfloat16: "BFloat16Storage"
        case .int64: "LongStorage"
        case .int32: "IntStorage"
        case .int16: "ShortStorage"
        case .int8: "CharStorage"
        case .uint8: "ByteStorage"
        case .bool: "BoolStorage"
        case .complex128: "ComplexDoubleStorage"
        case .complex64: "ComplexFloatStorage"
        case .qint8: "QInt8Storage"
        case .qint32: "QInt32Storage"
        case .quint8: "QUInt8Storage"
        case .quint4x2: "QUInt4x2Storage"
        case .quint2x4: "QUInt2x4Storage"
        default: nil
        }
    }

    package init?(storageClassName: String) {
        guard let match = Self.allCases.first(where: { $0.storageClassName == storageClassName }) else { return nil }
        self = match
    }
}
