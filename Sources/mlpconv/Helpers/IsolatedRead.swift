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
/// child — this same executable, `mlpconv read-check` — reads it once under a memory limit and a time limit.
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
        let deadline = Date().addingTimeInterval(limit)
        while process.isRunning && Date() < deadline { usleep(2_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw CommandError("\(path): reading it did not finish within \(Int(limit)) s (the HDF5 library hangs on some corrupt metadata); the file is corrupt or hostile")
        }
        process.waitUntilExit()
        let message = collected.wait()
        switch (process.terminationReason, process.terminationStatus) {
        case (.exit, 0):
            return
        case (.uncaughtSignal, let signal):
            let name = signal == SIGKILL || signal == SIGXCPU ? "was stopped at its CPU or memory limit" : "crashed (signal \(signal))"
            throw CommandError("\(path): the HDF5 library \(name) while reading this file; its metadata is corrupt")
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
