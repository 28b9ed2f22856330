// Attributes: writing strings and numbers, listing, and reading them back with their sizes checked first.
internal import CHDF5

// The box the iteration callback (a plain C function pointer, no captures) appends to through `op_data`.
private final class HDF5NameCollector { var names: [String] = [] }

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
    private func openAttribute(_ name: String, site: HDF5Site, operation: String) throws(HDF5Error)
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


extension HDF5Object {
    /// The attribute `name` as bytes that change whenever its name, kind, shape or any value changes, for a
    /// checksum over attributes: the name's UTF-8 and a NUL; `s`, `i` or `f` for strings, integers or floats; 0 for a
    /// scalar, or 1 and the element count (uint64 LE) for a 1-D array; then each element — a string's UTF-8 and a
    /// NUL, an integer's 64-bit two's-complement (or unsigned) pattern LE, a float as float64 LE.
    package func canonicalAttributeBytes(_ name: String) throws(HDF5Error) -> [UInt8] {
        let site = self.site
        let operation = "read attribute '\(name)'"
        try HDF5Path.validate(name, site, operation)
        var bytes = Array(name.utf8) + [0]
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func shape(_ count: Int, scalar: Bool) {
            if scalar { bytes.append(0) } else { bytes.append(1); append(UInt64(count)) }
        }
        let (typeInfo, scalar) = try hdf5 { () throws(HDF5Error) in
            let (_, _, _, extent, typeInfo) = try openAttribute(name, site: site, operation: operation)
            return (typeInfo, extent.kind == .scalar)
        }
        switch typeInfo.typeClass {
        case .integer:
            // Unsigned words above Int64.max (a generator state) are read as such; every other integer as int64.
            let words = !typeInfo.isSigned && typeInfo.size >= 8
                ? try unsignedAttribute(name)
                : try integerWords(name)
            bytes.append(UInt8(ascii: "i"))
            shape(words.count, scalar: scalar)
            for word in words { append(word) }
        case .float:
            guard let numbers = try attribute(name).doubleValues else {
                throw site.error(.unsupported, operation, "attribute holds \(typeInfo) values")
            }
            bytes.append(UInt8(ascii: "f"))
            shape(numbers.count, scalar: scalar)
            for number in numbers { append(number.bitPattern) }
        case .string:
            let strings = try stringArrayAttribute(name)
            bytes.append(UInt8(ascii: "s"))
            shape(strings.count, scalar: scalar)
            for string in strings { bytes += Array(string.utf8) + [0] }
        case .other(let typeName):
            throw site.error(.unsupported, operation, "attribute holds \(typeName) values")
        }
        return bytes
    }

    /// A signed (or narrower unsigned) integer attribute's values as 64-bit patterns.
    private func integerWords(_ name: String) throws(HDF5Error) -> [UInt64] {
        switch try attribute(name) {
        case .int64(let value): return [UInt64(bitPattern: value)]
        case .int64s(let values): return values.map { UInt64(bitPattern: $0) }
        case let other: throw site.error(.unsupported, "read attribute '\(name)'", "expected integers, found \(other)")
        }
    }
}

extension HDF5AttributeValue {
    /// The numbers of a float attribute (scalar or 1-D), nil for any other kind.
    var doubleValues: [Double]? {
        switch self {
        case .double(let value): [value]
        case .doubles(let values): values
        default: nil
        }
    }
}
