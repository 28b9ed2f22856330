// Descriptions of what is in a file (extents, types, dataset metadata, group members) and of what the codecs
// store (element types, compression, attribute values): plain values, no open ids.
// The C import is `package` because element types name their HDF5 type ids and type classes map from HDF5's.
package import CHDF5

/// A dataspace's extent.
package struct HDF5Extent: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        /// One element, no dimensions.
        case scalar
        /// An n-dimensional array (possibly with zero-length dimensions).
        case simple
        /// No elements at all (h5py's `Empty`).
        case null
    }

    package var kind: Kind
    package var shape: [UInt64]
    /// Maximum dimensions; `UInt64.max` marks an unlimited one.
    package var maxShape: [UInt64]

    /// The number of elements, or nil if the product overflows (a hostile file can declare 2^40 × 2^40).
    package var elementCount: UInt64? {
        if kind == .null { return 0 }
        var count: UInt64 = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// `elementCount × elementSize` as an `Int`, or nil if it does not fit: the check to make before allocating.
    package func byteCount(elementSize: Int) -> Int? {
        guard let count = elementCount, let count = Int(exactly: count) else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: elementSize)
        return overflow ? nil : bytes
    }
}

/// What HDF5 says about a datatype.
package struct HDF5TypeInfo: Sendable, Equatable, CustomStringConvertible {
    package enum TypeClass: Sendable, Equatable {
        case integer, float, string, other(String)

        package init(_ typeClass: H5T_class_t) {
            switch typeClass {
            case H5T_INTEGER: self = .integer
            case H5T_FLOAT: self = .float
            case H5T_STRING: self = .string
            case H5T_TIME: self = .other("time")
            case H5T_BITFIELD: self = .other("bitfield")
            case H5T_OPAQUE: self = .other("opaque")
            case H5T_COMPOUND: self = .other("compound")
            case H5T_REFERENCE: self = .other("reference")
            case H5T_ENUM: self = .other("enum")
            case H5T_VLEN: self = .other("variable-length sequence")
            case H5T_ARRAY: self = .other("array")
            default: self = .other("class \(typeClass.rawValue)")
            }
        }
    }

    package enum ByteOrder: Sendable, Equatable { case littleEndian, bigEndian, none, other }

    package var typeClass: TypeClass
    /// Size in bytes of one element (for variable-length strings: the size of the in-file reference).
    package var size: Int
    package var byteOrder: ByteOrder
    package var isSigned: Bool
    package var isVariableLengthString: Bool
    /// For floats: the standard IEEE 754 binary32/binary64 bit layout (in either byte order).
    package var isIEEE = false

    package var description: String {
        switch typeClass {
        case .float:
            return "float\(size * 8)\(byteOrder == .bigEndian ? " big-endian" : "")\(isIEEE ? "" : " (non-IEEE layout)")"
        case .integer:
            return "\(isSigned ? "int" : "uint")\(size * 8)\(byteOrder == .bigEndian ? " big-endian" : "")"
        case .string: return isVariableLengthString ? "variable-length string" : "fixed-length string (\(size) bytes)"
        case .other(let name): return name
        }
    }
}

/// Everything about a dataset that can be learnt without reading its data.
package struct HDF5DatasetInfo: Sendable {
    /// Storage layout. (Virtual datasets never get this far: `info()` refuses them.)
    package enum Layout: Sendable, Equatable { case compact, contiguous, chunked, other(Int32) }

    package struct Filter: Sendable, Equatable {
        package var id: Int32
        package var name: String
    }

    package var extent: HDF5Extent
    package var type: HDF5TypeInfo
    package var layout: Layout
    /// Chunk dimensions when `layout == .chunked`.
    package var chunkShape: [UInt64]?
    /// Number of external raw-data files (`H5Pset_external`); non-zero means the data lives in other files.
    package var externalFileCount: Int
    package var filters: [Filter]
    /// Bytes allocated in the file for the data (after compression).
    package var storageSize: UInt64
    /// Where contiguous data starts in the file; nil for chunked or compact data and for unallocated storage.
    package var dataOffset: UInt64?

    package var shape: [UInt64] { extent.shape }
    package var elementCount: UInt64? { extent.elementCount }
}

/// One member of a group, described without following it.
package struct HDF5Member: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        case group
        case dataset
        case namedDatatype
        /// A hard link to an object of another or unknown type.
        case otherObject
        /// A link by path within the same file.
        case softLink(target: String)
        /// A link into another file: refused when opening.
        case externalLink(file: String, object: String)
        /// A user-defined link type: refused when opening.
        case userDefinedLink(type: Int32)
    }

    package var name: String
    package var kind: Kind
}

/// The element types the codecs store: float32 and float64 tensors, int64 counters, uint32 checksums and
/// uint64 generator words (and int32 for Keras's optimizer iteration counter).
package enum HDF5ElementType: Sendable, Equatable, CustomStringConvertible {
    case float32, float64, int32, int64, uint32, uint64

    package var size: Int {
        switch self {
        case .float32, .int32, .uint32: 4
        case .float64, .int64, .uint64: 8
        }
    }

    /// In-memory type (what the Swift buffer holds).
    package var nativeType: hid_t {
        switch self {
        case .float32: mlp_H5T_NATIVE_FLOAT()
        case .float64: mlp_H5T_NATIVE_DOUBLE()
        case .int32: mlp_H5T_NATIVE_INT32()
        case .int64: mlp_H5T_NATIVE_INT64()
        case .uint32: mlp_H5T_NATIVE_UINT32()
        case .uint64: mlp_H5T_NATIVE_UINT64()
        }
    }

    /// On-disk type: little-endian, what h5py and Keras write.
    package var fileType: hid_t {
        switch self {
        case .float32: mlp_H5T_IEEE_F32LE()
        case .float64: mlp_H5T_IEEE_F64LE()
        case .int32: mlp_H5T_STD_I32LE()
        case .int64: mlp_H5T_STD_I64LE()
        case .uint32: mlp_H5T_STD_U32LE()
        case .uint64: mlp_H5T_STD_U64LE()
        }
    }

    package var description: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .int32: "int32"
        case .int64: "int64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        }
    }
}

/// Swift element types that map onto an `HDF5ElementType`.
package protocol HDF5Element: BitwiseCopyable {
    static var hdf5Type: HDF5ElementType { get }
}
extension Float: HDF5Element { package static var hdf5Type: HDF5ElementType { .float32 } }
extension Double: HDF5Element { package static var hdf5Type: HDF5ElementType { .float64 } }
extension Int32: HDF5Element { package static var hdf5Type: HDF5ElementType { .int32 } }
extension Int64: HDF5Element { package static var hdf5Type: HDF5ElementType { .int64 } }
extension UInt32: HDF5Element { package static var hdf5Type: HDF5ElementType { .uint32 } }
extension UInt64: HDF5Element { package static var hdf5Type: HDF5ElementType { .uint64 } }

/// Chunked storage with shuffle + gzip, as Keras/h5py write with `compression="gzip"`.
package struct HDF5Compression: Sendable {
    /// Chunk dimensions; nil picks whole rows up to about 1 MiB per chunk.
    package var chunkShape: [Int]?
    /// zlib level 0...9.
    package var gzipLevel: Int = 4
    /// Byte-shuffle before gzip (helps floats a lot).
    package var shuffle: Bool = true

    package init(chunkShape: [Int]? = nil, gzipLevel: Int = 4, shuffle: Bool = true) {
        self.chunkShape = chunkShape
        self.gzipLevel = gzipLevel
        self.shuffle = shuffle
    }
}

/// A value of an attribute kind the codecs use.
package enum HDF5AttributeValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int64(Int64)
    case double(Double)
    case strings([String])
    case int64s([Int64])
    case doubles([Double])
    /// Written as uint32 (checksums). `attribute(_:)` reads unsigned integers back as `.int64`/`.int64s`;
    /// `unsignedAttribute(_:)` reads them exactly.
    case uint32(UInt32)
    case uint64s([UInt64])

    package var description: String {
        switch self {
        case .string: "a string"
        case .int64, .uint32: "an integer"
        case .double: "a float"
        case .strings: "an array of strings"
        case .int64s, .uint64s: "an array of integers"
        case .doubles: "an array of floats"
        }
    }
}
