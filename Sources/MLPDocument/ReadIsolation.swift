/// How a reader that calls libhdf5 is kept from taking the program down with it.
///
/// libhdf5 crashes or loops forever on some corrupt metadata, before any check of ours sees the file
/// (docs/robustness.md, "The isolated HDF5 read"). So by default every file whose reading calls it — an HDF5 model,
/// the `model.weights.h5` inside a `.keras` archive, an HDF5 data file — is first read once by a helper process under
/// time and memory limits; a crash or hang there becomes an error naming the file, and only a file the helper read
/// to the end (or refused with an ordinary error) is read in this process. Files that never reach libhdf5 (JSON,
/// safetensors, torch, ONNX, NumPy, CSV) are read by our own Swift code and need no helper.
public enum ReadIsolation: Sendable, Equatable {
    /// A helper process, found as `$MLPCONV_READER`, else `mlpconv-reader` in the running executable's folder,
    /// else `mlpconv-reader` on `PATH`. If none is found, loading such a file is an error that says so: the
    /// protection is never dropped silently.
    case helperProcess
    /// This helper command: its executable and the arguments that come before the file's (the mlpconv CLI names
    /// itself with `read-check`).
    case helper(ReaderCommand)
    /// No helper: libhdf5 reads the file in this process. Only for trusted files — a crafted one can crash the
    /// program.
    case inProcess
}

/// A reader helper to run: `executable`, then `arguments`, then what the library appends (what to read, and
/// the limits to read it under). Any program whose `main` calls `ModelFiles.readCheck` and
/// `DataFiles.readCheck` as `mlpconv-reader` does will serve.
public struct ReaderCommand: Sendable, Equatable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String] = []) {
        self.executable = executable
        self.arguments = arguments
    }
}
