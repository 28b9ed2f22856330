import ArgumentParser
import Foundation
import MLPCore
import MLPDocument
internal import TextSupport

/// `mlpconv`: inspect, convert, verify gradients of, and fine-tune MLP model files.
///
/// Exit codes: 0 success; 1 a check that ran and failed; 2 bad input or usage, with one line on stderr that names
/// the file, the object inside it and the reason.
@main
struct MLPConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlpconv",
        abstract: "Inspect and convert multilayer-perceptron model files (mlpconv JSON and HDF5).",
        version: MLPConvVersion.string,
        subcommands: [Inspect.self, Convert.self, Gradcheck.self, Finetune.self, Init.self, Predict.self, Evaluate.self, Diff.self, ReadCheck.self])

    static func main() {
        BLASKernelChoice.ensure()
        do {
            var command = try parseAsRoot(nil)
            try command.run()
            finishOutput()
        } catch let failure as CheckFailed {
            // The check ran and its report is printed; only the status says it failed.
            _ = failure
            finishOutput()
            Foundation.exit(1)
        } catch let error as ModelFileError {
            fail(error.description)
        } catch let error as CommandError {
            fail(error.description)
        } catch {
            // Help, version and completion requests exit cleanly; usage errors are code 2.
            if exitCode(for: error) == .success {
                let text = fullMessage(for: error)
                if !text.isEmpty { emit(text) }
                finishOutput()
                Foundation.exit(0)
            }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            fail(message.hasPrefix("Error: ") ? String(message.dropFirst("Error: ".count)) : message)
        }
    }

    /// Writes out stdout; a write that failed (a full disk, a closed pipe) is an error like any other.
    static func finishOutput() {
        if let failure = StandardOutput.finish() { fail("stdout: \(failure)") }
    }

    /// One line on stderr, exit status 2.
    static func fail(_ message: String) -> Never {
        // What was printed before the error still goes out (its own write failure is secondary to this error).
        _ = StandardOutput.finish()
        // Messages quote file content (a CSV cell, a name from a model file): never raw control bytes on a terminal.
        FileHandle.standardError.write(Data("mlpconv: \(escapedForMessage(message))\n".utf8))
        Foundation.exit(2)
    }
}

/// Bad input or usage found by a command (exit status 2).
struct CommandError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A check that ran and failed (exit status 1): its report has already been printed.
struct CheckFailed: Error {}
