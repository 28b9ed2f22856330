import ArgumentParser
import MLPModelFiles
internal import FileSupport

#if canImport(Glibc)
import Glibc
#endif

/// `mlpconv read-check FILE`: the isolated reader's child. Not for direct use.
struct ReadCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-check", abstract: "Read a model file under resource limits (used internally).",
        shouldDisplay: false)

    @Argument var file: String

    func run() throws {
        // CPU time: as long as the parent waits. Memory is watched by the parent (IsolatedRead.memoryLimit): an
        // address-space limit here would turn a legitimate large allocation into an abort indistinguishable from a
        // crash of the library.
        let seconds = rlim_t(IsolatedRead.timeLimit(forBytes: FileStatus.size(of: file) ?? 0))
        var cpu = rlimit(rlim_cur: seconds, rlim_max: seconds + 1)
        setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
        _ = try ModelFiles.load(file)
    }
}
