import Foundation
import Testing

/// The binary these tests run: the one built next to them, or `MLPCONV_UNDER_TEST` (an older build, to see the
/// tests fail before a fix).
let binaryUnderTest = ProcessInfo.processInfo.environment["MLPCONV_UNDER_TEST"] ?? mlpconvPath

/// Runs the binary under test with stdout going to `stdoutPath` (a file or a device such as /dev/full), stderr captured.
func runUnderTest(_ arguments: [String], stdoutTo stdoutPath: String? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binaryUnderTest)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    let sink = try stdoutPath.map { path in try #require(FileHandle(forWritingAtPath: path)) }
    process.standardOutput = sink ?? out
    process.standardError = err
    try process.run()
    let stdout = sink == nil ? out.fileHandleForReading.readDataToEndOfFile() : Data()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try sink?.close()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

func fileBytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
