// hid_t, herr_t and htri_t appear in HDF5Site's checks.
package import CHDF5

// What every call into HDF5 goes through: the lock, the site a failure names, the checks of return values.
//
// HDF5Support holds thin owners of HDF5 ids, private to the codecs. Rules every function in it follows:
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
