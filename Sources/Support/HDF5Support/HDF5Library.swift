internal import CHDF5
import Foundation

/// Everything that enters HDF5 goes through here.
///
/// Two facts about the library shape this type:
/// - HDF5 must not run concurrently with itself. Debian's "serial" 1.10.8 happens to be built thread-safe, but
///   the codecs must also work on builds that are not, and several of our operations are sequences of calls
///   (fail, then read the error stack) that have to be atomic anyway. One recursive lock serialises them all;
///   it is recursive because a handle's `deinit` (which closes through the lock) may run inside another
///   locked section.
/// - HDF5 prints its error stack to stderr on every failed call. That is switched off, and the stack is turned
///   into text for `HDF5Error` instead. In a thread-safe build the error stack *and its auto-print setting*
///   are per thread, so switching printing off once is not enough: it is (cheaply) switched off again on every
///   entry, whatever thread Swift concurrency happens to run us on.
package enum HDF5Library {
    private static let lock = NSRecursiveLock()

    /// Runs `body` holding the HDF5 lock, with automatic error printing disabled on this thread.
    package static func withHDF5<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        // H5Eset_auto2 also initialises the library on first use. It cannot fail for the default stack;
        // if it ever did, the worst outcome is stderr noise, not wrong results.
        _ = H5Eset_auto2(mlp_H5E_DEFAULT(), nil, nil)
        return try body()
    }

    /// The version of the HDF5 library actually loaded (the headers may differ from the shared object).
    package static var version: (major: UInt32, minor: UInt32, release: UInt32) {
        withHDF5 {
            var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
            mlp_H5_version(&major, &minor, &release)
            return (major, minor, release)
        }
    }

    /// One entry of HDF5's error stack.
    package struct ErrorRecord: Sendable, CustomStringConvertible {
        package var function: String
        package var sourceFile: String
        package var line: UInt32
        package var major: String
        package var minor: String
        package var message: String

        package var description: String {
            "\(function)() at \(sourceFile):\(line): \(message) [\(major) / \(minor)]"
        }
    }

    /// Takes the calling thread's current HDF5 error stack, outermost call first, and clears it.
    ///
    /// Call it (with the lock held) right after the failing call: every later HDF5 API call starts by clearing
    /// the stack. The stack is first copied with `H5Eget_current_stack` (which also clears the live one), so that
    /// looking up message texts with `H5Eget_msg` cannot disturb the stack being walked.
    package static func takeErrorStack() -> [ErrorRecord] {
        // Only the lock, not `withHDF5`: no other HDF5 call may run between the failure and this walk.
        lock.lock()
        defer { lock.unlock() }
        let stack = H5Eget_current_stack()
        guard stack >= 0 else { return [] }
        defer { _ = H5Eclose_stack(stack) }

        // The walk callback is a C function pointer (no captures); it appends to this box.
        final class Collector {
            var raw: [(major: hid_t, minor: hid_t, function: String, file: String, line: UInt32, desc: String)] = []
        }
        let collector = Collector()
        let status = withExtendedLifetime(collector) {
            H5Ewalk2(stack, H5E_WALK_DOWNWARD, { _, record, clientData in
                guard let record, let clientData else { return 0 }
                let collector = Unmanaged<Collector>.fromOpaque(clientData).takeUnretainedValue()
                let entry = record.pointee
                collector.raw.append((
                    major: entry.maj_num, minor: entry.min_num,
                    function: entry.func_name.map { String(cString: $0) } ?? "?",
                    file: entry.file_name.map { String(cString: $0) } ?? "?",
                    line: entry.line,
                    // Some messages embed ctime() output, which ends in a newline: keep each record on one line.
                    desc: entry.desc.map { String(cString: $0).replacingOccurrences(of: "\n", with: " ") } ?? ""))
                return 0
            }, Unmanaged.passUnretained(collector).toOpaque())
        }
        if status < 0 && collector.raw.isEmpty { return [] }
        return collector.raw.map { raw in
            ErrorRecord(
                function: raw.function, sourceFile: raw.file, line: raw.line,
                major: messageText(raw.major), minor: messageText(raw.minor), message: raw.desc)
        }
    }

    /// The text of an HDF5 major/minor error message id.
    private static func messageText(_ id: hid_t) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = buffer.withUnsafeMutableBufferPointer { H5Eget_msg(id, nil, $0.baseAddress, $0.count) }
        guard length > 0 else { return "?" }
        return stringFromCBuffer(buffer)
    }
}

/// A failure while reading or writing an HDF5 file.
///
/// The first line says where (file, HDF5 object path), what was attempted and why; when the library itself
/// failed, its error stack follows, outermost call first.
package struct HDF5Error: Error, CustomStringConvertible, Sendable {
    package enum Kind: Sendable, Equatable {
        /// An HDF5 call failed; `libraryStack` says why.
        case library
        /// The file asks for something we never do with untrusted files (external links, external raw storage,
        /// virtual datasets).
        case refused
        /// A type, rank or layout this toolkit does not handle.
        case unsupported
        /// A size over a cap, or a buffer whose size does not match the data.
        case size
        /// Something expected in the file is not there.
        case missing
    }

    package var kind: Kind
    /// The file's path as given by the caller.
    package var file: String
    /// The HDF5 object path inside the file (`/` for the root group).
    package var object: String
    /// What was being attempted, as a verb phrase ("open file for reading").
    package var operation: String
    /// Why it failed, in one line.
    package var reason: String
    /// HDF5's own error stack, one line per entry, outermost call first (empty when we refused on our own).
    package var libraryStack: [String]

    package init(kind: Kind, file: String, object: String, operation: String, reason: String,
                 libraryStack: [String] = []) {
        self.kind = kind
        self.file = file
        self.object = object
        self.operation = operation
        self.reason = reason
        self.libraryStack = libraryStack
    }

    /// The library's error-stack text (empty when the error did not come from HDF5).
    package var libraryText: String { libraryStack.joined(separator: "\n") }

    /// What failed and why, without the file and object: "cannot open file for reading: truncated file".
    package var failure: String { "cannot \(operation): \(reason)" }

    package var description: String {
        var text = "\(file): \(object): \(failure)"
        if !libraryStack.isEmpty {
            text += "\nHDF5 error stack:\n" + libraryStack.map { "  " + $0 }.joined(separator: "\n")
        }
        return text
    }

    /// An error for a failed library call, carrying the calling thread's error stack (which this clears).
    /// The one-line reason is the innermost entry: it names the actual cause ("file signature not found"),
    /// where the outer ones only repeat "unable to open file".
    package static func fromLibrary(file: String, object: String, operation: String) -> HDF5Error {
        let records = HDF5Library.takeErrorStack()
        let reason = records.last.map { plainReason($0.message.isEmpty ? $0.minor : $0.message) } ?? "HDF5 call failed"
        return HDF5Error(kind: .library, file: file, object: object, operation: operation, reason: reason,
                         libraryStack: records.enumerated().map { "#\($0.offset) \($0.element)" })
    }

    /// The system's reason alone from the sec2 driver's I/O messages ("file read failed: time = …, filename = …,
    /// errno = 5, error message = 'Input/output error', buf = 0x…, …" becomes "Input/output error"); the
    /// rest is internals that the error stack keeps.
    static func plainReason(_ message: String) -> String {
        guard let start = message.range(of: "error message = '"),
              let end = message.range(of: "'", range: start.upperBound..<message.endIndex) else { return message }
        return String(message[start.upperBound..<end.lowerBound])
    }
}
