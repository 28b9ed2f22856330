import Foundation
import MLPDocument
import MLPModelFiles
internal import FileSupport

#if canImport(Glibc)
import Glibc
#endif

/// Reads model files so that a crash or hang inside the HDF5 library becomes an error message.
///
/// HDF5 1.10 crashes or loops forever on some corrupted metadata (15 segfaults and 11 hangs in 1,500 byte-flip
/// mutants of small model files; its checks cannot be relied on for hostile input: docs/robustness.md, "What the
/// libraries underneath do" and "The isolated HDF5 read"). So before an HDF5 file is read in this process, a
/// child — this same executable, `mlpconv read-check` — reads it once under a memory limit (its resident size,
/// watched from here) and a time limit (CPU time, set in the child, and wall-clock time, watched from here).
/// Reading is deterministic, so if the child finishes cleanly, reading here will too; if it dies or is killed, the
/// file is reported as corrupt. JSON input needs no child: its reader is our own code. A zip (`.keras`) does: its
/// `model.weights.h5` is read by the HDF5 library (from memory).
enum IsolatedRead {
    static func load(_ path: String, options: LoadOptions = LoadOptions()) throws -> ModelDocument {
        let kind = try ModelFiles.detectKind(at: path)
        if kind == .hdf5 || kind == .zip { try check(path) }
        return try ModelFiles.load(path, options: options)
    }

    /// Wall-clock allowance for the child: generous for the disk, far below "forever".
    static func timeLimit(forBytes bytes: Int) -> Double { 30 + Double(bytes) / 50e6 }

    /// Test-only: the child's memory limit in bytes, in place of `memoryLimit(fileBytes:availableBytes:)`, so that a
    /// test can reach it with a small model.
    static let memoryLimitVariable = "MLPCONV_READ_CHECK_MEMORY_BYTES"

    /// The most memory (resident bytes) the child may use: what the readers' checks let a file decode to
    /// (`LoadLimits.maxTotalBytes`), plus the file (compressed chunks, the zip of a `.keras`) and 2 GiB for the
    /// runtime and the library, but no more than the machine has available — never less than twice the file plus
    /// 2 GiB, though. A compressed file decodes to far more than its size, so its size alone cannot bound what a
    /// legitimate read needs; beyond the available memory the read could not succeed in this process either.
    static func memoryLimit(fileBytes: Int, availableBytes: Int?) -> Int {
        let runtime = 2 << 30
        let floor = fileBytes.multipliedReportingOverflow(by: 2).partialValue.addingReportingOverflow(runtime)
        let floorBytes = floor.overflow ? Int.max : floor.partialValue
        let checked = LoadLimits().maxTotalBytes.addingReportingOverflow(floorBytes)
        let ceiling = checked.overflow ? Int.max : checked.partialValue
        return max(floorBytes, min(ceiling, availableBytes ?? ceiling))
    }

    /// MemAvailable from /proc/meminfo (nil where there is none).
    static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kilobytes.multipliedReportingOverflow(by: 1024).overflow ? nil : kilobytes * 1024
    }

    /// The resident size of process `pid` (/proc/PID/statm's second field, in pages), nil once it is gone.
    private static func residentBytes(of pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func check(_ path: String) throws {
        let bytes = FileStatus.size(of: path) ?? 0
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executablePath())
        process.arguments = ["read-check", path]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw CommandError("\(path): cannot start the isolated reader: \(error.localizedDescription)")
        }
        // Read stderr on another thread so a chatty child can never block on a full pipe.
        let collected = ErrorText()
        let reader = Thread { collected.set(errors.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let limit = timeLimit(forBytes: bytes)
        let memory = ProcessInfo.processInfo.environment[memoryLimitVariable].flatMap { Int($0) }
            ?? memoryLimit(fileBytes: bytes, availableBytes: availableMemory())
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
                throw CommandError("\(path): reading it ran out of memory (limit \(formatBytes(memory)) for the isolated reader); "
                                   + "the file declares more data than this machine can hold, or its metadata is hostile")
            }
            throw CommandError("\(path): reading it did not finish within \(Int(limit)) s (the HDF5 library hangs on some corrupt metadata); the file is corrupt or hostile")
        }
        process.waitUntilExit()
        let message = collected.wait()
        switch (process.terminationReason, process.terminationStatus) {
        case (.exit, 0):
            return
        case (.uncaughtSignal, SIGXCPU), (.uncaughtSignal, SIGKILL):
            // SIGXCPU: the child's CPU limit; SIGKILL from elsewhere: most likely the kernel's out-of-memory killer.
            let reason = process.terminationStatus == SIGXCPU
                ? "ran out of time (CPU limit \(Int(limit)) s)" : "was killed (SIGKILL; the system may have run out of memory)"
            throw CommandError("\(path): reading it \(reason); the file declares more work than allowed, or its metadata is hostile")
        case (.uncaughtSignal, let signal):
            throw CommandError("\(path): the HDF5 library crashed (signal \(signal)) while reading this file; its metadata is corrupt")
        default:
            // The child's own one-line error, without its program-name prefix.
            let line = message.split(separator: "\n").first.map(String.init) ?? "cannot be read"
            throw CommandError(line.hasPrefix("mlpconv: ") ? String(line.dropFirst("mlpconv: ".count)) : line)
        }
    }

    private static func executablePath() -> String {
        // /proc/self/exe is this binary even when started through a relative path or a symlink.
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Collects a child's stderr from a reader thread.
private final class ErrorText: @unchecked Sendable {
    private let lock = NSCondition()
    private var data: Data?

    func set(_ value: Data) {
        lock.lock()
        data = value
        lock.signal()
        lock.unlock()
    }

    func wait() -> String {
        lock.lock()
        while data == nil { lock.wait() }
        let text = String(decoding: data ?? Data(), as: UTF8.self)
        lock.unlock()
        return text
    }
}
