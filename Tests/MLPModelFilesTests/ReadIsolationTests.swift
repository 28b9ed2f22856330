import Foundation
import MLPDocument
import Testing
@testable import MLPModelFiles

// The library's isolated HDF5 read (issue 15, item 6): `ModelFiles.load` reads a file that libhdf5 reads in a
// helper process first, so a program using the library survives the crafted files the CLI survives.

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures")

@Suite struct ReadIsolationTests {
    /// Files that make HDF5 1.10.8 segfault (fixtures/bad/README.md): with the default options they are an error
    /// naming the file, not a crash of the test process. Before the library isolated its reads, this test killed
    /// the test runner with SIGSEGV.
    @Test(arguments: ["hdf5-flipped-metadata-segfault-1.h5", "hdf5-flipped-metadata-segfault-2.h5"])
    func aFileThatCrashesTheHDF5LibraryIsAnError(name: String) {
        let path = fixtures.appendingPathComponent("bad/" + name).path
        #expect {
            _ = try ModelFiles.load(path)
        } throws: { error in
            guard let error = error as? ModelFileError else { return false }
            return error.file == path && error.object == nil
                && error.reason == "the HDF5 library crashed (signal 11) while reading this file; its metadata is corrupt"
        }
    }
}
