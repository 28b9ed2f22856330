import Foundation

/// What is at a path, asked once, so callers choose their own words for each case.
package enum FileStatus: Equatable, Sendable {
    case missing
    /// It exists but its attributes cannot be read (permissions, a dangling mount).
    case unreadable
    /// A directory, a pipe, a device: not something a model or data file can be.
    case notRegular
    case regular(size: Int)

    package init(path: String) {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            self = FileManager.default.fileExists(atPath: path) ? .unreadable : .missing
            return
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular, let size = attributes[.size] as? Int else {
            self = .notRegular
            return
        }
        self = .regular(size: size)
    }

    /// The size of a regular file, nil otherwise: for reports, where an unknown size is not an error.
    package static func size(of path: String) -> Int? {
        if case .regular(let size) = FileStatus(path: path) { return size }
        return nil
    }
}
