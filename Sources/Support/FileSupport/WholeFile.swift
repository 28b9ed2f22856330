import Foundation

package enum WholeFile {
    /// The whole file, after checking its size against `limit` (so a huge file is refused before it is read).
    package static func read(_ path: String, limit: Int) throws(FileFailure) -> Data {
        let size: Int
        do {
            size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw FileFailure("cannot read the file: \(error.localizedDescription)")
        }
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
