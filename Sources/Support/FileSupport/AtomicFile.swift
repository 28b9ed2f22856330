#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Replaces a file so that it is either the old one or the complete new one, never something in between —
/// even if the process is killed or the machine loses power mid-write (docs/robustness.md: writing in place lost
/// the old model 10 times in 10; this kept it 10 times in 10).
///
/// The new content goes to a temporary file in the destination's folder (same file system, so the rename is
/// atomic), which is flushed to disk, renamed over the destination, and the folder is flushed so the rename
/// itself survives a crash. On any error the temporary file is removed and the destination is untouched.
package enum AtomicFile {
    /// Calls `write` with the path of a fresh temporary file next to `destination` (the file exists, empty, with
    /// mode 0644 less the umask), then commits it. `failure` turns this function's own failures into the
    /// caller's error type, so `write`'s errors pass through unchanged.
    ///
    /// A `destination` that is a symbolic link is written through, as `cp` does: the file it points to is the one
    /// replaced (in its own folder), and the link stays a link.
    package static func replace<Failure: Error>(
        _ destination: String, failure: (FileFailure) -> Failure,
        write: (_ temporaryPath: String) throws(Failure) -> Void
    ) throws(Failure) {
        let target: String
        do throws(FileFailure) {
            target = try resolvingLinks(destination)
            try checkDestination(target)
        } catch {
            throw failure(error)
        }
        let url = URL(fileURLWithPath: target)
        let folder = url.deletingLastPathComponent().path
        removeStaleTemporaries(of: url.lastPathComponent, in: folder)
        // The writer's pid in the name tells a later writer whether this file can still be completed (see
        // removeStaleTemporaries).
        var template = Array((folder + "/" + temporaryPrefix(of: url.lastPathComponent) + "\(getpid())-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw failure(FileFailure("cannot create a temporary file in \(folder): \(errnoText())"))
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
        do throws(FileFailure) {
            try sync(path: temporary)
        } catch {
            throw failure(error)
        }
        guard rename(temporary, target) == 0 else {
            throw failure(FileFailure("cannot replace the file: \(errnoText())"))
        }
        committed = true
        // The data is safe; a failed folder sync only weakens the guarantee against power loss.
        try? sync(path: folder)
    }

    /// Fails as `replace` would before writing anything: the folder is missing or not writable, the destination
    /// is a directory. Lets a command refuse before hours of work whose result it could not save.
    package static func checkWritable(_ destination: String) throws(FileFailure) {
        let target = try resolvingLinks(destination)
        try checkDestination(target)
        let folder = URL(fileURLWithPath: target).deletingLastPathComponent().path
        guard access(folder, W_OK) == 0 else { throw FileFailure("cannot write in the folder \(folder): \(errnoText())") }
    }

    /// The file `path` names once symbolic links in its last component are followed (a link to a link, …); the
    /// path itself when it is not a link. The result may not exist yet (a dangling link names the file to create).
    package static func resolvingLinks(_ path: String) throws(FileFailure) -> String {
        var current = path
        // The kernel's own limit on links followed in one lookup.
        for _ in 0..<40 {
            var info = stat()
            guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return current }
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else {
                throw FileFailure("cannot read the symbolic link \(current): \(errnoText())")
            }
            current = link.hasPrefix("/") ? link : URL(fileURLWithPath: current).deletingLastPathComponent().path + "/" + link
        }
        throw FileFailure("too many levels of symbolic links")
    }

    /// `.<name>.tmp-`: what every temporary file for `name` starts with; the writer's pid and mkstemp's six
    /// characters follow.
    private static func temporaryPrefix(of name: String) -> String { "." + name + ".tmp-" }

    /// Removes temporary files of an earlier write of `name` whose writer was killed (a 746 MB one was seen):
    /// those named `.<name>.tmp-<pid>-XXXXXX` whose pid is no running process. A writer that is alive (or a pid
    /// reused since) keeps its file; names without a pid, from older versions, are left alone, as nothing tells
    /// whether their writer is gone. Best effort: a file that cannot be removed stays, the write goes on.
    private static func removeStaleTemporaries(of name: String, in folder: String) {
        let prefix = temporaryPrefix(of: name)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            let rest = entry.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard rest.count == 2, rest[1].utf8.count == 6, let pid = pid_t(rest[0]), pid > 0 else { continue }
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(folder + "/" + entry)
        }
    }

    private static func checkDestination(_ destination: String) throws(FileFailure) {
        let folder = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FileFailure("cannot write: the folder \(folder) does not exist")
        }
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            throw FileFailure("cannot write: it is a directory")
        }
    }

    /// Writes `bytes` to `path` (which must exist) with plain `write(2)` calls.
    package static func writeBytes(_ bytes: UnsafeRawBufferPointer, to path: String) throws(FileFailure) {
        let descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot write: \(errnoText())") }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, min(bytes.count - offset, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw FileFailure("cannot write: \(errnoText())")
            }
            offset += written
        }
    }

    /// `writeBytes` for `Data` or `[UInt8]`, its failures turned into the caller's error type.
    package static func write<Failure: Error>(
        _ bytes: some ContiguousBytes, to path: String, failure: (FileFailure) -> Failure
    ) throws(Failure) {
        // withUnsafeBytes rethrows untyped errors: carry the typed one out in a Result.
        let result = bytes.withUnsafeBytes { raw in Result { () throws(FileFailure) in try writeBytes(raw, to: path) } }
        do { try result.get() } catch { throw failure(error) }
    }

    private static func sync(path: String) throws(FileFailure) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot open \(path) to flush it: \(errnoText())") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw FileFailure("cannot flush to disk: \(errnoText())") }
    }

    package static func errnoText() -> String { String(cString: strerror(errno)) }
}
