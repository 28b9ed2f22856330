import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a file once in a helper process, so that a crash or hang of a C library on it (libhdf5 on corrupt
/// metadata: docs/robustness.md, "The isolated HDF5 read") ends the helper, not the program.
///
/// The parent runs the helper under a memory limit (its resident size, watched from here) and a time limit (CPU
/// time, set in the helper, and wall-clock time, watched from here). Reading is deterministic, so when the helper
/// finishes its read — successfully or with an ordinary error — the same read in the parent stops at the same
/// point; the parent then reads in process and gets the document, or the error with all its detail. A helper
/// that dies or is killed is reported here. Both sides live here so that they agree on the protocol: the helper
/// answers on stdout with one of two lines, so that a program that is not a reader (one that exits 0 without
/// reading anything) is never taken for one that read the file.
package enum ReaderProcess {
    /// The helper's executable name, looked for next to the running program and on `PATH`.
    package static let helperName = "mlpconv-reader"
    /// Names the helper's executable, before any other place is looked at.
    package static let helperVariable = "MLPCONV_READER"
    /// Test-only: the helper's memory limit in bytes, in place of `memoryLimit(fileBytes:decodedBytes:availableBytes:)`,
    /// so that a test can reach it with a small model.
    package static let memoryLimitVariable = "MLPCONV_READ_CHECK_MEMORY_BYTES"

    private static let readAnswer = "read-check: read"
    private static let refusedAnswer = "read-check: refused"

    // MARK: The parent

    /// Runs `executable arguments` (a helper reading a file of `fileBytes` bytes that may decode to
    /// `decodedBytes`) and returns nil when the helper answered — the caller now reads in process — or why not,
    /// as the reason of an error about the file.
    package static func check(executable: String, arguments: [String], fileBytes: Int, decodedBytes: Int) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            return "cannot start the isolated reader \(executable): \(error.localizedDescription)"
        }
        // Read both pipes on other threads so a chatty helper can never block on a full pipe.
        let answer = PipeText(output), message = PipeText(errors)
        let limit = timeLimit(forBytes: fileBytes)
        let memory = ProcessInfo.processInfo.environment[memoryLimitVariable].flatMap { Int($0) }
            ?? memoryLimit(fileBytes: fileBytes, decodedBytes: decodedBytes, availableBytes: availableMemory())
        let deadline = Date().addingTimeInterval(limit)
        var overMemory = false
        while process.isRunning && Date() < deadline {
            if let resident = residentBytes(of: process.processIdentifier), resident > memory {
                overMemory = true
                break
            }
            usleep(2_000)
        }
        if overMemory || process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if overMemory {
                return "reading it ran out of memory (limit \(formatBytes(memory)) for the isolated reader); "
                    + "the file declares more data than this machine can hold, or its metadata is hostile"
            }
            return "reading it did not finish within \(Int(limit)) s (the HDF5 library hangs on some corrupt metadata); "
                + "the file is corrupt or hostile"
        }
        process.waitUntilExit()
        let status = process.terminationStatus
        switch (process.terminationReason, status) {
        case (.uncaughtSignal, SIGXCPU), (.uncaughtSignal, SIGKILL):
            // SIGXCPU: the helper's CPU limit; SIGKILL from elsewhere: most likely the kernel's out-of-memory killer.
            let reason = status == SIGXCPU
                ? "ran out of time (CPU limit \(Int(limit)) s)" : "was killed (SIGKILL; the system may have run out of memory)"
            return "reading it \(reason); the file declares more work than allowed, or its metadata is hostile"
        case (.uncaughtSignal, _):
            return "the HDF5 library crashed (signal \(status)) while reading this file; its metadata is corrupt"
        case (.exit, 0) where answer.text() == readAnswer + "\n", (.exit, 1) where answer.text() == refusedAnswer + "\n":
            return nil
        default:
            let line = message.text().split(separator: "\n").first.map(String.init) ?? "no message"
            return "the isolated reader \(executable) did not answer as mlpconv's reader does (exit status \(status): "
                + "\(line.prefix(200))); build the \(helperName) product and set \(helperVariable) to its path"
        }
    }

    /// Wall-clock allowance for the helper: generous for the disk, far below "forever".
    package static func timeLimit(forBytes bytes: Int) -> Double { 30 + Double(bytes) / 50e6 }

    /// The most memory (resident bytes) the helper may use: what the readers' checks let a file decode to
    /// (`decodedBytes`), plus the file (compressed chunks, the zip of a `.keras`) and 2 GiB for the runtime and the
    /// library, but no more than the machine has available — never less than twice the file plus 2 GiB, though. A
    /// compressed file decodes to far more than its size, so its size alone cannot bound what a legitimate read
    /// needs; beyond the available memory the read could not succeed in the parent either.
    package static func memoryLimit(fileBytes: Int, decodedBytes: Int, availableBytes: Int?) -> Int {
        let runtime = 2 << 30
        let floor = fileBytes.multipliedReportingOverflow(by: 2).partialValue.addingReportingOverflow(runtime)
        let floorBytes = floor.overflow || fileBytes < 0 ? Int.max : floor.partialValue
        let checked = decodedBytes.addingReportingOverflow(floorBytes)
        let ceiling = checked.overflow ? Int.max : checked.partialValue
        return max(floorBytes, min(ceiling, availableBytes ?? ceiling))
    }

    /// MemAvailable from /proc/meminfo (nil where there is none).
    private static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        let bytes = kilobytes.multipliedReportingOverflow(by: 1024)
        return bytes.overflow ? nil : bytes.partialValue
    }

    /// The resident size of process `pid` (/proc/PID/statm's second field, in pages), nil once it is gone.
    private static func residentBytes(of pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        let bytes = pages.multipliedReportingOverflow(by: Int(sysconf(Int32(_SC_PAGESIZE))))
        return bytes.overflow ? Int.max : bytes.partialValue
    }

    // MARK: Finding the helper

    /// The helper's executable: `$MLPCONV_READER`; else `mlpconv-reader` in `programFolder` (the running
    /// program's, where SwiftPM builds it next to the package's programs and test runners); else on `PATH`. Throws
    /// the reason when there is none, or when `$MLPCONV_READER` names something that cannot be run (a mistyped
    /// path must not fall back to another helper silently).
    package static func locateHelper(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        programFolder: String? = runningExecutable().map { ($0 as NSString).deletingLastPathComponent }
    ) throws(ReaderLookupFailure) -> String {
        if let named = environment[helperVariable], !named.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: named) else {
                throw ReaderLookupFailure(reason: "\(helperVariable)=\(named) is not an executable file")
            }
            return named
        }
        let folders = [programFolder].compactMap { $0 } + (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for folder in folders where !folder.isEmpty {
            let candidate = folder + "/" + helperName
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ReaderLookupFailure(reason: "no \(helperName) was found (\(helperVariable) is not set, and there is "
                                  + "none next to this program or on PATH)")
    }

    /// The running program's file: /proc/self/exe is the binary itself even when it was started through a
    /// relative path or a symlink.
    package static func runningExecutable() -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? Bundle.main.executablePath
    }

    // MARK: The helper

    /// Sets the helper's CPU-time limit: as long as the parent waits. Memory is watched by the parent: an
    /// address-space limit here would turn a legitimate large allocation into an abort indistinguishable from a
    /// crash of the library.
    package static func limitCPUTime(forBytes bytes: Int) {
        let seconds = rlim_t(timeLimit(forBytes: bytes))
        var cpu = rlimit(rlim_cur: seconds, rlim_max: seconds + 1)
        setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
    }

    /// The helper's answer once its read is over: `error` nil when it read the file, else its one-line message
    /// (for whoever runs the helper by hand; the parent repeats the read to get the error itself). Returns the
    /// helper's exit status.
    package static func answer(error: String?) -> Int32 {
        FileHandle.standardOutput.write(Data(((error == nil ? readAnswer : refusedAnswer) + "\n").utf8))
        guard let error else { return 0 }
        FileHandle.standardError.write(Data((error + "\n").utf8))
        return 1
    }
}

/// Why no reader helper could be found.
package struct ReaderLookupFailure: Error {
    package var reason: String

    /// The reason of an error about a file that needed the helper: what is missing, and the three ways out.
    package var message: String {
        "reading this file calls libhdf5, which runs in a helper process, but \(reason); build the "
            + "\(ReaderProcess.helperName) product, set \(ReaderProcess.helperVariable) to its path, or read only "
            + "trusted files with ReadIsolation.inProcess"
    }
}

/// Everything a pipe delivers until it is closed, collected on a thread of its own.
private final class PipeText: @unchecked Sendable {
    private let lock = NSCondition()
    private var data: Data?

    init(_ pipe: Pipe) {
        Thread { [self] in
            let read = pipe.fileHandleForReading.readDataToEndOfFile()
            lock.lock()
            data = read
            lock.signal()
            lock.unlock()
        }.start()
    }

    func text() -> String {
        lock.lock()
        while data == nil { lock.wait() }
        let text = String(decoding: data ?? Data(), as: UTF8.self)
        lock.unlock()
        return text
    }
}
