import MLPDocument
import MLPModelFiles
internal import FileSupport

/// The CLI reads HDF5-backed files as every user of the libraries does by default, in a helper process first
/// (`ReadIsolation`; docs/robustness.md, "The isolated HDF5 read"), with itself as the helper: the hidden
/// subcommand `mlpconv read-check` does what `mlpconv-reader` does, so the CLI needs no second executable.
enum IsolatedRead {
    static func load(_ path: String, options: LoadOptions = LoadOptions()) throws -> ModelDocument {
        var options = options
        options.isolation = .thisProgram
        return try ModelFiles.load(path, options: options)
    }
}

extension ReadIsolation {
    /// This executable, as `mlpconv read-check …`.
    static var thisProgram: ReadIsolation {
        .helper(ReaderCommand(executable: ReaderProcess.runningExecutable() ?? CommandLine.arguments[0],
                              arguments: ["read-check"]))
    }
}
