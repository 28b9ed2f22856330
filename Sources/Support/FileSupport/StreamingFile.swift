#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file piece by piece through one fixed buffer, so an encoder can stream a large model to disk without
/// holding the whole output in memory next to the document (a conversion's peak memory stays near the model's
/// size). Used inside `AtomicFile.replace` on the temporary path, which keeps the write atomic.
package final class StreamingFile {
    private let descriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Bytes handed to the writer so far, flushed or not: the offset the next byte will have in the file.
    package private(set) var offset = 0
    private var closed = false

    /// Opens `path` (which must exist, as `AtomicFile.replace`'s temporary file does) for writing from the start.
    package init(path: String, bufferSize: Int = 1 << 20) throws(FileFailure) {
        descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot write: \(AtomicFile.errnoText())") }
        buffer = .allocate(byteCount: max(bufferSize, 4096), alignment: 64)
    }

    deinit {
        if !closed { close(descriptor) }
        buffer.deallocate()
    }

    package func write(_ bytes: UnsafeRawBufferPointer) throws(FileFailure) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if bytes.count >= buffer.count {
            // Larger than the buffer: straight through, after what is buffered.
            try flush()
            try writeAll(base, count: bytes.count)
            offset += bytes.count
            return
        }
        if used + bytes.count > buffer.count { try flush() }
        (buffer.baseAddress! + used).copyMemory(from: base, byteCount: bytes.count)
        used += bytes.count
        offset += bytes.count
    }

    package func write(_ bytes: [UInt8]) throws(FileFailure) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(FileFailure) in try write(raw) } }
        try result.get()
    }

    package func write(_ text: String) throws(FileFailure) {
        var text = text
        let result = text.withUTF8 { utf8 in Result { () throws(FileFailure) in try write(UnsafeRawBufferPointer(utf8)) } }
        try result.get()
    }

    /// Lets `fill` write up to `capacity` bytes (at most the buffer's size) straight into the buffer; it returns
    /// how many it wrote. Encoders (base64, decimal text) produce their output in place this way, without a copy.
    package func fill(upTo capacity: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Int) throws(FileFailure) {
        let capacity = min(capacity, buffer.count)
        if buffer.count - used < capacity { try flush() }
        let written = fill(UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + capacity)]))
        used += written
        offset += written
    }

    /// The largest `capacity` `fill` accepts.
    package var bufferSize: Int { buffer.count }

    /// Writes out what is buffered and closes the file; the caller (`AtomicFile.replace`) flushes it to disk.
    package func finish() throws(FileFailure) {
        try flush()
        closed = true
        guard close(descriptor) == 0 else { throw FileFailure("cannot write: \(AtomicFile.errnoText())") }
    }

    private func flush() throws(FileFailure) {
        guard used > 0 else { return }
        try writeAll(buffer.baseAddress!, count: used)
        used = 0
    }

    private func writeAll(_ base: UnsafeRawPointer, count: Int) throws(FileFailure) {
        var done = 0
        while done < count {
            let written = Glibc.write(descriptor, base + done, min(count - done, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw FileFailure("cannot write: \(AtomicFile.errnoText())")
            }
            done += written
        }
    }
}
