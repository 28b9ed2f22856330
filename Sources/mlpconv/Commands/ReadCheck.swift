import ArgumentParser
import Foundation
import MLPDataFiles
import MLPModelFiles

/// `mlpconv read-check …`: the CLI as its own reader helper (`ReadIsolation.thisProgram`), doing what
/// `mlpconv-reader` does: the libraries pass what to read and the limits, and read in process only after this
/// process read it. Not for direct use.
struct ReadCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-check", abstract: "Read a model or data file in isolation (used internally).",
        shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        guard let status = ModelFiles.readCheck(arguments) ?? DataFiles.readCheck(arguments) else {
            throw ValidationError("read-check takes what the mlpconv libraries pass to their reader helper")
        }
        // Its answer is on stdout already, unbuffered; the status is the rest of it.
        Foundation.exit(status)
    }
}
