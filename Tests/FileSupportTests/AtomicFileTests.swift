import FileSupport
import Foundation
import TestSupport
import Testing

@Suite("Atomic replacement and whole-file reads")
struct AtomicFileTests {
    struct Refused: Error, Equatable { var reason: String }

    @Test func replacesTheFileWithTheCompleteNewContent() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("model.bin", [1, 2, 3])
        try AtomicFile.replace(path, failure: { Refused(reason: $0.reason) }) { temporary throws(Refused) in
            try AtomicFile.write(Data([9, 8, 7, 6]), to: temporary, failure: { Refused(reason: $0.reason) })
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([9, 8, 7, 6]))
        // Nothing is left behind in the folder: the temporary file was renamed.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["model.bin"])
    }

    @Test func aFailingWriterLeavesTheOldFileAndNoTemporary() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("model.bin", [1, 2, 3])
        let error = expectError(Refused.self) {
            try AtomicFile.replace(path, failure: { Refused(reason: $0.reason) }) { temporary throws(Refused) in
                try AtomicFile.write(Data([9]), to: temporary, failure: { Refused(reason: $0.reason) })
                throw Refused(reason: "the encoder gave up")
            }
        }
        #expect(error == Refused(reason: "the encoder gave up"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["model.bin"])
    }

    @Test func refusesAMissingFolderAndADirectory() throws {
        let folder = try TemporaryFolder()
        let missing = expectError(Refused.self) {
            try AtomicFile.replace(folder.path("nope/model.bin"), failure: { Refused(reason: $0.reason) }) { _ throws(Refused) in }
        }
        #expect(missing?.reason.hasPrefix("cannot write: the folder ") == true)
        try FileManager.default.createDirectory(atPath: folder.path("dir"), withIntermediateDirectories: false)
        let directory = expectError(Refused.self) {
            try AtomicFile.replace(folder.path("dir"), failure: { Refused(reason: $0.reason) }) { _ throws(Refused) in }
        }
        #expect(directory == Refused(reason: "cannot write: it is a directory"))
    }

    @Test func wholeFileReadsRefuseFilesOverTheLimitBeforeReading() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.bin", Array(repeating: 7, count: 100))
        #expect(try WholeFile.read(path, limit: 100) == Data(repeating: 7, count: 100))
        let error = expectError(FileFailure.self) { _ = try WholeFile.read(path, limit: 99) }
        #expect(error?.reason == "file of 100 bytes exceeds the limit of 99 bytes")
    }

    @Test func fileStatusTellsMissingDirectoryAndRegularApart() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("three.bin", [1, 2, 3])
        #expect(FileStatus(path: path) == .regular(size: 3))
        #expect(FileStatus(path: folder.path("missing")) == .missing)
        #expect(FileStatus(path: folder.url.path) == .notRegular)
        #expect(FileStatus.size(of: path) == 3)
        #expect(FileStatus.size(of: folder.url.path) == nil)
    }

    @Test func fileStatusFollowsSymbolicLinks() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("three.bin", [1, 2, 3])
        let link = folder.path("link.bin")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(FileStatus(path: link) == .regular(size: 3))
        let dangling = folder.path("dangling.bin")
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: folder.path("gone"))
        #expect(FileStatus(path: dangling) == .missing)
    }
}
