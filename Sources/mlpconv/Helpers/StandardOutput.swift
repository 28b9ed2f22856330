#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything the commands print on stdout goes through here, so a failed write cannot pass unnoticed.
///
/// `print` writes through stdio, whose errors nobody checks: `predict … > /dev/full` wrote 8,192 of 28,937 bytes
/// and exited 0. This writer buffers, writes with `write(2)`, keeps the first error, and stops writing after it;
/// `MLPConv.main` calls `finish()` before every exit that follows output, and a failure becomes exit status 2
/// with "stdout: <reason>".
enum StandardOutput {
    /// Only the main thread writes; the state is global because stdout is.
    nonisolated(unsafe) private static var buffer: [UInt8] = []
    nonisolated(unsafe) private static var failure: String?
    private static let capacity = 1 << 16

    static func write(_ text: String) {
        guard failure == nil else { return }
        var text = text
        text.withUTF8 { utf8 in
            if buffer.count + utf8.count > capacity { flush() }
            // A large text (predict's CSV) goes straight out: no second copy of it in the buffer.
            if utf8.count >= capacity {
                writeAll(UnsafeRawBufferPointer(utf8))
            } else {
                buffer.append(contentsOf: utf8)
            }
        }
    }

    /// Writes out what is buffered; nil when everything written so far reached stdout, else the first error.
    static func finish() -> String? {
        flush()
        return failure
    }

    private static func flush() {
        buffer.withUnsafeBytes { writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let written = Glibc.write(STDOUT_FILENO, base + done, bytes.count - done)
            if written < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
                return
            }
            done += written
        }
    }
}

/// `print` for the commands: stdout through `StandardOutput`.
func emit(_ text: String = "", terminator: String = "\n") {
    StandardOutput.write(text)
    StandardOutput.write(terminator)
}
