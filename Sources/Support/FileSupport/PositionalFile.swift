#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file read piece by piece at chosen offsets (`pread`), so a reader can check a container's header and index
/// first and then read each tensor's bytes straight into the tensor's own storage: the file is never held whole
/// in memory next to the document it becomes.
package final class PositionalFile {
    private let descriptor: Int32
    /// The size when the file was opened; every read is checked against it.
    package let size: Int

    /// Opens `path` for reading, refusing a file over `limit` bytes (before anything is read) and anything that
    /// is not a regular file (a pipe has no offsets).
    package init(path: String, limit: Int) throws(FileFailure) {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot open the file for reading") }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw FileFailure("cannot read the file: not a regular file")
        }
        size = Int(info.st_size)
        guard size <= limit else {
            close(descriptor)
            throw FileFailure("file of \(size) bytes exceeds the limit of \(limit) bytes")
        }
    }

    deinit { close(descriptor) }

    /// Fills `buffer` with the bytes at `offset`; fails when they are not all there (the file shrank).
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(FileFailure) {
        try checkRange(count: buffer.count, at: offset)
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        var done = 0
        while done < buffer.count {
            let got = pread(descriptor, base + done, min(buffer.count - done, 1 << 30), off_t(offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                throw FileFailure("cannot read the file: \(AtomicFile.errnoText())")
            }
            guard got > 0 else {
                throw FileFailure("the file shrank while being read: byte \(offset + done) of \(size) is gone")
            }
            done += got
        }
    }

    /// `count` bytes at `offset`, for headers and indexes (tensor bytes go straight into their storage instead).
    package func bytes(count: Int, at offset: Int) throws(FileFailure) -> [UInt8] {
        try checkRange(count: count, at: offset)
        var bytes = [UInt8](repeating: 0, count: count)
        let result = bytes.withUnsafeMutableBytes { raw in Result { () throws(FileFailure) in try read(into: raw, at: offset) } }
        try result.get()
        return bytes
    }

    private func checkRange(count: Int, at offset: Int) throws(FileFailure) {
        guard count >= 0, offset >= 0, case let (end, overflow) = offset.addingReportingOverflow(count), !overflow,
              end <= size else {
            throw FileFailure("cannot read \(count) bytes at offset \(offset): the file has \(size)")
        }
    }
}
