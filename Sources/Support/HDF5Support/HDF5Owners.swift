// The ids of property lists, dataspaces, datatypes and attributes, each closed once by its owner.
package import CHDF5

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
        try configured(class: propertyClass, site: site, "install external-link refusal") {
            H5Pset_elink_cb($0, { _, _, _, _, _, _, _ in -1 }, nil)
        }
    }

    /// File access without HDF5's file locks (`flock`, HDF5 ≥ 1.10.7).
    ///
    /// HDF5 opens files without `O_CLOEXEC`, so a process spawned while a file is open inherits the descriptor and
    /// its lock, which then outlives our own close: the next open of that file in this process fails with "unable
    /// to lock file" for as long as the child runs (seen with `h5dump` run by a concurrent test). The locks protect
    /// nothing here: model files are never written in place (a fresh temporary file is renamed over the target)
    /// and readers only read.
    package static func fileAccess(site: HDF5Site) throws(HDF5Error) -> HDF5PropertyList {
        try configured(class: mlp_H5P_FILE_ACCESS(), site: site, "set up file access") {
            H5Pset_file_locking($0, false, true)
        }
    }

    /// An object-creation list (group or dataset) without HDF5's default modification timestamps, so that the
    /// same content always gives the same bytes (reproducible files, golden fixtures that diff cleanly).
    package static func untimed(class propertyClass: hid_t, site: HDF5Site) throws(HDF5Error) -> HDF5PropertyList {
        try configured(class: propertyClass, site: site, "set up object creation") { H5Pset_obj_track_times($0, false) }
    }

    /// A link-creation list that creates missing intermediate groups.
    package static func intermediateGroups(site: HDF5Site) throws(HDF5Error) -> HDF5PropertyList {
        try configured(class: mlp_H5P_LINK_CREATE(), site: site, "set up link creation") {
            H5Pset_create_intermediate_group($0, 1)
        }
    }

    /// A new list of `propertyClass` with the one setting `set` makes.
    private static func configured(class propertyClass: hid_t, site: HDF5Site, _ operation: String,
                                   _ set: (hid_t) -> herr_t) throws(HDF5Error) -> HDF5PropertyList {
        let list = try HDF5PropertyList(class: propertyClass, site: site)
        try hdf5 { () throws(HDF5Error) in try site.status(set(list.id), operation) }
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

