import Foundation
import MLPCore
import MLPDocument
internal import FileSupport

// The isolated read of HDF5 data files, as for HDF5 models (ModelFiles+Isolation.swift): the parent side
// (`isolate`, called before an HDF5 file is read) and the helper's side (`readCheck`).

extension DataFiles {
    /// Reads the HDF5 data file `path` once in a helper process first, shaped exactly as the read in process will
    /// be, unless `isolation` is `.inProcess`. Throws the helper's failure (crash, hang, resource limit) as the
    /// file's error; returns when the file may be read in process.
    static func isolate(_ path: String, shape: ModelShape, limits: DataLimits,
                        isolation: ReadIsolation,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws(DataFileError) {
        let command: ReaderCommand
        switch isolation {
        case .inProcess:
            return
        case .helper(let given):
            command = given
        case .helperProcess:
            do { command = ReaderCommand(executable: try ReaderProcess.locateHelper(environment: environment)) } catch {
                throw DataFileError(file: path, reason: error.message)
            }
        }
        let targets = shape.ignoresTargets ? ignoredTargets : shape.requireTargets ? requiredTargets : optionalTargets
        let arguments = command.arguments + [
            dataCheckArgument, path, String(shape.inputs), String(shape.outputs), shape.loss?.kind.rawValue ?? noLoss,
            targets, String(limits.maxBytes), String(limits.maxValues), String(limits.maxArchiveEntries),
        ]
        // What the reader may hold: the values as read (8 bytes each at most) and as converted (4 or 8 more).
        let decoded = limits.maxValues.multipliedReportingOverflow(by: 16)
        if let failure = ReaderProcess.check(executable: command.executable, arguments: arguments,
                                             fileBytes: FileStatus.size(of: path) ?? 0,
                                             decodedBytes: decoded.overflow ? Int.max : decoded.partialValue) {
            throw DataFileError(file: path, reason: failure)
        }
    }

    private static let dataCheckArgument = "data"
    private static let noLoss = "-"
    private static let requiredTargets = "targets-required", optionalTargets = "targets-optional",
                       ignoredTargets = "targets-ignored"

    /// The reader helper's work for an HDF5 data file: `arguments` are what the data readers passed after the
    /// helper command's own (`data FILE INPUTS OUTPUTS LOSS TARGETS MAX_BYTES MAX_VALUES MAX_ENTRIES`). Reads the
    /// file in this process under a CPU-time limit and answers the parent; returns the exit status, or nil when
    /// `arguments` are not a data file's (a helper then tries `ModelFiles.readCheck`).
    public static func readCheck(_ arguments: [String]) -> Int32? {
        guard arguments.count == 9, arguments[0] == dataCheckArgument,
              let inputs = Int(arguments[2]), let outputs = Int(arguments[3]),
              [requiredTargets, optionalTargets, ignoredTargets].contains(arguments[5]),
              let maxBytes = Int(arguments[6]), let maxValues = Int(arguments[7]), let maxEntries = Int(arguments[8])
        else { return nil }
        let loss: Loss?
        if arguments[4] == noLoss {
            loss = nil
        } else {
            guard let kind = LossKind(rawValue: arguments[4]) else { return nil }
            loss = Loss(kind)
        }
        let path = arguments[1]
        var shape = ModelShape(inputs: inputs, outputs: outputs, loss: loss,
                               requireTargets: arguments[5] == requiredTargets)
        shape.ignoresTargets = arguments[5] == ignoredTargets
        ReaderProcess.limitCPUTime(forBytes: FileStatus.size(of: path) ?? 0)
        do {
            _ = try loadHDF5(path, shape: shape,
                             limits: DataLimits(maxBytes: maxBytes, maxValues: maxValues, maxArchiveEntries: maxEntries))
            return ReaderProcess.answer(error: nil)
        } catch {
            return ReaderProcess.answer(error: error.description)
        }
    }
}
