import Foundation
import ZipSupport

/// Where each member's data starts in an archive, from its local header (the tests check torch's alignment).
enum ZipLayout {
    struct Member {
        var name: String
        var dataOffset: Int
    }

    static func members(_ data: Data) throws -> [Member] {
        let reader = try ZipReader(data, maxEntries: 100)
        let bytes = [UInt8](data)
        return reader.entries.map { entry in
            let header = Int(entry.localHeaderOffset)
            let nameLength = Int(bytes[header + 26]) | Int(bytes[header + 27]) << 8
            let extraLength = Int(bytes[header + 28]) | Int(bytes[header + 29]) << 8
            return Member(name: entry.name, dataOffset: header + 30 + nameLength + extraLength)
        }
    }
}
