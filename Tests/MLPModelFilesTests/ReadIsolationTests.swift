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

    /// One file of each kind whose reading calls libhdf5: a native `.h5`, a Keras `.h5`, a `.keras` archive.
    static let hdf5Backed = ["models/sgd_nesterov_tanh_sigmoid.h5", "keras-reader/plain.h5", "keras-reader/adam.keras"]

    private static let missingHelper = ReadIsolation.helper(ReaderCommand(executable: "/nonexistent/mlpconv-reader"))

    /// Every HDF5-backed kind goes through the helper (a helper that cannot be started is an error for each),
    /// and `.inProcess`, the opt-out for trusted files, reads them without one, to the same document.
    @Test(arguments: hdf5Backed)
    func theHelperReadsEveryHDF5BackedFileUnlessToldNotTo(name: String) throws {
        let path = fixtures.appendingPathComponent(name).path
        #expect {
            _ = try ModelFiles.load(path, options: LoadOptions(isolation: Self.missingHelper))
        } throws: { error in
            guard let error = error as? ModelFileError else { return false }
            return error.file == path && error.reason.hasPrefix("cannot start the isolated reader /nonexistent/mlpconv-reader: ")
        }
        let trusted = try ModelFiles.load(path, options: LoadOptions(isolation: .inProcess))
        #expect(try ModelFiles.load(path) == trusted)
    }

    /// Readers that are our own Swift code (here JSON) need no helper at all.
    @Test func aFileLibhdf5DoesNotReadNeedsNoHelper() throws {
        let path = fixtures.appendingPathComponent("json-writer/adagrad_unicode.base64.json").path
        let document = try ModelFiles.load(path, options: LoadOptions(isolation: Self.missingHelper))
        #expect(document == (try ModelFiles.load(path, options: LoadOptions(isolation: .inProcess))))
    }

    /// No helper where the default lookup looks: an error naming the file, what is missing and the ways out,
    /// never a silent read in process. (`MLPCONV_READER` naming nothing that runs stops the lookup; the order of
    /// the lookup itself is FileSupportTests' ReaderLookupTests.)
    @Test func aMissingHelperIsAClearError() {
        let path = fixtures.appendingPathComponent(Self.hdf5Backed[0]).path
        let expected = "\(path): reading this file calls libhdf5, which runs in a helper process, but "
            + "MLPCONV_READER=/nonexistent/reader is not an executable file; build the mlpconv-reader product, set "
            + "MLPCONV_READER to its path, or read only trusted files with ReadIsolation.inProcess"
        #expect {
            try ModelFiles.isolate(path, kind: .hdf5, limits: LoadLimits(), isolation: .helperProcess,
                                   environment: ["MLPCONV_READER": "/nonexistent/reader"])
        } throws: { error in
            (error as? ModelFileError)?.description == expected
        }
    }

    /// A program that exits 0 without answering as the reader does is not taken for a reader that read the file.
    @Test func aProgramThatIsNotTheReaderIsRefused() {
        let path = fixtures.appendingPathComponent(Self.hdf5Backed[0]).path
        #expect {
            _ = try ModelFiles.load(path, options: LoadOptions(isolation: .helper(ReaderCommand(executable: "/bin/true"))))
        } throws: { error in
            (error as? ModelFileError)?.reason == "the isolated reader /bin/true did not answer as mlpconv's reader does "
                + "(exit status 0: no message); build the mlpconv-reader product and set MLPCONV_READER to its path"
        }
    }

    /// The helper reads under the caller's limits: a file over them is refused by the helper, and the error is
    /// the in-process reader's own, with the object it names.
    @Test func theHelperAppliesTheCallersLimits() throws {
        let path = fixtures.appendingPathComponent(Self.hdf5Backed[0]).path
        let limits = LoadLimits(maxTensorBytes: 16)
        let inProcess = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(path, limits: limits, options: LoadOptions(isolation: .inProcess))
        }
        #expect(inProcess.object != nil)
        let isolated = try #require(throws: ModelFileError.self) { try ModelFiles.load(path, limits: limits) }
        #expect(isolated.description == inProcess.description)
    }
}
