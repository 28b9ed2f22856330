import FileSupport
import Foundation
import TestSupport
import Testing

@Suite("Reading a file at offsets")
struct PositionalFileTests {
    @Test func readsTheBytesAtEachOffset() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.bin", (0..<100).map { UInt8($0) })
        let file = try PositionalFile(path: path, limit: 100)
        #expect(file.size == 100)
        #expect(try file.bytes(count: 4, at: 10) == [10, 11, 12, 13])
        #expect(try file.bytes(count: 0, at: 100) == [])
        var values = [UInt8](repeating: 0, count: 3)
        try values.withUnsafeMutableBytes { try file.read(into: $0, at: 97) }
        #expect(values == [97, 98, 99])
    }

    @Test func aFileOverTheLimitIsRefusedBeforeItIsRead() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.bin", [UInt8](repeating: 7, count: 10))
        let error = expectError(FileFailure.self) { _ = try PositionalFile(path: path, limit: 9) }
        #expect(error?.reason == "file of 10 bytes exceeds the limit of 9 bytes")
    }

    @Test func aRangePastTheEndIsRefusedBeforeAnythingIsAllocated() throws {
        let folder = try TemporaryFolder()
        let file = try PositionalFile(path: try folder.write("data.bin", [1, 2, 3]), limit: 10)
        #expect(expectError(FileFailure.self) { _ = try file.bytes(count: 2, at: 2) }?.reason
                == "cannot read 2 bytes at offset 2: the file has 3")
        // A count that would overflow the end offset is a range past the end, not a crash.
        #expect(expectError(FileFailure.self) { _ = try file.bytes(count: Int.max, at: 1) }?.reason
                == "cannot read \(Int.max) bytes at offset 1: the file has 3")
        #expect(expectError(FileFailure.self) { _ = try file.bytes(count: 1, at: -1) } != nil)
    }

    @Test func aFileThatShrinksWhileOpenIsReportedNotReadAsZeros() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.bin", [UInt8](repeating: 1, count: 64))
        let file = try PositionalFile(path: path, limit: 100)
        #expect(truncate(path, 16) == 0)
        let error = expectError(FileFailure.self) { _ = try file.bytes(count: 32, at: 8) }
        #expect(error?.reason == "the file shrank while being read: byte 16 of 64 is gone")
    }

    @Test func aDirectoryIsNotARegularFile() throws {
        let folder = try TemporaryFolder()
        let error = expectError(FileFailure.self) { _ = try PositionalFile(path: folder.url.path, limit: 1 << 20) }
        #expect(error?.reason == "cannot read the file: not a regular file")
    }
}
