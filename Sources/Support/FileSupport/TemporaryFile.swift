#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A scratch file for an intermediate result too large to hold in memory next to the model (the HDF5 weights of a
/// `.keras` archive), removed when the value goes away, whichever way the caller leaves, or earlier by `remove()`.
package final class TemporaryFile {
    package let path: String
    private var removed = false

    /// Creates an empty file of the caller's own (`mkstemp`, mode 0600) in `folder`, named after `base`.
    package init(in folder: String, base: String) throws(FileFailure) {
        var template = Array((folder + "/." + base + ".part-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw FileFailure("cannot create a temporary file in \(folder): \(AtomicFile.errnoText())")
        }
        close(descriptor)
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A temporary file in the folder of `destination` (same file system as the file being written).
    package convenience init(nextTo destination: String) throws(FileFailure) {
        let url = URL(fileURLWithPath: destination)
        try self.init(in: url.deletingLastPathComponent().path, base: url.lastPathComponent)
    }

    /// A temporary file in the system's temporary folder (`TMPDIR`, else /tmp).
    package convenience init(base: String) throws(FileFailure) {
        try self.init(in: FileManager.default.temporaryDirectory.path, base: base)
    }

    deinit { remove() }

    /// Unlinks the file now; whoever still has it open keeps reading it (HDF5, once it has opened it).
    package func remove() {
        guard !removed else { return }
        removed = true
        unlink(path)
    }

    /// The file's current size.
    package func size() throws(FileFailure) -> Int {
        guard case .regular(let size) = FileStatus(path: path) else {
            throw FileFailure("cannot examine the temporary file \(path)")
        }
        return size
    }

    /// Reads the whole file from the start in pieces of `pieceSize` bytes (the last one shorter), passing each to
    /// `body`; exactly `expectedSize` bytes must be there.
    package func forEachPiece(expectedSize: Int, pieceSize: Int = 4 << 20,
                              _ body: (UnsafeRawBufferPointer) throws(FileFailure) -> Void) throws(FileFailure) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot read the temporary file \(path): \(AtomicFile.errnoText())") }
        defer { close(descriptor) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(pieceSize, 1), alignment: 64)
        defer { buffer.deallocate() }
        var done = 0
        while true {
            let got = read(descriptor, buffer.baseAddress!, min(buffer.count, max(expectedSize - done, 1)))
            if got < 0 {
                if errno == EINTR { continue }
                throw FileFailure("cannot read the temporary file \(path): \(AtomicFile.errnoText())")
            }
            if got == 0 { break }
            done += got
            guard done <= expectedSize else { break }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
        }
        guard done == expectedSize else {
            throw FileFailure("the temporary file \(path) changed while being read (\(done) bytes, expected \(expectedSize))")
        }
    }
}
