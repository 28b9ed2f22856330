import Foundation
import Testing

/// HDF5 `--data` files are read by libhdf5 too, so the CLI reads them in its helper first, as it does models
/// (issue 15, item 6). Before, these commands died of SIGSEGV (rc 139) on this file.
@Suite struct IsolatedDataReadTests {
    @Test func aDataFileThatCrashesTheHDF5LibraryIsAnErrorForEveryCommand() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.json")
        let made = try mlpconv(["init", model, "--inputs", "4", "--layer", "8:relu", "--layer", "3:softmax"])
        #expect(made.status == 0, "\(made.stderr)")
        let data = badFixtures.appendingPathComponent("hdf5-data-flipped-metadata-segfault.h5").path
        for command in [["predict", model, "--data", data], ["evaluate", model, "--data", data],
                        ["finetune", model, "--data", data, "--output", scratch.path("o.json")]] {
            let result = try mlpconv(command)
            #expect(result.status == 2, "\(command[0]): \(result.stderr)")
            #expect(result.stderr == "mlpconv: \(data): the HDF5 library crashed (signal 11) while reading this file; "
                    + "its metadata is corrupt\n", "\(command[0])")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("o.json")))
    }
}
