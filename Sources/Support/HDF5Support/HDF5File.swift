// Files, and the groups and datasets in them: the handles, and creating and opening groups.
// The C import is `package` because every handle exposes its id (tests build hostile files through it).
package import CHDF5
internal import CHDF5Driver
import Foundation

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
    /// Opened for writing through the stop-on-failure driver (`CHDF5Driver`).
    private let writable: Bool

    private init(adopting id: hid_t, path: String, writable: Bool = false) {
        self.id = id
        self.path = path
        self.writable = writable
    }

    /// A file not closed explicitly is being abandoned (its writer failed): it is flushed first so that a write
    /// failure happens there, after which the driver drops every write and the close cannot fail.
    deinit {
        if id >= 0 {
            HDF5Library.withHDF5 {
                if writable { _ = H5Fflush(id, H5F_SCOPE_GLOBAL) }
                _ = H5Fclose(id)
            }
        }
    }

    /// Creates (or truncates) a file with default creation properties, so h5py and Keras read it.
    package static func create(at path: String) throws(HDF5Error) -> HDF5File {
        try open(path, "create file", writable: true) { H5Fcreate(path, mlp_H5F_ACC_TRUNC(), mlp_H5P_DEFAULT(), $0) }
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
        try open(path, "open file for writing", writable: true) { H5Fopen(path, mlp_H5F_ACC_RDWR(), $0) }
    }

    /// The shared part of creating and opening: refuse NUL in the path, use mlpconv's file-access properties
    /// (and the stop-on-failure driver for writing), and adopt the id `call` returns for the file-access property
    /// list it is given.
    private static func open(_ path: String, _ operation: String, writable: Bool = false,
                             _ call: (hid_t) -> hid_t) throws(HDF5Error) -> HDF5File {
        let site = HDF5Site(file: path, object: "/")
        if path.utf8.contains(0) { throw site.error(.unsupported, operation, "path contains a NUL byte") }
        let fapl = try HDF5PropertyList.fileAccess(site: site)
        return try hdf5 { () throws(HDF5Error) in
            if writable { try site.status(mlp_H5Pset_fapl_stop_on_failure(fapl.id), operation) }
            return HDF5File(adopting: try site.id(call(fapl.id), operation), path: path, writable: writable)
        }
    }

    /// Closes the file now, reporting failures (`deinit` cannot), e.g. a full disk while flushing.
    ///
    /// HDF5's default "weak" close only really closes once every object in the file is closed, so a
    /// still-open group or dataset here would mean the data is not on disk yet: that is refused, and the
    /// caller must release those handles first.
    ///
    /// A file being written is flushed first: HDF5 1.10 frees a file whose close fails but keeps its id (its exit
    /// handler then crashes on it), so a write failure must surface in the flush. After one, the driver drops
    /// every write, and the close that follows succeeds whatever the disk does.
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
            var failure: HDF5Error?
            if writable {
                if H5Fflush(id, H5F_SCOPE_GLOBAL) < 0 { failure = site.libraryError("close file") }
                // A write that failed where nobody could report it (a dataset's chunks flushed by its `deinit`)
                // left the driver's record: the file is incomplete all the same.
                var handle: UnsafeMutableRawPointer?
                if failure == nil, H5Fget_vfd_handle(id, mlp_H5P_DEFAULT(), &handle) >= 0 {
                    let error = mlp_stop_on_failure_errno(handle)
                    if error != 0 { failure = site.error(.library, "close file", String(cString: strerror(error))) }
                }
            }
            let status = H5Fclose(id)
            id = -1  // Closed or not, never try again: a second H5Fclose cannot do better.
            if let failure { throw failure }
            try site.status(status, "close file")
        }
    }
}

/// What a group and a dataset share: an id inside a file, which the handle keeps open, and its path there.
/// Each subclass closes the id in its `deinit`.
package class HDF5FileObject: HDF5Object {
    package let id: hid_t
    package let file: HDF5File
    package let objectPath: String

    required init(adopting id: hid_t, file: HDF5File, path: String) {
        self.id = id
        self.file = file
        self.objectPath = path
    }
}

/// An open group (`H5Gclose`).
package final class HDF5Group: HDF5FileObject, HDF5Container {
    deinit { HDF5Library.withHDF5 { _ = H5Gclose(id) } }
}

/// An open dataset (`H5Dclose`).
package final class HDF5Dataset: HDF5FileObject {
    deinit { HDF5Library.withHDF5 { _ = H5Dclose(id) } }
}

// MARK: - Groups

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
        try openObject(path, "open group", access: mlp_H5P_GROUP_ACCESS()) { H5Gopen2($0, $1, $2) }
    }

    /// The shared part of opening a group or dataset: check the name, refuse external links on the way (our own
    /// walk first, then the library's guard in the access list), and adopt the id `open(parent, path, access)`
    /// returns.
    func openObject<Handle: HDF5FileObject>(_ path: String, _ operation: String, access accessClass: hid_t,
                                            _ open: (hid_t, String, hid_t) -> hid_t) throws(HDF5Error) -> Handle {
        let target = site.child(path)
        try HDF5Path.validate(path, target, operation)
        try refuseExternalLinks(on: path, operation: operation)
        let access = try HDF5PropertyList.refusingExternalLinks(class: accessClass, site: target)
        return try hdf5 { () throws(HDF5Error) in
            Handle(adopting: try target.id(open(id, path, access.id), operation), file: file, path: target.object)
        }
    }
}
