import Foundation
import MLPDataFiles
import MLPModelFiles

// `mlpconv-reader`: the helper process the mlpconv libraries read HDF5-backed files in first (ReadIsolation), so
// that a file crafted to crash libhdf5 ends this process, not the program using the library. It reads what its
// arguments say, under the limits they carry, and answers the parent; it is not meant to be run by hand.

let arguments = Array(CommandLine.arguments.dropFirst())
if let status = ModelFiles.readCheck(arguments) ?? DataFiles.readCheck(arguments) {
    exit(status)
}
FileHandle.standardError.write(Data("mlpconv-reader: the helper that the mlpconv libraries read HDF5 files in; not for direct use\n".utf8))
exit(64)
