import FileSupport
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where `AtomicFile.replace` writes: through symbolic links to their target, clearing temporary files of writers
/// that were killed; and `FileIdentity`, which tells whether two paths name one file.
@Suite("Atomic replacement: links, stale temporary files, file identity")
struct AtomicFileTargetTests {
    struct Refused: Error, Equatable { var reason: String }

    private func replace(_ path: String, with bytes: [UInt8]) throws {
        try AtomicFile.replace(path, failure: { Refused(reason: $0.reason) }) { temporary throws(Refused) in
            try AtomicFile.write(Data(bytes), to: temporary, failure: { Refused(reason: $0.reason) })
        }
    }

    @Test func aLinkIsWrittenThroughAndStaysALink() throws {
        let folder = try TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.path("real"), withIntermediateDirectories: false)
        let target = try folder.write("real/model.bin", [1])
        let link = folder.path("model.bin"), chain = folder.path("chain.bin")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real/model.bin")
        try FileManager.default.createSymbolicLink(atPath: chain, withDestinationPath: link)
        try replace(chain, with: [4, 5])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "real/model.bin")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: chain) == link)
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data([4, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path("real")) == ["model.bin"])
        // A dangling link names the file to create, as for cp.
        let dangling = folder.path("new.bin")
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "real/created.bin")
        try replace(dangling, with: [6])
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("real/created.bin"))) == Data([6]))
    }

    @Test func aLinkLoopIsRefused() throws {
        let folder = try TemporaryFolder()
        try FileManager.default.createSymbolicLink(atPath: folder.path("a"), withDestinationPath: "b")
        try FileManager.default.createSymbolicLink(atPath: folder.path("b"), withDestinationPath: "a")
        let error = expectError(Refused.self) { try replace(folder.path("a"), with: [1]) }
        #expect(error?.reason == "too many levels of symbolic links")
    }

    @Test func onlyTemporaryFilesOfGoneWritersOfThisTargetAreRemoved() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("m.bin", [1])
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let gone = finished.processIdentifier
        let names = [".m.bin.tmp-\(gone)-aB3dE5", ".m.bin.tmp-\(getpid())-aB3dE5", ".m.bin.tmp-aB3dE5",
                     ".m.bin.tmp-\(gone)-toolong", ".mm.bin.tmp-\(gone)-aB3dE5", "m.bin.tmp-\(gone)-aB3dE5"]
        for name in names { try folder.write(name, [0]) }
        try replace(path, with: [2])
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: folder.url.path))
        #expect(left == Set(["m.bin"] + names.dropFirst()))
    }

    @Test func identityFollowsTheFileNotTheSpelling() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("m.bin", [1])
        try FileManager.default.createSymbolicLink(atPath: folder.path("link"), withDestinationPath: "m.bin")
        #expect(link(path, folder.path("hard")) == 0)
        for spelling in [folder.path("link"), folder.path("hard"), folder.url.path + "/./m.bin", folder.url.path + "//m.bin"] {
            #expect(FileIdentity.same(path, spelling), "\(spelling)")
        }
        #expect(!FileIdentity.same(path, folder.path("other")))
        // Files not yet created: the same folder and name are the same file.
        #expect(FileIdentity.same(folder.path("new.svg"), folder.url.path + "/./new.svg"))
        #expect(!FileIdentity.same(folder.path("new.svg"), folder.path("new2.svg")))
        #expect(!FileIdentity.same(folder.path("no/such/a"), folder.path("no/such/a")))
    }
}
