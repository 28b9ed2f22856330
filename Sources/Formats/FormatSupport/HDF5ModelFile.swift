import FileSupport
import HDF5Support
import MLPDocument

/// Opening an HDF5 file that should hold a model — mlpconv's layout or a Keras `.h5` — with the file-level
/// checks both share: a regular, non-empty file within the size limit, and HDF5's reasons for refusing it said
/// as what they mean for a model file.
package struct HDF5ModelFile {
    package let h5: HDF5File
    /// Bytes on disk: every dataset's stored extent is checked against it before anything is read.
    package let size: Int

    package static func open(path: String, file: String, limits: LoadLimits) throws(ModelFileError) -> HDF5ModelFile {
        let size = try checkedSize(path: path, file: file, limits: limits)
        return HDF5ModelFile(h5: try openReadOnly(path: path, file: file), size: size)
    }

    private static func checkedSize(path: String, file: String, limits: LoadLimits) throws(ModelFileError) -> Int {
        let size: Int
        switch FileStatus(path: path) {
        case .missing: throw ModelFileError(file: file, reason: "no such file")
        case .unreadable: throw ModelFileError(file: file, reason: "cannot read the file's size")
        case .notRegular: throw ModelFileError(file: file, reason: "not a regular file")
        case .regular(let found): size = found
        }
        if size == 0 { throw ModelFileError(file: file, reason: "not a model file (the file is empty)") }
        if size > limits.maxFileBytes {
            throw ModelFileError(file: file, reason: "the file is \(size) bytes, over the limit of \(limits.maxFileBytes)")
        }
        return size
    }

    private static func openReadOnly(path: String, file: String) throws(ModelFileError) -> HDF5File {
        do {
            return try HDF5File.openReadOnly(at: path)
        } catch {
            let reason = error.reason
            if reason.contains("file signature not found") {
                throw ModelFileError(file: file, reason: "not an HDF5 file (file signature not found)")
            }
            if reason.contains("truncated file") {
                throw ModelFileError(file: file, reason: "the HDF5 file is truncated (\(reason)): it is incomplete")
            }
            // HDF5 1.10 marks superblock v3 files "open for write" while a writer has them open; the mark
            // survives a crash.
            if error.libraryText.contains("already open for write") || reason.contains("file consistency flags") {
                throw ModelFileError(file: file, reason: "the file was not closed cleanly (its superblock is marked "
                                     + "open for write): it is likely incomplete; if you trust it, `h5clear -s` clears the mark")
            }
            throw ModelFileError(error, file: file)
        }
    }
}
