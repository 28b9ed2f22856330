import Foundation

package enum WholeFile {
    /// The whole file, after checking its size against `limit` (so a huge file is refused before it is read).
    package static func read(_ path: String, limit: Int) throws(FileFailure) -> Data {
        // A file that is not regular (a pipe) has no size to check up front; what was read is checked below.
        try checkSize(FileStatus.size(of: path) ?? 0, limit: limit)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw cannotOpen }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw FileFailure("cannot read the file: \(error.localizedDescription)")
        }
        guard data.count <= limit else { throw grewPastLimit(limit) }
        return data
    }

    /// Refuses a file of `size` bytes over `limit`, before anything is read: the check of `read`, for readers that
    /// read a file in parts.
    package static func checkSize(_ size: Int, limit: Int) throws(FileFailure) {
        guard size <= limit else { throw FileFailure("file of \(size) bytes exceeds the limit of \(limit) bytes") }
    }

    package static let cannotOpen = FileFailure("cannot open the file for reading")

    package static func grewPastLimit(_ limit: Int) -> FileFailure {
        FileFailure("file grew past the limit of \(limit) bytes while being read")
    }
}
