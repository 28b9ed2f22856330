import Foundation
internal import FileSupport

/// The model extensions every writing command accepts (`ModelFormat(pathExtension:)`), for help and errors.
let modelExtensions = ".json, .h5, .keras, .safetensors, .pt or .onnx"

/// A file a command will write, checked before any work starts: an existing file is replaced only with `--force`,
/// an input is never an output, and a folder that is missing or read-only is found before hours of training whose
/// result could not be saved. Paths are compared as files (device and inode, links followed), not as text.
struct PlannedOutput {
    /// The option that names it, for messages ("--plot").
    let option: String
    let path: String
    /// An input this output may replace: finetune's `--output FILE`, resuming in place.
    var mayReplace: String?

    /// Checks every output against the inputs (by role: "the model", "the training data"), against each other,
    /// and for existence and writability.
    static func check(_ outputs: [PlannedOutput], inputs: [(role: String, path: String)], force: ForceFlag) throws {
        for (index, output) in outputs.enumerated() {
            for input in inputs where FileIdentity.same(output.path, input.path) {
                if let allowed = output.mayReplace, FileIdentity.same(allowed, input.path) { continue }
                throw CommandError("\(output.path): \(output.option) is \(input.role) (\(input.path)); choose another file")
            }
            for earlier in outputs[..<index] where FileIdentity.same(output.path, earlier.path) {
                throw CommandError("\(output.path): \(output.option) is the same file as \(earlier.option); choose another file")
            }
            if output.mayReplace.map({ !FileIdentity.same($0, output.path) }) ?? true { try force.check(output.path) }
            do { try AtomicFile.checkWritable(output.path) } catch {
                throw CommandError("\(output.path): \(error.reason)")
            }
        }
    }
}
