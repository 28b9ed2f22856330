import Foundation
import Testing

/// A disk that fills up during an HDF5 write: one error line naming the file and the plain reason, exit status 2,
/// no temporary file left behind, the existing target untouched — and no crash. HDF5 1.10 frees a file whose close
/// failed but keeps its id, and its exit handler then crashes on that id (issue 15, item 2: rc 139).
///
/// The full disk is a file-size limit (`ulimit -f`, RLIMIT_FSIZE) in a shell that ignores SIGXFSZ, so `write`
/// fails with EFBIG ("File too large") the way it fails with ENOSPC on a full disk: no root, no small file system
/// needed. (The ENOSPC wording itself is tested in HDF5SupportTests against /dev/full.)
@Suite struct FullDiskTests {
    /// Runs mlpconv in bash with writes limited to `kilobytes` (bash's `ulimit -f` unit is 1024 bytes).
    func mlpconvLimited(_ arguments: [String], kilobytes: Int, in folder: String) throws -> CommandResult {
        let quoted = ([mlpconvPath] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try runProcess("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f \(kilobytes); exec " + quoted.joined(separator: " ")],
                              in: folder)
    }

    func runProcess(_ executable: String, _ arguments: [String], in folder: String) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        // A signal shows as 128 + its number, as a shell reports it.
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return CommandResult(status: status, stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A model of about 800 kB (200 × 1000 float32 kernel), larger than the 100 kB the writes are limited to.
    func bigModel(_ scratch: Scratch) throws -> String {
        let path = scratch.path("big.json")
        let made = try mlpconv(["init", path, "--inputs", "200", "--layer", "1000:relu", "--layer", "10:softmax"])
        #expect(made.status == 0, "\(made.stderr)")
        return path
    }

    /// `previous` is the target's content before the run, nil when it did not exist.
    func expectCleanFailure(_ result: CommandResult, target: String, previous: Data?, scratch: Scratch,
                            _ comment: Comment) throws {
        #expect(result.status == 2, "\(comment): rc \(result.status): \(result.stderr.prefix(400))")
        let errorLines = lines(result.stderr).filter { !$0.isEmpty }
        #expect(errorLines.count == 1, "\(comment): \(result.stderr.prefix(600))")
        let line = errorLines.first ?? ""
        #expect(line.contains((target as NSString).lastPathComponent), "\(comment): \(line)")
        #expect(line.hasSuffix(": File too large"), "\(comment): \(line)")
        // None of libhdf5's internals (buffer addresses, "bytes actually written = 18446744073709551615").
        #expect(!line.contains("errno") && !line.contains("bytes actually written"), "\(comment): \(line)")
        if let previous {
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == previous, "\(comment): the target changed")
        } else {
            #expect(!FileManager.default.fileExists(atPath: target), "\(comment): a target was created")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(comment): temporary files left: \(leftovers)")
    }

    @Test(arguments: [["--to", "h5"], ["--to", "h5", "--compress"], ["--to", "keras-h5"], ["--to", "keras"]])
    func convertOnAFullDiskFailsCleanly(_ format: [String]) throws {
        let scratch = try Scratch()
        let source = try bigModel(scratch)
        let target = scratch.path("out.bin")
        let previous = Data("the previous output\n".utf8)
        try previous.write(to: URL(fileURLWithPath: target))
        let result = try mlpconvLimited(["convert", source, target, "--force"] + format, kilobytes: 100,
                                        in: scratch.url.path)
        try expectCleanFailure(result, target: target, previous: previous, scratch: scratch,
                               "convert \(format.joined(separator: " "))")
    }

    @Test func finetuneOnAFullDiskFailsCleanly() throws {
        let scratch = try Scratch()
        let source = scratch.path("start.h5")
        let made = try mlpconv(["init", source, "--inputs", "4", "--layer", "20000:relu", "--layer", "3:softmax"])
        #expect(made.status == 0, "\(made.stderr)")
        let data = try sampleDataFile(scratch)
        let target = scratch.path("trained.h5")
        // Only writing is limited: the input (about 700 kB) is read whole.
        let result = try mlpconvLimited(["finetune", source, "--data", data, "--output", target,
                                         "--epochs", "1", "--quiet"], kilobytes: 300, in: scratch.url.path)
        try expectCleanFailure(result, target: target, previous: nil, scratch: scratch, "finetune --output")
    }
}
