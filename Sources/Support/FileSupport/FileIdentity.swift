#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Which file a path names, whatever its spelling: `m.h5`, `./m.h5`, `runs/../m.h5`, a symbolic link to it or a
/// hard link all have one identity, so a command can tell that an output would overwrite one of its inputs.
///
/// An existing file is its device and inode (links followed). A file not yet created is its folder's device and
/// inode plus its name, so two spellings of the same new file also compare equal.
package struct FileIdentity: Hashable, Sendable {
    private let device: UInt64
    private let inode: UInt64
    /// Nil for an existing file; the name inside the folder for one that does not exist yet.
    private let name: String?

    /// Nil when neither the file nor its folder can be examined.
    package init?(path: String) {
        guard let target = try? AtomicFile.resolvingLinks(path) else { return nil }
        var info = stat()
        if stat(target, &info) == 0 {
            (device, inode, name) = (UInt64(info.st_dev), UInt64(info.st_ino), nil)
            return
        }
        let url = URL(fileURLWithPath: target)
        guard stat(url.deletingLastPathComponent().path, &info) == 0 else { return nil }
        (device, inode, name) = (UInt64(info.st_dev), UInt64(info.st_ino), url.lastPathComponent)
    }

    /// True when both paths name the same file; false when either cannot be examined.
    package static func same(_ a: String, _ b: String) -> Bool {
        guard let first = FileIdentity(path: a), let second = FileIdentity(path: b) else { return false }
        return first == second
    }
}
