// Strings, in attributes and datasets: writing variable-length UTF-8, reading variable- and fixed-length ones
// (sizes capped before HDF5 allocates), and the scalar string datasets that hold long texts.
internal import CHDF5
import Foundation

/// Calls `write` with a UTF-8 variable-length string type and a buffer of `char *` pointers to NUL-terminated
/// copies of `strings`, the memory layout `H5Awrite`/`H5Dwrite` expect for such a type.
func withVariableLengthStrings(
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
func readVariableStrings(
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
func readFixedStrings(
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

// MARK: - String datasets

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
        let info = try readableInfo(operation)
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

// MARK: - The allocation budget

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
