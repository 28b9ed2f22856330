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
        let bytes = FileStatus.size(of: file) ?? 0
        // Memory: the decoded model plus room for the library and the runtime; CPU: as long as the parent waits.
        let memory = rlim_t(2 * bytes + (2 << 30))
        var limit = rlimit(rlim_cur: memory, rlim_max: memory)
        setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        let seconds = rlim_t(IsolatedRead.timeLimit(forBytes: bytes))
        var cpu = rlimit(rlim_cur: seconds, rlim_max: seconds + 1)
        setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
        _ = try ModelFiles.load(file)
    }
}
