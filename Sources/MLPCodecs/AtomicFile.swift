#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Replaces a file so that it is either the old one or the complete new one, never something in between —
/// even if the process is killed or the machine loses power mid-write (bad-inputs.md: writing in place lost
/// the old model 10 times in 10; this kept it 10 times in 10).
///
/// The new content goes to a temporary file in the destination's folder (same file system, so the rename is
/// atomic), which is flushed to disk, renamed over the destination, and the folder is flushed so the rename
/// itself survives a crash. On any error the temporary file is removed and the destination is untouched.
enum AtomicFile {
    /// Calls `write` with the path of a fresh temporary file next to `destination` (the file exists, empty, with
    /// mode 0644 less the umask), then commits it.
    static func replace(_ destination: String, write: (_ temporaryPath: String) throws(ModelFileError) -> Void) throws(ModelFileError) {
        let url = URL(fileURLWithPath: destination)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelFileError(file: destination, reason: "cannot write: the folder \(folder) does not exist")
        }
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ModelFileError(file: destination, reason: "cannot write: it is a directory")
        }
        var template = Array((folder + "/." + url.lastPathComponent + ".tmp-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw ModelFileError(file: destination, reason: "cannot create a temporary file in \(folder): \(errnoText())")
        }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // mkstemp creates 0600; a model file is an ordinary document.
        let mask = umask(0)
        umask(mask)
        fchmod(descriptor, 0o666 & ~mask)
        close(descriptor)
        var committed = false
        defer { if !committed { unlink(temporary) } }

        try write(temporary)
        try sync(path: temporary, file: destination)
        guard rename(temporary, destination) == 0 else {
            throw ModelFileError(file: destination, reason: "cannot replace the file: \(errnoText())")
        }
        committed = true
        // The data is safe; a failed folder sync only weakens the guarantee against power loss.
        try? sync(path: folder, file: destination)
    }

    /// Writes `bytes` to `path` (which must exist) with plain `write(2)` calls.
    static func writeBytes(_ bytes: UnsafeRawBufferPointer, to path: String, file: String) throws(ModelFileError) {
        let descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelFileError(file: file, reason: "cannot write: \(errnoText())") }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, min(bytes.count - offset, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw ModelFileError(file: file, reason: "cannot write: \(errnoText())")
            }
            offset += written
        }
    }

    private static func sync(path: String, file: String) throws(ModelFileError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelFileError(file: file, reason: "cannot open \(path) to flush it: \(errnoText())") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw ModelFileError(file: file, reason: "cannot flush to disk: \(errnoText())") }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
