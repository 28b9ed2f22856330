import CHDF5
import Foundation
import Testing
@testable import HDF5Support
import TestSupport

// Handles and locks: every handle closes exactly once, and no child process keeps a file locked.
extension HDF5WrapperTests {
    @Test("handles close exactly once, on success and on error paths; close() refuses while objects are open")
    func handlesAreClosed() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("count.h5")
        let baseline = openObjectCount(in: folder)
        do {
            let file = try HDF5File.create(at: path)
            do {
                let group = try file.createGroup("a/b/c")
                let dataset = try group.createDataset("d", shape: [2], values: [Double(1), 2])
                try dataset.setAttribute("s", .strings(["x", "y"]))
                _ = try dataset.attribute("s")
                _ = try file.members()
                #expect(openObjectCount(in: folder) == baseline + 3)  // file, group, dataset

                // Failures must not leak what they opened on the way.
                _ = expectError(HDF5Error.self) { _ = try file.openDataset("a/b/missing") }
                _ = expectError(HDF5Error.self) { _ = try group.attribute("nope") }
                _ = expectError(HDF5Error.self) { _ = try dataset.readValues(as: Int64.self, maxElements: 10) }
                #expect(openObjectCount(in: folder) == baseline + 3)

                let early = expectError(HDF5Error.self) { try file.close() }
                #expect(early?.description == "\(path): /: cannot close file: 2 object(s) in the file are still open; release them before closing")
            }
            try file.close()
            #expect(openObjectCount(in: folder) == baseline)
        }
        #expect(openObjectCount(in: folder) == baseline)

        do {
            let file = try HDF5File.openReadOnly(at: path)
            let group = try file.openGroup("a/b")
            #expect(try group.members() == [HDF5Member(name: "c", kind: .group)])
            #expect(try file.openGroup("a/b/c").members() == [HDF5Member(name: "d", kind: .dataset)])
            #expect(try group.hasMember("c"))
            #expect(try !group.hasMember("z"))
            let missing = expectError(HDF5Error.self) { _ = try group.openGroup("c/nope") }
            #expect(missing?.kind == .missing)
            #expect(missing?.description.hasPrefix("\(path): /a/b/c/nope: cannot open group: no such object") == true)
        }
        #expect(openObjectCount(in: folder) == baseline)
    }


    @Test("a child process spawned while a file is open does not keep it locked (HDF5 file locks are off)")
    func spawnedChildHoldsNoLock() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("locked.h5")
        var child: pid_t = 0
        do {
            let file = try HDF5File.create(at: path)
            _ = try file.createDataset("x", shape: [1], values: [Float(1)])
            // A plain posix_spawn inherits every descriptor without O_CLOEXEC — HDF5's included, and with it any
            // flock on the file. (Foundation's Process closes them in the child, but only after the fork.)
            var arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
            defer { arguments.forEach { free($0) } }
            try #require(posix_spawn(&child, "/bin/sleep", nil, nil, &arguments, environ) == 0)
            try file.close()
        }
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        do {
            let reopened = try HDF5File.openReadOnly(at: path)
            #expect(try reopened.openDataset("x").readValues(as: Float.self, maxElements: 1) == [1])
        }
        _ = try HDF5File.openReadWrite(at: path)
    }
}
