import Foundation

package enum WholeFile {
    /// The whole file, after checking its size against `limit` (so a huge file is refused before it is read).
    package static func read(_ path: String, limit: Int) throws(FileFailure) -> Data {
        // A file that is not regular (a pipe) has no size to check up front; what was read is checked below.
        let size = FileStatus.size(of: path) ?? 0
        guard size <= limit else {
            throw FileFailure("file of \(size) bytes exceeds the limit of \(limit) bytes")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileFailure("cannot open the file for reading")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw FileFailure("cannot read the file: \(error.localizedDescription)")
        }
        guard data.count <= limit else {
            throw FileFailure("file grew past the limit of \(limit) bytes while being read")
        }
        return data
    }
}
