import FileSupport
import Foundation
import TestSupport
import Testing

@Suite("Files mapped rather than read")
struct MappedFileTests {
    @Test func theMappingHoldsTheFilesBytesAndGivenBackPagesReadAgainFromTheFile() throws {
        let folder = try TemporaryFolder()
        let bytes = (0..<(5 * 4096 + 123)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let path = try folder.write("data.bin", bytes)
        let (data, isMapped) = try MappedFile.data(path: path, limit: bytes.count)
        #expect(isMapped)
        #expect([UInt8](data) == bytes)
        MappedFile.releasePages(100..<(4 * 4096 + 7), of: data)
        MappedFile.releasePages(0..<data.count, of: data)
        #expect([UInt8](data) == bytes)
    }

    @Test func aFileOverTheLimitIsRefusedAndAnEmptyFileIsEmpty() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.bin", [1, 2, 3])
        let error = expectError(FileFailure.self) { _ = try MappedFile.data(path: path, limit: 2) }
        #expect(error?.reason == "file of 3 bytes exceeds the limit of 2 bytes")
        let empty = try MappedFile.data(path: try folder.write("empty.bin", []), limit: 2)
        #expect(empty.data.isEmpty && !empty.isMapped)
        #expect(expectError(FileFailure.self) { _ = try MappedFile.data(path: folder.path("missing"), limit: 2) }?.reason
                == "cannot open the file for reading")
    }
}
