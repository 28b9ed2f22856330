import Foundation
import MLPDocument
internal import FileSupport

// The isolated read of model files whose reading calls libhdf5: the parent side (`isolate`, called by `load`) and
// the helper's side (`readCheck`, called by `mlpconv-reader` and `mlpconv read-check`). ReaderProcess runs the helper.

extension ModelFiles {
    /// Reads `path` once in a helper process first when `isolation` asks for it and a file of `kind` is read by
    /// libhdf5 (an HDF5 model; a `.keras` zip, whose `model.weights.h5` it reads from memory). Throws the helper's
    /// failure (crash, hang, resource limit) as the file's error; returns when `load` may read in process.
    static func isolate(_ path: String, kind: ModelFileKind, limits: LoadLimits,
                        isolation: ReadIsolation,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws(ModelFileError) {
        guard kind == .hdf5 || kind == .zip else { return }
        let command: ReaderCommand
        switch isolation {
        case .inProcess:
            return
        case .helper(let given):
            command = given
        case .helperProcess:
            do { command = ReaderCommand(executable: try ReaderProcess.locateHelper(environment: environment)) } catch {
                throw ModelFileError(file: path, reason: error.message)
            }
        }
        let arguments = command.arguments + [modelCheckArgument, path, String(limits.maxFileBytes),
                                             String(limits.maxTensorBytes), String(limits.maxTotalBytes)]
        if let failure = ReaderProcess.check(executable: command.executable, arguments: arguments,
                                             fileBytes: FileStatus.size(of: path) ?? 0,
                                             decodedBytes: limits.maxTotalBytes) {
            throw ModelFileError(file: path, reason: failure)
        }
    }

    private static let modelCheckArgument = "model"

    /// The reader helper's work for a model file: `arguments` are what `load` passed after the helper command's
    /// own (`model FILE MAX_FILE_BYTES MAX_TENSOR_BYTES MAX_TOTAL_BYTES`). Reads the file in this process under a
    /// CPU-time limit and answers the parent; returns the exit status, or nil when `arguments` are not a model's
    /// (a helper then tries `DataFiles.readCheck`).
    public static func readCheck(_ arguments: [String]) -> Int32? {
        guard arguments.count == 5, arguments[0] == modelCheckArgument,
              let maxFile = Int(arguments[2]), let maxTensor = Int(arguments[3]), let maxTotal = Int(arguments[4])
        else { return nil }
        let path = arguments[1]
        ReaderProcess.limitCPUTime(forBytes: FileStatus.size(of: path) ?? 0)
        let limits = LoadLimits(maxFileBytes: maxFile, maxTensorBytes: maxTensor, maxTotalBytes: maxTotal)
        do {
            _ = try load(path, limits: limits, options: LoadOptions(isolation: .inProcess))
            return ReaderProcess.answer(error: nil)
        } catch {
            return ReaderProcess.answer(error: error.description)
        }
    }
}
