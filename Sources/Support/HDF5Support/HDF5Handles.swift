import CHDF5
import Foundation

// Thin owners of HDF5 ids, private to the codecs.
//
// Rules every function here follows:
// - Each id is wrapped in its owner the moment it is created, before anything else can throw, so an error
//   path never leaks it; the owner closes it exactly once in `deinit` (or in an explicit `close()`).
// - Every call into HDF5 happens inside `hdf5 { }` (the library lock), and a failure is turned into an
//   `HDF5Error` right away, while the thread's error stack still describes it.
// - Nothing follows an external link, reads external raw storage or a virtual dataset: those make the library
//   open other files named by the (untrusted) file.
// - Sizes come from the file's metadata and are checked (overflow included) before anything is allocated.

/// Runs `body` under the HDF5 lock. A non-generic twin of `HDF5Library.withHDF5`, so closures infer
/// `throws(HDF5Error)` from context.
@inline(__always)
package func hdf5<T>(_ body: () throws(HDF5Error) -> T) throws(HDF5Error) -> T {
    try HDF5Library.withHDF5(body)
}

/// Where an operation happens, so failures can say so.
package struct HDF5Site {
    package var file: String
    package var object: String

    package func libraryError(_ operation: String) -> HDF5Error {
        .fromLibrary(file: file, object: object, operation: operation)
    }

    package func error(_ kind: HDF5Error.Kind, _ operation: String, _ reason: String) -> HDF5Error {
        HDF5Error(kind: kind, file: file, object: object, operation: operation, reason: reason)
    }

    /// Checks an id-returning call (negative means failure).
    package func id(_ id: hid_t, _ operation: @autoclosure () -> String) throws(HDF5Error) -> hid_t {
        if id < 0 { throw libraryError(operation()) }
        return id
    }

    /// Checks an `herr_t`-returning call (negative means failure).
    package func status(_ status: herr_t, _ operation: @autoclosure () -> String) throws(HDF5Error) {
        if status < 0 { throw libraryError(operation()) }
    }

    /// Checks an `htri_t`-returning call (negative failure, zero false, positive true).
    package func bool(_ value: htri_t, _ operation: @autoclosure () -> String) throws(HDF5Error) -> Bool {
        if value < 0 { throw libraryError(operation()) }
        return value > 0
    }

    /// Checks a count-returning call (`int` or `ssize_t`; negative means failure).
    package func count<I: BinaryInteger>(_ value: I, _ operation: @autoclosure () -> String) throws(HDF5Error) -> Int {
        guard value >= 0, let count = Int(exactly: value) else { throw libraryError(operation()) }
        return count
    }

    package func child(_ name: String) -> HDF5Site {
        HDF5Site(file: file, object: HDF5Path.join(object, name))
    }
}

package enum HDF5Path {
    /// `parent` + `name`, where an absolute `name` replaces the parent.
    package static func join(_ parent: String, _ name: String) -> String {
        if name.hasPrefix("/") { return name }
        if parent.hasSuffix("/") { return parent + name }
        return parent + "/" + name
    }

    /// HDF5 refuses or silently truncates names with NUL bytes; an empty name means "this object".
    package static func validate(_ name: String, _ site: HDF5Site, _ operation: String) throws(HDF5Error) {
        if name.isEmpty { throw site.error(.unsupported, operation, "empty object name") }
        if name.utf8.contains(0) { throw site.error(.unsupported, operation, "name contains a NUL byte") }
    }
}

/// A C string in a fixed buffer (possibly without a terminator) as a String.
package func stringFromCBuffer(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// Boxes that C iteration callbacks (plain function pointers, no captures) append to through `op_data`.
private final class HDF5LinkCollector { var links: [(name: String, type: H5L_type_t)] = [] }
private final class HDF5NameCollector { var names: [String] = [] }

// MARK: - Small owners

/// An owned property list id (`H5Pclose`).
package final class HDF5PropertyList {
    package let id: hid_t

    /// Creates a property list of `propertyClass` (e.g. `mlp_H5P_DATASET_CREATE()`).
    package init(class propertyClass: hid_t, site: HDF5Site) throws(HDF5Error) {
        id = try hdf5 { () throws(HDF5Error) in
            try site.id(H5Pcreate(propertyClass), "create property list")
        }
    }

    /// Takes ownership of an id returned by the library (e.g. `H5Dget_create_plist`).
    package init(adopting id: hid_t) { self.id = id }

    deinit { HDF5Library.withHDF5 { _ = H5Pclose(id) } }

    /// A link/group/dataset access list whose external-link callback refuses every traversal: the library's
    /// own guard behind `refuseExternalLinks(on:operation:)`, so that no path we did not check (or a check
    /// with a bug) can make HDF5 open another file.
    package static func refusingExternalLinks(class propertyClass: hid_t,
                                      site: HDF5Site) throws(HDF5Error) -> HDF5PropertyList {
        let list = try HDF5PropertyList(class: propertyClass, site: site)
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_elink_cb(list.id, { _, _, _, _, _, _, _ in -1 }, nil),
                            "install external-link refusal")
        }
        return list
    }
}

/// An owned dataspace id (`H5Sclose`).
package final class HDF5Dataspace {
    package let id: hid_t
    package init(adopting id: hid_t) { self.id = id }
    deinit { HDF5Library.withHDF5 { _ = H5Sclose(id) } }

    /// A scalar dataspace for `shape == []`, else a fixed-size simple one.
    package static func create(shape: [UInt64], site: HDF5Site, operation: String) throws(HDF5Error) -> HDF5Dataspace {
        try hdf5 { () throws(HDF5Error) in
            if shape.isEmpty {
                return HDF5Dataspace(adopting: try site.id(H5Screate(H5S_SCALAR), operation))
            }
            let dims = shape.map { hsize_t($0) }
            return HDF5Dataspace(adopting: try site.id(H5Screate_simple(Int32(dims.count), dims, nil), operation))
        }
    }

    /// The extent: kind, current and maximum dimensions (`UInt64.max` for unlimited).
    package func extent(site: HDF5Site, operation: String) throws(HDF5Error) -> HDF5Extent {
        try hdf5 { () throws(HDF5Error) in
            let spaceClass = H5Sget_simple_extent_type(id)
            switch spaceClass {
            case H5S_SCALAR: return HDF5Extent(kind: .scalar, shape: [], maxShape: [])
            case H5S_NULL: return HDF5Extent(kind: .null, shape: [], maxShape: [])
            case H5S_SIMPLE: break
            default: throw site.libraryError(operation)
            }
            let rank = try site.count(H5Sget_simple_extent_ndims(id), operation)
            // H5S_MAX_RANK is 32; a larger value can only come from a corrupt file.
            guard rank <= 32 else { throw site.error(.unsupported, operation, "rank \(rank) exceeds 32") }
            var dims = [hsize_t](repeating: 0, count: rank)
            var maxDims = [hsize_t](repeating: 0, count: rank)
            _ = try site.count(H5Sget_simple_extent_dims(id, &dims, &maxDims), operation)
            return HDF5Extent(kind: .simple, shape: dims.map { UInt64($0) }, maxShape: maxDims.map { UInt64($0) })
        }
    }
}

/// An owned datatype id (`H5Tclose`). Never wraps a predefined type such as `H5T_NATIVE_FLOAT`.
package final class HDF5Datatype {
    package let id: hid_t
    package init(adopting id: hid_t) { self.id = id }
    deinit { HDF5Library.withHDF5 { _ = H5Tclose(id) } }

    /// A variable-length, NUL-terminated string type with the given character set.
    package static func variableString(cset: H5T_cset_t, site: HDF5Site, operation: String) throws(HDF5Error) -> HDF5Datatype {
        try hdf5 { () throws(HDF5Error) in
            let type = HDF5Datatype(adopting: try site.id(H5Tcopy(mlp_H5T_C_S1()), operation))
            try site.status(H5Tset_size(type.id, mlp_H5T_VARIABLE()), operation)
            try site.status(H5Tset_cset(type.id, cset), operation)
            return type
        }
    }

    /// Class, size, byte order and sign, as HDF5 describes them.
    package func info(site: HDF5Site, operation: String) throws(HDF5Error) -> HDF5TypeInfo {
        try hdf5 { () throws(HDF5Error) in
            let typeClass = H5Tget_class(id)
            if typeClass.rawValue < 0 { throw site.libraryError(operation) }
            let size = H5Tget_size(id)
            if size == 0 { throw site.libraryError(operation) }
            var info = HDF5TypeInfo(typeClass: HDF5TypeInfo.TypeClass(typeClass), size: size,
                                    byteOrder: .none, isSigned: false, isVariableLengthString: false)
            switch typeClass {
            case H5T_INTEGER, H5T_FLOAT:
                switch H5Tget_order(id) {
                case H5T_ORDER_LE: info.byteOrder = .littleEndian
                case H5T_ORDER_BE: info.byteOrder = .bigEndian
                default: info.byteOrder = .other
                }
                info.isSigned = typeClass == H5T_FLOAT || H5Tget_sign(id) == H5T_SGN_2
                // A float class says nothing about the bit layout (HDF5 allows any exponent/mantissa split):
                // only the exact IEEE 754 binary32/binary64 layouts can be read without conversion.
                if typeClass == H5T_FLOAT {
                    for standard in [mlp_H5T_IEEE_F32LE(), mlp_H5T_IEEE_F64LE(), mlp_H5T_IEEE_F32BE(),
                                     mlp_H5T_IEEE_F64BE()] where try site.bool(H5Tequal(id, standard), operation) {
                        info.isIEEE = true
                    }
                }
            case H5T_STRING:
                info.isVariableLengthString = try site.bool(H5Tis_variable_str(id), operation)
            default:
                break
            }
            return info
        }
    }
}

/// An owned attribute id (`H5Aclose`).
package final class HDF5Attribute {
    package let id: hid_t
    package init(adopting id: hid_t) { self.id = id }
    deinit { HDF5Library.withHDF5 { _ = H5Aclose(id) } }
}

// MARK: - Descriptions of what is in a file

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

// MARK: - Files, groups, datasets

/// Anything attributes hang on: a file's root group, a group, a dataset.
package protocol HDF5Object: AnyObject {
    var id: hid_t { get }
    var file: HDF5File { get }
    /// The object's path inside the file, for messages.
    var objectPath: String { get }
}

/// Something that holds links: a file (its root group) or a group.
package protocol HDF5Container: HDF5Object {}

extension HDF5Object {
    package var site: HDF5Site { HDF5Site(file: file.path, object: objectPath) }
}

/// An open HDF5 file (`H5Fclose`). Groups, datasets and attributes keep their file alive.
package final class HDF5File: HDF5Container {
    package let path: String
    package private(set) var id: hid_t
    package var file: HDF5File { self }
    package var objectPath: String { "/" }

    private init(adopting id: hid_t, path: String) {
        self.id = id
        self.path = path
    }

    deinit {
        if id >= 0 { HDF5Library.withHDF5 { _ = H5Fclose(id) } }
    }

    /// Creates (or truncates) a file with default creation properties, so h5py and Keras read it.
    package static func create(at path: String) throws(HDF5Error) -> HDF5File {
        try open(path, "create file") { H5Fcreate(path, mlp_H5F_ACC_TRUNC(), mlp_H5P_DEFAULT(), $0) }
    }

    /// Creates a file that lives only in memory (the core driver without a backing store); `image()` gives its
    /// bytes. `name` only names the file in messages.
    package static func createInMemory(name: String) throws(HDF5Error) -> HDF5File {
        let site = HDF5Site(file: name, object: "/")
        let fapl = try HDF5PropertyList.fileAccess(site: site)
        return try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_fapl_core(fapl.id, 1 << 20, false), "create in-memory file")
            // A name of its own: HDF5 treats two files of the same name as one.
            let id = try site.id(H5Fcreate("mlpconv-memory-\(UUID().uuidString)", mlp_H5F_ACC_TRUNC(), mlp_H5P_DEFAULT(),
                                           fapl.id), "create in-memory file")
            return HDF5File(adopting: id, path: name)
        }
    }

    /// The file's bytes as they would be on disk (`H5Fget_file_image`, which flushes first).
    package func image() throws(HDF5Error) -> Data {
        let site = self.site
        return try hdf5 { () throws(HDF5Error) in
            // Metadata may still sit in HDF5's cache; the image is taken from the driver's memory.
            try site.status(H5Fflush(id, H5F_SCOPE_GLOBAL), "flush before taking the file image")
            let size = H5Fget_file_image(id, nil, 0)
            guard size > 0 else { throw site.error(.library, "get file image", "HDF5 reports no image (size \(size))") }
            var data = Data(count: size)
            let copied = data.withUnsafeMutableBytes { H5Fget_file_image(id, $0.baseAddress, size) }
            guard copied == size else { throw site.error(.library, "get file image", "copied \(copied) of \(size) bytes") }
            return data
        }
    }

    /// Opens an existing file read-only.
    package static func openReadOnly(at path: String) throws(HDF5Error) -> HDF5File {
        try open(path, "open file for reading") { H5Fopen(path, mlp_H5F_ACC_RDONLY(), $0) }
    }

    /// Opens an HDF5 file image held in memory, read-only, through the core driver (`H5Pset_fapl_core` without a
    /// backing store, `H5Pset_file_image`, which copies the bytes): nothing touches the disk. `name` only names
    /// the file in messages.
    package static func openReadOnly(image: UnsafeRawBufferPointer, name: String) throws(HDF5Error) -> HDF5File {
        let site = HDF5Site(file: name, object: "/")
        let operation = "open in-memory file image"
        guard let base = image.baseAddress, !image.isEmpty else {
            throw site.error(.missing, operation, "the file image is empty")
        }
        let fapl = try HDF5PropertyList.fileAccess(site: site)
        return try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_fapl_core(fapl.id, 1 << 16, false), operation)
            try site.status(H5Pset_file_image(fapl.id, UnsafeMutableRawPointer(mutating: base), image.count), operation)
            // HDF5 treats two opens of the same name as the same file (it would hand back the image opened
            // first), so every image gets a name of its own.
            let id = try site.id(H5Fopen("mlpconv-image-\(UUID().uuidString)", mlp_H5F_ACC_RDONLY(), fapl.id), operation)
            return HDF5File(adopting: id, path: name)
        }
    }

    /// Opens an existing file for reading and writing (to amend a file this toolkit wrote; never used on
    /// untrusted input).
    package static func openReadWrite(at path: String) throws(HDF5Error) -> HDF5File {
        try open(path, "open file for writing") { H5Fopen(path, mlp_H5F_ACC_RDWR(), $0) }
    }

    /// The shared part of creating and opening: refuse NUL in the path, use mlpconv's file-access properties,
    /// and adopt the id `call` returns for the file-access property list it is given.
    private static func open(_ path: String, _ operation: String, _ call: (hid_t) -> hid_t) throws(HDF5Error) -> HDF5File {
        let site = HDF5Site(file: path, object: "/")
        if path.utf8.contains(0) { throw site.error(.unsupported, operation, "path contains a NUL byte") }
        let fapl = try HDF5PropertyList.fileAccess(site: site)
        return try hdf5 { () throws(HDF5Error) in
            HDF5File(adopting: try site.id(call(fapl.id), operation), path: path)
        }
    }

    /// Closes the file now, reporting failures (`deinit` cannot), e.g. a full disk while flushing.
    ///
    /// HDF5's default "weak" close only really closes once every object in the file is closed, so a
    /// still-open group or dataset here would mean the data is not on disk yet: that is refused, and the
    /// caller must release those handles first.
    package func close() throws(HDF5Error) {
        try hdf5 { () throws(HDF5Error) in
            guard id >= 0 else { return }
            let open = try site.count(H5Fget_obj_count(id, mlp_H5F_OBJ_ALL() | mlp_H5F_OBJ_LOCAL()),
                                      "count open objects")
            // The count includes the file id itself.
            if open > 1 {
                throw site.error(.unsupported, "close file",
                                 "\(open - 1) object(s) in the file are still open; release them before closing")
            }
            let status = H5Fclose(id)
            id = -1  // Closed or not, never try again: a second H5Fclose cannot do better.
            try site.status(status, "close file")
        }
    }
}

/// An open group (`H5Gclose`).
package final class HDF5Group: HDF5Container {
    package let id: hid_t
    package let file: HDF5File
    package let objectPath: String

    fileprivate init(adopting id: hid_t, file: HDF5File, path: String) {
        self.id = id
        self.file = file
        self.objectPath = path
    }

    deinit { HDF5Library.withHDF5 { _ = H5Gclose(id) } }
}

/// An open dataset (`H5Dclose`).
package final class HDF5Dataset: HDF5Object {
    package let id: hid_t
    package let file: HDF5File
    package let objectPath: String

    fileprivate init(adopting id: hid_t, file: HDF5File, path: String) {
        self.id = id
        self.file = file
        self.objectPath = path
    }

    deinit { HDF5Library.withHDF5 { _ = H5Dclose(id) } }
}

// MARK: - Groups and links

extension HDF5Container {
    /// Creates a group, and any missing groups on the way (`"model_weights/dense_1"`; those get HDF5's default
    /// properties, timestamps included: create them explicitly where reproducible bytes matter).
    package func createGroup(_ path: String) throws(HDF5Error) -> HDF5Group {
        let target = site.child(path)
        let operation = "create group"
        try HDF5Path.validate(path, target, operation)
        let lcpl = try HDF5PropertyList.intermediateGroups(site: target)
        let gcpl = try HDF5PropertyList.untimed(class: mlp_H5P_GROUP_CREATE(), site: target)
        return try hdf5 { () throws(HDF5Error) in
            let id = try target.id(H5Gcreate2(id, path, lcpl.id, gcpl.id, mlp_H5P_DEFAULT()), operation)
            return HDF5Group(adopting: id, file: file, path: target.object)
        }
    }

    /// Opens a group by (relative or absolute) path; refuses to pass through external links.
    package func openGroup(_ path: String) throws(HDF5Error) -> HDF5Group {
        let target = site.child(path)
        let operation = "open group"
        try HDF5Path.validate(path, target, operation)
        try refuseExternalLinks(on: path, operation: operation)
        let gapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_GROUP_ACCESS(), site: target)
        return try hdf5 { () throws(HDF5Error) in
            let id = try target.id(H5Gopen2(id, path, gapl.id), operation)
            return HDF5Group(adopting: id, file: file, path: target.object)
        }
    }

    /// Whether a link of this name exists here (not following it).
    package func hasMember(_ name: String) throws(HDF5Error) -> Bool {
        let target = site.child(name)
        try HDF5Path.validate(name, target, "look up member")
        if name.contains("/") {
            throw target.error(.unsupported, "look up member", "a member name cannot contain '/'")
        }
        let lapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_LINK_ACCESS(), site: target)
        return try hdf5 { () throws(HDF5Error) in
            try target.bool(H5Lexists(id, name, lapl.id), "look up member")
        }
    }

    /// The links in this group, sorted by name, each with what it points to. Links are described, never
    /// followed: soft and external links are reported as such (with their targets).
    ///
    /// - Parameter limit: the most members to accept; the count is checked before anything is collected.
    package func members(limit: Int = 1_000_000) throws(HDF5Error) -> [HDF5Member] {
        let site = self.site
        let operation = "list group members"
        let lapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_LINK_ACCESS(), site: site)
        return try hdf5 { () throws(HDF5Error) in
            var groupInfo = H5G_info_t()
            try site.status(H5Gget_info(id, &groupInfo), operation)
            if groupInfo.nlinks > UInt64(max(limit, 0)) {
                throw site.error(.size, operation, "\(groupInfo.nlinks) members exceed the limit of \(limit)")
            }

            // The iteration callback is a C function pointer: it only records names and link types; the
            // follow-up queries run after the iteration, outside the callback.
            let collector = HDF5LinkCollector()
            let status = withExtendedLifetime(collector) {
                H5Literate(id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, info, data in
                    guard let name, let info, let data else { return -1 }
                    Unmanaged<HDF5LinkCollector>.fromOpaque(data).takeUnretainedValue().links
                        .append((String(cString: name), info.pointee.type))
                    return 0
                }, Unmanaged.passUnretained(collector).toOpaque())
            }
            try site.status(status, operation)

            var members: [HDF5Member] = []
            members.reserveCapacity(collector.links.count)
            for link in collector.links {
                let member = site.child(link.name)
                switch link.type {
                case H5L_TYPE_HARD:
                    var info = H5O_info_t()
                    try member.status(H5Oget_info_by_name2(id, link.name, &info, mlp_H5O_INFO_BASIC(), lapl.id),
                                      "describe member")
                    let kind: HDF5Member.Kind =
                        switch info.type {
                        case H5O_TYPE_GROUP: .group
                        case H5O_TYPE_DATASET: .dataset
                        case H5O_TYPE_NAMED_DATATYPE: .namedDatatype
                        default: .otherObject
                        }
                    members.append(HDF5Member(name: link.name, kind: kind))
                case H5L_TYPE_SOFT:
                    let value = try linkValue(link.name, lapl: lapl, site: member)
                    let target = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
                    members.append(HDF5Member(name: link.name, kind: .softLink(target: target)))
                case H5L_TYPE_EXTERNAL:
                    let value = try linkValue(link.name, lapl: lapl, site: member)
                    let (targetFile, targetObject) = try Self.unpackExternalLink(value, site: member)
                    members.append(HDF5Member(name: link.name,
                                              kind: .externalLink(file: targetFile, object: targetObject)))
                default:
                    members.append(HDF5Member(name: link.name, kind: .userDefinedLink(type: link.type.rawValue)))
                }
            }
            return members
        }
    }

    /// The raw value of a soft or external link (size checked first: link values are small).
    private func linkValue(_ name: String, lapl: HDF5PropertyList, site: HDF5Site) throws(HDF5Error) -> [UInt8] {
        try hdf5 { () throws(HDF5Error) in
            var info = H5L_info_t()
            try site.status(H5Lget_info(id, name, &info, lapl.id), "read link")
            let size = info.u.val_size
            guard size > 0, size <= 65_536 else {
                throw site.error(.size, "read link", "link value of \(size) bytes")
            }
            var buffer = [UInt8](repeating: 0, count: size)
            try site.status(H5Lget_val(id, name, &buffer, size, lapl.id), "read link")
            return buffer
        }
    }

    private static func unpackExternalLink(_ value: [UInt8], site: HDF5Site) throws(HDF5Error) -> (String, String) {
        try hdf5 { () throws(HDF5Error) in
            var flags: UInt32 = 0
            var fileName: UnsafePointer<CChar>?
            var objectName: UnsafePointer<CChar>?
            // The unpacked pointers point into `value`, so they are turned into Strings inside the closure.
            let (status, names) = value.withUnsafeBytes { raw in
                let status = H5Lunpack_elink_val(raw.baseAddress, raw.count, &flags, &fileName, &objectName)
                return (status, (fileName.map { String(cString: $0) } ?? "?",
                                 objectName.map { String(cString: $0) } ?? "?"))
            }
            try site.status(status, "read external link")
            return names
        }
    }

    /// Refuses `path` if resolving it would pass through an external or user-defined link, naming that link.
    ///
    /// Components are resolved one at a time from the file root, and soft links are substituted by hand (at
    /// most 16, as HDF5 allows), so `H5Lget_info` is only ever asked about links whose parents are hard links:
    /// a soft link that leads to an external one is caught here too, with a message saying where. Missing
    /// components fail with the library's "not found".
    package func refuseExternalLinks(on path: String, operation: String) throws(HDF5Error) {
        let requested = site.child(path)
        func split(_ path: Substring) -> [Substring] {
            path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        }
        var components = split(requested.object[...])
        guard !components.isEmpty else { return }
        let lapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_LINK_ACCESS(), site: site)
        let rootID = file.id
        try hdf5 { () throws(HDF5Error) in
            var resolved: [Substring] = []  // hard links only, from the root
            var index = 0
            var softLinks = 0
            while index < components.count {
                let linkPath = "/" + (resolved + [components[index]]).joined(separator: "/")
                let here = HDF5Site(file: site.file, object: linkPath)
                var info = H5L_info_t()
                if H5Lget_info(rootID, linkPath, &info, lapl.id) < 0 {
                    var error = requested.libraryError(operation)
                    error.kind = .missing
                    error.reason = "no such object" + (linkPath == requested.object ? "" : " (\(linkPath) is missing)")
                    throw error
                }
                switch info.type {
                case H5L_TYPE_HARD:
                    resolved.append(components[index])
                    index += 1
                case H5L_TYPE_SOFT:
                    softLinks += 1
                    guard softLinks <= 16 else {
                        throw requested.error(.unsupported, operation, "more than 16 soft links on the way")
                    }
                    let value = try linkValue(linkPath, lapl: lapl, site: here)
                    let target = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
                    // A relative target is relative to the group holding the link.
                    components = (target.hasPrefix("/") ? [] : resolved) + split(target[...])
                        + components[(index + 1)...]
                    resolved = []
                    index = 0
                case H5L_TYPE_EXTERNAL:
                    let (file, object) = try Self.unpackExternalLink(
                        try linkValue(linkPath, lapl: lapl, site: here), site: here)
                    let link = "external link to '\(object)' in file '\(file)'"
                    let via = linkPath == requested.object ? link : "path goes through \(linkPath), an \(link)"
                    throw requested.error(.refused, operation, via + "; external links are refused")
                default:
                    throw requested.error(.refused, operation, "path goes through \(linkPath), a user-defined link "
                                              + "(type \(info.type.rawValue)); refused")
                }
            }
        }
    }
}

extension HDF5PropertyList {
    /// File access without HDF5's file locks (`flock`, HDF5 ≥ 1.10.7).
    ///
    /// HDF5 opens files without `O_CLOEXEC`, so a process spawned while a file is open inherits the descriptor and
    /// its lock, which then outlives our own close: the next open of that file in this process fails with "unable
    /// to lock file" for as long as the child runs (seen with `h5dump` run by a concurrent test). The locks protect
    /// nothing here: model files are never written in place (a fresh temporary file is renamed over the target)
    /// and readers only read.
    package static func fileAccess(site: HDF5Site) throws(HDF5Error) -> HDF5PropertyList {
        let list = try HDF5PropertyList(class: mlp_H5P_FILE_ACCESS(), site: site)
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_file_locking(list.id, false, true), "set up file access")
        }
        return list
    }

    /// An object-creation list (group or dataset) without HDF5's default modification timestamps, so that the
    /// same content always gives the same bytes (reproducible files, golden fixtures that diff cleanly).
    package static func untimed(class propertyClass: hid_t, site: HDF5Site) throws(HDF5Error) -> HDF5PropertyList {
        let list = try HDF5PropertyList(class: propertyClass, site: site)
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_obj_track_times(list.id, false), "set up object creation")
        }
        return list
    }

    /// A link-creation list that creates missing intermediate groups.
    package static func intermediateGroups(site: HDF5Site) throws(HDF5Error) -> HDF5PropertyList {
        let list = try HDF5PropertyList(class: mlp_H5P_LINK_CREATE(), site: site)
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_create_intermediate_group(list.id, 1), "set up link creation")
        }
        return list
    }
}

// MARK: - Datasets

extension HDF5Container {
    /// Creates a dataset of `type` and `shape` holding `bytes` (native layout, row-major), optionally chunked
    /// with shuffle + gzip. `shape == []` makes a scalar. Intermediate groups are created.
    package func createDataset(_ path: String, type: HDF5ElementType, shape: [Int], bytes: UnsafeRawBufferPointer,
                       compression: HDF5Compression? = nil) throws(HDF5Error) -> HDF5Dataset {
        let target = site.child(path)
        let operation = "create \(type) dataset"
        try HDF5Path.validate(path, target, operation)
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw target.error(.unsupported, operation, "negative dimension in shape \(shape)")
        }
        let extent = HDF5Extent(kind: shape.isEmpty ? .scalar : .simple,
                                shape: shape.map { UInt64($0) }, maxShape: shape.map { UInt64($0) })
        let expected = extent.byteCount(elementSize: type.size)
        guard expected == bytes.count else {
            let needed = expected.map(String.init) ?? "too many"
            throw target.error(.size, operation, "shape \(shape) needs \(needed) bytes of \(type), got \(bytes.count)")
        }

        let space = try HDF5Dataspace.create(shape: extent.shape, site: target, operation: operation)
        let lcpl = try HDF5PropertyList.intermediateGroups(site: target)
        let dcpl = try HDF5PropertyList.untimed(class: mlp_H5P_DATASET_CREATE(), site: target)
        // Chunking needs at least one dimension and no zero-length one; otherwise fall back to contiguous.
        if let compression, !shape.isEmpty, !shape.contains(0) {
            try Self.configureCompression(dcpl, compression, shape: shape, elementSize: type.size,
                                          site: target, operation: operation)
        }
        return try hdf5 { () throws(HDF5Error) in
            let id = try target.id(H5Dcreate2(id, path, type.fileType, space.id, lcpl.id, dcpl.id, mlp_H5P_DEFAULT()),
                                   operation)
            let dataset = HDF5Dataset(adopting: id, file: file, path: target.object)
            if let base = bytes.baseAddress, !bytes.isEmpty {
                try target.status(H5Dwrite(id, type.nativeType, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), base),
                                  "write \(type) data")
            }
            return dataset
        }
    }

    /// Convenience over `createDataset(_:type:shape:bytes:compression:)` for a Swift array.
    package func createDataset<T: HDF5Element>(_ path: String, shape: [Int], values: [T],
                                       compression: HDF5Compression? = nil) throws(HDF5Error) -> HDF5Dataset {
        // Array.withUnsafeBytes only rethrows `any Error`; carry the typed error out in a Result.
        let result = values.withUnsafeBytes { bytes in
            Result { () throws(HDF5Error) in
                try createDataset(path, type: T.hdf5Type, shape: shape, bytes: bytes, compression: compression)
            }
        }
        return try result.get()
    }

    private static func configureCompression(_ dcpl: HDF5PropertyList, _ compression: HDF5Compression,
                                             shape: [Int], elementSize: Int,
                                             site: HDF5Site, operation: String) throws(HDF5Error) {
        var chunk: [Int]
        if let requested = compression.chunkShape {
            guard requested.count == shape.count, zip(requested, shape).allSatisfy({ $0 >= 1 && $0 <= $1 }) else {
                throw site.error(.unsupported, operation, "chunk shape \(requested) does not fit shape \(shape)")
            }
            chunk = requested
        } else {
            // Whole trailing dimensions, and as many leading rows as fit in ~1 MiB (HDF5 caps chunks at 4 GiB;
            // small chunks also bound what one corrupt chunk can expand to).
            chunk = shape
            var bytes = shape.reduce(elementSize) { $0.multipliedReportingOverflow(by: $1).partialValue }
            var axis = 0
            while bytes > 1 << 20, axis < chunk.count {
                if chunk[axis] > 1 {
                    chunk[axis] = (chunk[axis] + 1) / 2
                    bytes = chunk.reduce(elementSize) { $0.multipliedReportingOverflow(by: $1).partialValue }
                } else {
                    axis += 1
                }
            }
        }
        guard (0...9).contains(compression.gzipLevel) else {
            throw site.error(.unsupported, operation, "gzip level \(compression.gzipLevel) is not in 0...9")
        }
        let dims = chunk.map { hsize_t($0) }
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_chunk(dcpl.id, Int32(dims.count), dims), operation)
            if compression.shuffle { try site.status(H5Pset_shuffle(dcpl.id), operation) }
            try site.status(H5Pset_deflate(dcpl.id, UInt32(compression.gzipLevel)), operation)
        }
    }

    /// Opens a dataset by (relative or absolute) path; refuses to pass through external links.
    /// Opening reads only metadata: call `info()` and check sizes before `read`.
    package func openDataset(_ path: String) throws(HDF5Error) -> HDF5Dataset {
        let target = site.child(path)
        let operation = "open dataset"
        try HDF5Path.validate(path, target, operation)
        try refuseExternalLinks(on: path, operation: operation)
        let dapl = try HDF5PropertyList.refusingExternalLinks(class: mlp_H5P_DATASET_ACCESS(), site: target)
        return try hdf5 { () throws(HDF5Error) in
            let id = try target.id(H5Dopen2(id, path, dapl.id), operation)
            return HDF5Dataset(adopting: id, file: file, path: target.object)
        }
    }
}

extension HDF5Dataset {
    /// Shape, type, layout, filters and storage, from metadata only.
    ///
    /// A virtual dataset is refused here, before its dataspace is touched: for a VDS with an unlimited
    /// mapping, HDF5 1.10.8 opens the source files named in the (untrusted) file as soon as the extent is
    /// asked for (`H5Dget_space`), even though `H5Dopen2` did not.
    package func info() throws(HDF5Error) -> HDF5DatasetInfo {
        let site = self.site
        let operation = "describe dataset"
        return try hdf5 { () throws(HDF5Error) in
            let dcpl = HDF5PropertyList(adopting: try site.id(H5Dget_create_plist(id), operation))
            let rawLayout = H5Pget_layout(dcpl.id)
            let layout: HDF5DatasetInfo.Layout
            var chunkShape: [UInt64]?
            switch rawLayout {
            case H5D_COMPACT: layout = .compact
            case H5D_CONTIGUOUS: layout = .contiguous
            case H5D_CHUNKED:
                layout = .chunked
                var dims = [hsize_t](repeating: 0, count: 32)
                let rank = try site.count(H5Pget_chunk(dcpl.id, Int32(dims.count), &dims), operation)
                chunkShape = dims.prefix(min(rank, dims.count)).map { UInt64($0) }
            case H5D_VIRTUAL:
                throw site.error(.refused, operation,
                                 "virtual dataset (its data and even its shape come from other files) is refused")
            default:
                if rawLayout.rawValue < 0 { throw site.libraryError(operation) }
                layout = .other(rawLayout.rawValue)
            }

            let space = HDF5Dataspace(adopting: try site.id(H5Dget_space(id), operation))
            let type = HDF5Datatype(adopting: try site.id(H5Dget_type(id), operation))
            let extent = try space.extent(site: site, operation: operation)
            let typeInfo = try type.info(site: site, operation: operation)

            let externalCount = try site.count(H5Pget_external_count(dcpl.id), operation)
            let filterCount = try site.count(H5Pget_nfilters(dcpl.id), operation)
            var filters: [HDF5DatasetInfo.Filter] = []
            for index in 0..<min(filterCount, 32) {
                var flags: UInt32 = 0
                var valueCount = 16
                var values = [UInt32](repeating: 0, count: valueCount)
                var name = [CChar](repeating: 0, count: 128)
                var config: UInt32 = 0
                let filter = H5Pget_filter2(dcpl.id, UInt32(index), &flags, &valueCount, &values,
                                            name.count, &name, &config)
                if filter < 0 { throw site.libraryError(operation) }
                filters.append(.init(id: filter, name: stringFromCBuffer(name)))
            }

            let offset = H5Dget_offset(id)
            return HDF5DatasetInfo(extent: extent, type: typeInfo, layout: layout, chunkShape: chunkShape,
                                   externalFileCount: externalCount, filters: filters,
                                   storageSize: UInt64(H5Dget_storage_size(id)),
                                   dataOffset: offset == mlp_HADDR_UNDEF() ? nil : UInt64(offset))
        }
    }

    /// Reads the whole dataset into `buffer` as native `type` values. The buffer must be exactly
    /// `elementCount × type.size` bytes — callers size it from `info()` after checking their caps.
    ///
    /// Refuses virtual datasets and external raw storage, and converts only float → float and
    /// integer → int64 (HDF5 would happily turn strings or compounds into garbage numbers otherwise).
    package func read(into buffer: UnsafeMutableRawBufferPointer, as type: HDF5ElementType) throws(HDF5Error) {
        let site = self.site
        let operation = "read dataset as \(type)"
        let info = try info()  // refuses virtual datasets
        if info.externalFileCount > 0 {
            throw site.error(.refused, operation,
                             "dataset stores its data in \(info.externalFileCount) external file(s); refused")
        }
        switch (type, info.type.typeClass) {
        case (.float32, .float), (.float64, .float): break
        // HDF5 clamps integers that do not fit the memory type: allow only conversions that are exact.
        case (.int64, .integer) where info.type.isSigned || info.type.size < 8: break
        case (.uint32, .integer) where !info.type.isSigned && info.type.size <= 4: break
        case (.uint64, .integer) where !info.type.isSigned: break
        default:
            let expected = switch type {
            case .float32, .float64: "floating-point numbers"
            case .int32: "integers that fit in int32"
            case .int64: "integers that fit in int64"
            case .uint32, .uint64: "unsigned integers of at most \(type.size * 8) bits"
            }
            throw site.error(.unsupported, operation, "dataset holds \(info.type), expected \(expected)")
        }
        guard let needed = info.extent.byteCount(elementSize: type.size) else {
            throw site.error(.size, operation, "shape \(info.shape) is too large to address")
        }
        guard needed == buffer.count else {
            throw site.error(.size, operation,
                             "shape \(info.shape) holds \(needed) bytes of \(type), buffer has \(buffer.count)")
        }
        guard let base = buffer.baseAddress, needed > 0 else { return }
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Dread(id, type.nativeType, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), base),
                            operation)
        }
    }

    /// Reads the whole dataset into a new array, after checking its element count against `maxElements`.
    package func readValues<T: HDF5Element>(as: T.Type = T.self, maxElements: Int) throws(HDF5Error) -> [T] {
        let info = try info()
        guard let count = info.elementCount, count <= UInt64(max(maxElements, 0)) else {
            throw site.error(.size, "read dataset as \(T.hdf5Type)",
                             "shape \(info.shape) exceeds the limit of \(maxElements) elements")
        }
        var failure: HDF5Error?
        let values = [T](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
            adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
            do throws(HDF5Error) {
                try read(into: UnsafeMutableRawBufferPointer(buffer), as: T.hdf5Type)
                initialized = Int(count)
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return values
    }
}

/// Asks Linux to back a large, fresh buffer with transparent huge pages before it is first written.
///
/// Reading a big tensor into new memory costs more in page faults than in copying (about 0.2 s of faults against
/// 0.07 s of copying for 400 MB with 4 KiB pages); 2 MiB pages cut the faults 512-fold. Distributions default THP
/// to "madvise", so without the hint nothing changes; numpy gives the same hint for its large arrays, which is
/// why h5py reads were faster than ours without it. Only whole pages inside the buffer are advised; failure
/// is harmless (the hint is just not taken).
package func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
    #if os(Linux)
    let pageSize = 4096, hugePage = 2 << 20
    guard let base = buffer.baseAddress, buffer.count >= 2 * hugePage else { return }
    let start = (Int(bitPattern: base) + pageSize - 1) & ~(pageSize - 1)
    let end = (Int(bitPattern: base) + buffer.count) & ~(pageSize - 1)
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(pointer, end - start, MADV_HUGEPAGE)
    #endif
}

// MARK: - Attributes

extension HDF5Object {
    /// Writes (or replaces) an attribute: strings as variable-length UTF-8 (what h5py writes for `str`),
    /// numbers as little-endian int64 / float64, scalars for single values and 1-D arrays for lists.
    package func setAttribute(_ name: String, _ value: HDF5AttributeValue) throws(HDF5Error) {
        let site = self.site
        let operation = "write attribute '\(name)'"
        try HDF5Path.validate(name, site, operation)

        let shape: [UInt64]
        switch value {
        case .string, .int64, .double, .uint32: shape = []
        case .strings(let values): shape = [UInt64(values.count)]
        case .int64s(let values): shape = [UInt64(values.count)]
        case .doubles(let values): shape = [UInt64(values.count)]
        case .uint64s(let values): shape = [UInt64(values.count)]
        }
        let space = try HDF5Dataspace.create(shape: shape, site: site, operation: operation)

        try hdf5 { () throws(HDF5Error) in
            // HDF5 refuses to create an attribute that exists; replacing is what a writer wants.
            if try site.bool(H5Aexists(id, name), operation) {
                try site.status(H5Adelete(id, name), operation)
            }
            switch value {
            case .string(let string):
                try writeStrings([string], name: name, space: space, site: site, operation: operation)
            case .strings(let strings):
                try writeStrings(strings, name: name, space: space, site: site, operation: operation)
            case .int64(let number):
                try writeNumbers([number], .int64, name: name, space: space, site: site, operation: operation)
            case .int64s(let numbers):
                try writeNumbers(numbers, .int64, name: name, space: space, site: site, operation: operation)
            case .double(let number):
                try writeNumbers([number], .float64, name: name, space: space, site: site, operation: operation)
            case .doubles(let numbers):
                try writeNumbers(numbers, .float64, name: name, space: space, site: site, operation: operation)
            case .uint32(let number):
                try writeNumbers([number], .uint32, name: name, space: space, site: site, operation: operation)
            case .uint64s(let numbers):
                try writeNumbers(numbers, .uint64, name: name, space: space, site: site, operation: operation)
            }
        }
    }

    private func writeNumbers<T: HDF5Element>(_ numbers: [T], _ type: HDF5ElementType, name: String,
                                              space: HDF5Dataspace, site: HDF5Site,
                                              operation: String) throws(HDF5Error) {
        try hdf5 { () throws(HDF5Error) in
            let attribute = HDF5Attribute(adopting: try site.id(
                H5Acreate2(id, name, type.fileType, space.id, mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()), operation))
            // A zero-length array still needs a non-null buffer pointer.
            var placeholder: T?
            let status = numbers.isEmpty
                ? withUnsafeMutableBytes(of: &placeholder) { H5Awrite(attribute.id, type.nativeType, $0.baseAddress) }
                : numbers.withUnsafeBytes { H5Awrite(attribute.id, type.nativeType, $0.baseAddress) }
            try site.status(status, operation)
        }
    }

    private func writeStrings(_ strings: [String], name: String, space: HDF5Dataspace, site: HDF5Site,
                              operation: String) throws(HDF5Error) {
        try withVariableLengthStrings(strings, site: site, operation: operation) { type, buffer throws(HDF5Error) in
            let attribute = HDF5Attribute(adopting: try site.id(
                H5Acreate2(id, name, type.id, space.id, mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()), operation))
            try site.status(H5Awrite(attribute.id, type.id, buffer), operation)
        }
    }

    /// Whether an attribute of this name exists on this object.
    package func hasAttribute(_ name: String) throws(HDF5Error) -> Bool {
        let site = self.site
        try HDF5Path.validate(name, site, "look up attribute")
        return try hdf5 { () throws(HDF5Error) in
            try site.bool(H5Aexists(id, name), "look up attribute '\(name)'")
        }
    }

    /// The names of this object's attributes, sorted by name.
    package func attributeNames(limit: Int = 100_000) throws(HDF5Error) -> [String] {
        let site = self.site
        let operation = "list attributes"
        return try hdf5 { () throws(HDF5Error) in
            var info = H5O_info_t()
            try site.status(H5Oget_info2(id, &info, mlp_H5O_INFO_NUM_ATTRS()), operation)
            if info.num_attrs > UInt64(max(limit, 0)) {
                throw site.error(.size, operation, "\(info.num_attrs) attributes exceed the limit of \(limit)")
            }
            let collector = HDF5NameCollector()
            let status = withExtendedLifetime(collector) {
                H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, data in
                    guard let name, let data else { return -1 }
                    Unmanaged<HDF5NameCollector>.fromOpaque(data).takeUnretainedValue().names
                        .append(String(cString: name))
                    return 0
                }, Unmanaged.passUnretained(collector).toOpaque())
            }
            try site.status(status, operation)
            return collector.names
        }
    }

    /// Opens an existing attribute with its dataspace and type, for the readers below. Call inside `hdf5 { }`.
    fileprivate func openAttribute(_ name: String, site: HDF5Site, operation: String) throws(HDF5Error)
        -> (HDF5Attribute, HDF5Dataspace, HDF5Datatype, HDF5Extent, HDF5TypeInfo) {
        if !(try site.bool(H5Aexists(id, name), operation)) {
            throw site.error(.missing, operation, "no such attribute")
        }
        let attribute = HDF5Attribute(adopting: try site.id(H5Aopen(id, name, mlp_H5P_DEFAULT()), operation))
        let space = HDF5Dataspace(adopting: try site.id(H5Aget_space(attribute.id), operation))
        let type = HDF5Datatype(adopting: try site.id(H5Aget_type(attribute.id), operation))
        return (attribute, space, type, try space.extent(site: site, operation: operation),
                try type.info(site: site, operation: operation))
    }

    /// Reads an attribute: strings (variable- or fixed-length, scalar or 1-D), integers (any size, read as
    /// int64) and floats (read as float64). Element counts and fixed-string sizes are checked before reading.
    package func attribute(_ name: String, maxElements: Int = 1 << 20,
                   maxBytes: Int = 64 << 20) throws(HDF5Error) -> HDF5AttributeValue {
        let site = self.site
        let operation = "read attribute '\(name)'"
        try HDF5Path.validate(name, site, operation)
        return try hdf5 { () throws(HDF5Error) in
            let (attribute, space, type, extent, typeInfo) = try openAttribute(name, site: site, operation: operation)

            guard extent.kind != .null, extent.shape.count <= 1 else {
                throw site.error(.unsupported, operation,
                                 extent.kind == .null ? "attribute has no value (null dataspace)"
                                                      : "attribute has rank \(extent.shape.count); expected 0 or 1")
            }
            guard let count64 = extent.elementCount, count64 <= UInt64(max(maxElements, 0)) else {
                throw site.error(.size, operation, "shape \(extent.shape) exceeds the limit of \(maxElements) elements")
            }
            let count = Int(count64)
            let isScalar = extent.kind == .scalar

            switch typeInfo.typeClass {
            case .string:
                let strings = typeInfo.isVariableLengthString
                    ? try readVariableStrings(attribute, fileType: type, space: space, count: count, site: site,
                                              operation: operation)
                    : try readFixedStrings(attribute, fileType: type, size: typeInfo.size, count: count,
                                           maxBytes: maxBytes, site: site, operation: operation)
                if isScalar {
                    guard let first = strings.first else { throw site.libraryError(operation) }
                    return .string(first)
                }
                return .strings(strings)
            case .integer:
                let numbers = try readIntegers(attribute, typeInfo, count: count, site: site, operation: operation)
                if isScalar, let first = numbers.first { return .int64(first) }
                return .int64s(numbers)
            case .float:
                var numbers = [Double](repeating: 0, count: count)
                if count > 0 {
                    try site.status(numbers.withUnsafeMutableBytes {
                        H5Aread(attribute.id, mlp_H5T_NATIVE_DOUBLE(), $0.baseAddress)
                    }, operation)
                }
                if isScalar, let first = numbers.first { return .double(first) }
                return .doubles(numbers)
            case .other(let typeName):
                throw site.error(.unsupported, operation, "attribute holds \(typeName) values")
            }
        }
    }

    /// A string attribute (scalar, or a 1-element array as some writers produce).
    package func stringAttribute(_ name: String) throws(HDF5Error) -> String {
        switch try attribute(name) {
        case .string(let string): return string
        case .strings(let strings) where strings.count == 1: return strings[0]
        case let other:
            throw site.error(.unsupported, "read attribute '\(name)'", "expected a string, found \(other)")
        }
    }

    /// A string-array attribute (a scalar string counts as one element), e.g. Keras' `layer_names`.
    package func stringArrayAttribute(_ name: String) throws(HDF5Error) -> [String] {
        switch try attribute(name) {
        case .string(let string): return [string]
        case .strings(let strings): return strings
        case let other:
            throw site.error(.unsupported, "read attribute '\(name)'", "expected strings, found \(other)")
        }
    }

    private func readVariableStrings(_ attribute: HDF5Attribute, fileType: HDF5Datatype, space: HDF5Dataspace,
                                     count: Int, site: HDF5Site, operation: String) throws(HDF5Error) -> [String] {
        try HDF5Support.readVariableStrings(fileType: fileType, space: space, count: count, site: site,
                                          operation: operation) { H5Aread(attribute.id, $0, $1) }
    }

    private func readFixedStrings(_ attribute: HDF5Attribute, fileType: HDF5Datatype, size: Int, count: Int,
                                  maxBytes: Int, site: HDF5Site, operation: String) throws(HDF5Error) -> [String] {
        try HDF5Support.readFixedStrings(fileType: fileType, size: size, count: count, maxBytes: maxBytes, site: site,
                                       operation: operation) { H5Aread(attribute.id, $0, $1) }
    }

    private func readIntegers(_ attribute: HDF5Attribute, _ typeInfo: HDF5TypeInfo, count: Int, site: HDF5Site,
                              operation: String) throws(HDF5Error) -> [Int64] {
        try hdf5 { () throws(HDF5Error) in
            guard count > 0 else { return [] }
            // Unsigned 64-bit values above Int64.max would be clamped by HDF5's conversion: read them as UInt64
            // and range-check instead. Every other integer type converts to int64 exactly.
            if !typeInfo.isSigned && typeInfo.size >= 8 {
                var unsigned = [UInt64](repeating: 0, count: count)
                try site.status(unsigned.withUnsafeMutableBytes {
                    H5Aread(attribute.id, mlp_H5T_NATIVE_UINT64(), $0.baseAddress)
                }, operation)
                var numbers: [Int64] = []
                numbers.reserveCapacity(count)
                for value in unsigned {
                    guard let number = Int64(exactly: value) else {
                        throw site.error(.unsupported, operation, "value \(value) does not fit in int64")
                    }
                    numbers.append(number)
                }
                return numbers
            }
            if typeInfo.size > 8 {
                throw site.error(.unsupported, operation, "attribute holds \(typeInfo) values")
            }
            var numbers = [Int64](repeating: 0, count: count)
            try site.status(numbers.withUnsafeMutableBytes {
                H5Aread(attribute.id, mlp_H5T_NATIVE_INT64(), $0.baseAddress)
            }, operation)
            return numbers
        }
    }
}

// MARK: - Strings, shared by attributes and datasets

/// Calls `write` with a UTF-8 variable-length string type and a buffer of `char *` pointers to NUL-terminated
/// copies of `strings`, the memory layout `H5Awrite`/`H5Dwrite` expect for such a type.
private func withVariableLengthStrings(
    _ strings: [String], site: HDF5Site, operation: String,
    _ write: (_ type: HDF5Datatype, _ buffer: UnsafeRawPointer?) throws(HDF5Error) -> Void
) throws(HDF5Error) {
    // Variable-length strings are NUL-terminated in C: an embedded NUL would silently cut the string.
    if strings.contains(where: { $0.utf8.contains(0) }) {
        throw site.error(.unsupported, operation, "string contains a NUL byte")
    }
    let type = try HDF5Datatype.variableString(cset: H5T_CSET_UTF8, site: site, operation: operation)
    // One buffer holding every string NUL-terminated, and a pointer array into it.
    var storage: [UInt8] = []
    var offsets: [Int] = []
    for string in strings {
        offsets.append(storage.count)
        storage.append(contentsOf: string.utf8)
        storage.append(0)
    }
    if storage.isEmpty { storage.append(0) }
    // withUnsafeBytes only rethrows `any Error`; carry the typed error out in a Result.
    let result = storage.withUnsafeBytes { raw in
        let base = raw.bindMemory(to: CChar.self).baseAddress
        var pointers: [UnsafePointer<CChar>?] = offsets.map { base.map { UnsafePointer($0) }?.advanced(by: $0) }
        if pointers.isEmpty { pointers.append(nil) }
        return pointers.withUnsafeBytes { buffer in
            Result { () throws(HDF5Error) in try hdf5 { () throws(HDF5Error) in try write(type, buffer.baseAddress) } }
        }
    }
    try result.get()
}

/// Reads `count` variable-length strings with `read(memoryType, buffer)` (an `H5Aread` or `H5Dread`), in the
/// file's character set, and frees what HDF5 allocated for them (through `transfer`'s memory manager, if any).
private func readVariableStrings(
    fileType: HDF5Datatype, space: HDF5Dataspace, count: Int, site: HDF5Site, operation: String,
    transfer: hid_t = mlp_H5P_DEFAULT(), _ read: (hid_t, UnsafeMutableRawPointer?) -> herr_t
) throws(HDF5Error) -> [String] {
    try hdf5 { () throws(HDF5Error) in
        // Read in the file's character set: HDF5 does not convert between ASCII and UTF-8.
        let cset = H5Tget_cset(fileType.id)
        if cset.rawValue < 0 { throw site.libraryError(operation) }
        let memoryType = try HDF5Datatype.variableString(cset: cset, site: site, operation: operation)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
        try site.status(pointers.withUnsafeMutableBytes { read(memoryType.id, $0.baseAddress) }, operation)
        // HDF5 allocated every string; give them back whatever happens next.
        defer {
            _ = pointers.withUnsafeMutableBytes {
                H5Dvlen_reclaim(memoryType.id, space.id, transfer, $0.baseAddress)
            }
        }
        var strings: [String] = []
        strings.reserveCapacity(count)
        for pointer in pointers.prefix(count) {
            guard let pointer else { strings.append(""); continue }
            let bytes = UnsafeRawBufferPointer(start: pointer, count: strlen(pointer))
            guard let string = String(validating: bytes, as: UTF8.self) else {
                throw site.error(.unsupported, operation, "string is not valid UTF-8")
            }
            strings.append(string)
        }
        return strings
    }
}

/// Reads `count` fixed-length strings of `size` bytes with `read(memoryType, buffer)`, after checking the
/// total against `maxBytes`.
private func readFixedStrings(
    fileType: HDF5Datatype, size: Int, count: Int, maxBytes: Int, site: HDF5Site, operation: String,
    _ read: (hid_t, UnsafeMutableRawPointer?) -> herr_t
) throws(HDF5Error) -> [String] {
    let (total, overflow) = size.multipliedReportingOverflow(by: count)
    guard !overflow, total <= maxBytes else {
        throw site.error(.size, operation, "\(count) strings of \(size) bytes exceed the limit of \(maxBytes) bytes")
    }
    return try hdf5 { () throws(HDF5Error) in
        let padding = H5Tget_strpad(fileType.id)
        if padding.rawValue < 0 { throw site.libraryError(operation) }
        // Reading with (a copy of) the file type itself: same size, padding and character set, no conversion.
        let memoryType = HDF5Datatype(adopting: try site.id(H5Tcopy(fileType.id), operation))
        var bytes = [UInt8](repeating: 0, count: max(total, 1))
        if total > 0 {
            try site.status(bytes.withUnsafeMutableBytes { read(memoryType.id, $0.baseAddress) }, operation)
        }
        var strings: [String] = []
        strings.reserveCapacity(count)
        for index in 0..<count {
            var element = bytes[(index * size)..<((index + 1) * size)]
            if padding == H5T_STR_SPACEPAD {
                while element.last == 0x20 { element = element.dropLast() }
            } else {
                // NULLTERM and NULLPAD both end at the first NUL (numpy's 'S' arrays are NULLPAD).
                element = element.prefix { $0 != 0 }
            }
            guard let string = String(validating: element, as: UTF8.self) else {
                throw site.error(.unsupported, operation, "string \(index) is not valid UTF-8")
            }
            strings.append(string)
        }
        return strings
    }
}

// MARK: - String datasets and unsigned attributes

extension HDF5Container {
    /// Creates a scalar dataset holding one variable-length UTF-8 string (what h5py writes for a `str`): for
    /// texts that may outgrow the 64 KiB an attribute can hold in an object header.
    package func createStringDataset(_ path: String, text: String) throws(HDF5Error) -> HDF5Dataset {
        let target = site.child(path)
        let operation = "create string dataset"
        try HDF5Path.validate(path, target, operation)
        let space = try HDF5Dataspace.create(shape: [], site: target, operation: operation)
        let lcpl = try HDF5PropertyList.intermediateGroups(site: target)
        let dcpl = try HDF5PropertyList.untimed(class: mlp_H5P_DATASET_CREATE(), site: target)
        var dataset: HDF5Dataset?
        try withVariableLengthStrings([text], site: target, operation: operation) { type, buffer throws(HDF5Error) in
            let id = try target.id(H5Dcreate2(id, path, type.id, space.id, lcpl.id, dcpl.id, mlp_H5P_DEFAULT()),
                                   operation)
            let created = HDF5Dataset(adopting: id, file: file, path: target.object)
            dataset = created
            try target.status(H5Dwrite(id, type.id, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), buffer),
                              operation)
        }
        guard let dataset else { throw target.error(.library, operation, "dataset was not created") }
        return dataset
    }
}

extension HDF5Dataset {
    /// Reads a string dataset holding one string (scalar, or a 1-element array), variable- or fixed-length.
    ///
    /// A variable-length string's size is only known once HDF5 reads its heap object, so its allocation goes
    /// through a memory manager that refuses more than `maxBytes`: the check happens before the allocation.
    /// (`H5Dvlen_get_buf_size`, the obvious way to ask first, crashes on scalar dataspaces in HDF5 1.10.8.)
    package func readString(maxBytes: Int) throws(HDF5Error) -> String {
        let site = self.site
        let operation = "read string dataset"
        let info = try info()  // refuses virtual datasets
        if info.externalFileCount > 0 {
            throw site.error(.refused, operation,
                             "dataset stores its data in \(info.externalFileCount) external file(s); refused")
        }
        guard info.type.typeClass == .string else {
            throw site.error(.unsupported, operation, "dataset holds \(info.type), expected a string")
        }
        guard info.elementCount == 1, info.shape.count <= 1 else {
            throw site.error(.unsupported, operation, "dataset has shape \(info.shape), expected a single string")
        }
        return try hdf5 { () throws(HDF5Error) in
            let space = HDF5Dataspace(adopting: try site.id(H5Dget_space(id), operation))
            let type = HDF5Datatype(adopting: try site.id(H5Dget_type(id), operation))
            let strings: [String]
            if info.type.isVariableLengthString {
                let cset = H5Tget_cset(type.id)
                if cset.rawValue < 0 { throw site.libraryError(operation) }
                let budget = HDF5AllocationBudget(limit: maxBytes)
                let transfer = try HDF5PropertyList(class: mlp_H5P_DATASET_XFER(), site: site)
                try site.status(H5Pset_vlen_mem_manager(
                    transfer.id, HDF5AllocationBudget.allocate, Unmanaged.passUnretained(budget).toOpaque(),
                    HDF5AllocationBudget.free, nil), operation)
                // The manager holds an unretained pointer to the budget: keep it alive until the strings are freed.
                defer { withExtendedLifetime(budget) {} }
                do throws(HDF5Error) {
                    strings = try HDF5Support.readVariableStrings(fileType: type, space: space, count: 1, site: site,
                                                                operation: operation, transfer: transfer.id) {
                        H5Dread(id, $0, mlp_H5S_ALL(), mlp_H5S_ALL(), transfer.id, $1)
                    }
                } catch {
                    if let refused = budget.refused {
                        throw site.error(.size, operation, "string of \(refused) bytes exceeds the limit of \(maxBytes) bytes")
                    }
                    throw error
                }
            } else {
                strings = try HDF5Support.readFixedStrings(fileType: type, size: info.type.size, count: 1,
                                                         maxBytes: maxBytes, site: site, operation: operation) {
                    H5Dread(id, $0, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), $1)
                }
            }
            guard let string = strings.first else { throw site.libraryError(operation) }
            return string
        }
    }
}

/// A memory manager for variable-length data that refuses, rather than makes, allocations past a budget.
private final class HDF5AllocationBudget {
    private var remaining: Int
    /// The size of the allocation that was refused, if any.
    private(set) var refused: Int?

    init(limit: Int) { remaining = max(limit, 0) }

    static let allocate: H5MM_allocate_t = { size, info in
        guard let info else { return nil }
        let budget = Unmanaged<HDF5AllocationBudget>.fromOpaque(info).takeUnretainedValue()
        guard size <= budget.remaining else {
            budget.refused = size
            return nil
        }
        budget.remaining -= size
        return malloc(max(size, 1))
    }

    static let free: H5MM_free_t = { memory, _ in Foundation.free(memory) }
}

extension HDF5Object {
    /// An unsigned-integer attribute (uint8 … uint64; scalar or 1-D) read exactly as `UInt64`s, e.g. generator
    /// words that `attribute(_:)` could not represent as int64. Signed or non-integer attributes are refused.
    package func unsignedAttribute(_ name: String, maxElements: Int = 1 << 20) throws(HDF5Error) -> [UInt64] {
        let site = self.site
        let operation = "read attribute '\(name)'"
        try HDF5Path.validate(name, site, operation)
        return try hdf5 { () throws(HDF5Error) in
            let (attribute, _, _, extent, typeInfo) = try openAttribute(name, site: site, operation: operation)
            guard typeInfo.typeClass == .integer, !typeInfo.isSigned, typeInfo.size <= 8 else {
                throw site.error(.unsupported, operation, "attribute holds \(typeInfo) values, expected unsigned integers")
            }
            guard extent.kind != .null, extent.shape.count <= 1,
                  let count = extent.elementCount, count <= UInt64(max(maxElements, 0)) else {
                throw site.error(.size, operation, "attribute shape \(extent.shape) is not a list of at most \(maxElements)")
            }
            var values = [UInt64](repeating: 0, count: Int(count))
            if count > 0 {
                try site.status(values.withUnsafeMutableBytes {
                    H5Aread(attribute.id, mlp_H5T_NATIVE_UINT64(), $0.baseAddress)
                }, operation)
            }
            return values
        }
    }
}
