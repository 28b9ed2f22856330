import Foundation
import Glibc

// libFuzzer targets for the pure-Swift readers (docs/robustness.md, "Fuzzing"). One binary holds every target and
// `MLPFUZZ_TARGET` picks one, so the instrumented package is compiled and linked once rather than once per reader.
// Each target checks the reader's contract, not only that it returns: a refusal is the reader's own error type
// naming the file with a reason, an acceptance passes the document's own validation, and where the format has a
// writer, what was read survives writing and reading again unchanged. A broken contract aborts with a message, which
// libFuzzer records as a finding together with the input.

/// A fuzz target: the bytes of one input, checked against one reader's contract.
struct FuzzTarget: Sendable {
    var name: String
    var summary: String
    var run: @Sendable (UnsafeRawBufferPointer) -> Void
}

let allTargets: [FuzzTarget] = jsonTargets + containerTargets + dataTargets

/// The target `MLPFUZZ_TARGET` names, chosen once before the first input.
nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["MLPFUZZ_TARGET"] ?? ""
    guard let target = allTargets.first(where: { $0.name == name }) else {
        var text = name.isEmpty ? "MLPFUZZ_TARGET is not set" : "unknown MLPFUZZ_TARGET \"\(name)\""
        text += "; the targets are:\n" + allTargets.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n") + "\n"
        FileHandle.standardError.write(Data(text.utf8))
        exit(1)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = selected else { return 0 }
    target.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// A broken contract: the message and an abort, which libFuzzer reports as a crash and saves the input of.
func violated(_ target: String, _ message: String) -> Never {
    FileHandle.standardError.write(Data("mlpfuzz \(target): contract broken: \(message)\n".utf8))
    abort()
}

/// The name inputs are given in readers' messages, which every error must repeat.
let fuzzFileName = "fuzz-input"

/// A scratch file for readers that only take a path: one per process, rewritten for every input.
final class ScratchFile: @unchecked Sendable {
    static let shared = ScratchFile()

    let path: String

    private init() {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        path = (folder as NSString).appendingPathComponent("mlpfuzz-\(getpid())-input")
        // libFuzzer ends a run with exit(), which runs this; after a finding the process aborts and the file
        // (at most one input's bytes) stays for reproducing it.
        atexit { unlink(ScratchFile.shared.path) }
    }

    /// Writes `bytes` as the whole file; a failure to write is the machine's, not the reader's, so it stops the run.
    func write(_ bytes: UnsafeRawBufferPointer) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { violated("scratch", "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard let base = bytes.baseAddress else { return }
        var written = 0
        while written < bytes.count {
            let count = Glibc.write(descriptor, base + written, bytes.count - written)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { violated("scratch", "cannot write \(path): \(String(cString: strerror(errno)))") }
            written += count
        }
    }
}
