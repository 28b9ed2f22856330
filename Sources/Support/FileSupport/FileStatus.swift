#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What is at a path, asked once, so callers choose their own words for each case. A symbolic link is followed:
/// what counts is the file it names, as for every read.
package enum FileStatus: Equatable, Sendable {
    case missing
    /// It exists but cannot be examined (permissions on a folder in the path, an I/O error).
    case unreadable
    /// A directory, a pipe, a device: not something a model or data file can be.
    case notRegular
    case regular(size: Int)

    package init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            self = errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable
            return
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            self = .notRegular
            return
        }
        self = .regular(size: Int(info.st_size))
    }

    /// The size of a regular file, nil otherwise: for reports, where an unknown size is not an error.
    package static func size(of path: String) -> Int? {
        if case .regular(let size) = FileStatus(path: path) { return size }
        return nil
    }
}
