import Foundation
import MLPCore
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
}
