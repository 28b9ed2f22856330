import Foundation
import MLPCore
import MLPDocument
import Testing
@testable import MLPDataFiles

// HDF5 data files are read by libhdf5 too: `DataFiles.load` reads them in a helper process first (issue 15,
// item 6), as `ModelFiles.load` does for HDF5 models.

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures")

@Suite struct DataReadIsolationTests {
    /// A data file (`x` [6, 4], `y` labels) with one bit flipped that makes HDF5 1.10.8 segfault while reading
    /// `x`: an error naming the file, for training and for prediction. Before, the test process died of SIGSEGV.
    @Test func aDataFileThatCrashesTheHDF5LibraryIsAnError() {
        let path = fixtures.appendingPathComponent("bad/hdf5-data-flipped-metadata-segfault.h5").path
        let expected = DataFileError(
            file: path, reason: "the HDF5 library crashed (signal 11) while reading this file; its metadata is corrupt")
        #expect(throws: expected) {
            _ = try DataFiles.load(path, inputWidth: 4, outputWidth: 3, loss: Loss(.sparseCategoricalCrossentropy),
                                   requireTargets: true)
        }
        #expect(throws: expected) { _ = try DataFiles.loadFeatures(path, inputWidth: 4, outputWidth: 3) }
    }

    /// A good HDF5 data file goes through the helper too (one that cannot be started is an error), and
    /// `.inProcess` reads it without one, to the same dataset.
    @Test func theHelperReadsHDF5DataUnlessToldNotTo() throws {
        let path = fixtures.appendingPathComponent("data/iris-like.h5").path
        let missing = ReadIsolation.helper(ReaderCommand(executable: "/nonexistent/mlpconv-reader"))
        #expect {
            _ = try DataFiles.loadFeatures(path, inputWidth: 4, outputWidth: 3, isolation: missing)
        } throws: { error in
            (error as? DataFileError)?.reason.hasPrefix("cannot start the isolated reader /nonexistent/mlpconv-reader: ") == true
        }
        let loss = Loss(.categoricalCrossentropy)
        let trusted = try DataFiles.load(path, inputWidth: 4, outputWidth: 3, loss: loss, requireTargets: true,
                                         isolation: .inProcess)
        let isolated = try DataFiles.load(path, inputWidth: 4, outputWidth: 3, loss: loss, requireTargets: true)
        #expect(isolated.features == trusted.features && isolated.targets == trusted.targets)
        #expect(isolated.count == 30)
    }

    /// Without a helper where the lookup looks, an HDF5 data file is an error naming it, not a read in process.
    @Test func aMissingHelperIsAClearError() {
        let path = fixtures.appendingPathComponent("data/iris-like.h5").path
        let shape = ModelShape(inputs: 4, outputs: 3, loss: nil, requireTargets: false)
        #expect {
            try DataFiles.isolate(path, shape: shape, limits: .standard, isolation: .helperProcess,
                                  environment: ["MLPCONV_READER": "/nonexistent/reader"])
        } throws: { error in
            (error as? DataFileError)?.reason.hasSuffix("but MLPCONV_READER=/nonexistent/reader is not an executable file; "
                + "build the mlpconv-reader product, set MLPCONV_READER to its path, or read only trusted files with "
                + "ReadIsolation.inProcess") == true
        }
    }
}
