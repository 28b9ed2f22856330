package import CHDF5
package import Foundation
package import Testing
package import ZIPFoundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh folder under the system temporary directory, removed when the value goes away.
package final class TemporaryFolder {
    package let url: URL

    package init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("mlpcodecs-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    package func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    package func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// Runs `body` with file descriptor 2 redirected to a file and returns what was written there.
///
/// Tests in other suites run concurrently and may write to stderr during the window, so callers look for
/// specific text (HDF5's "HDF5-DIAG" banner) rather than requiring the capture to be empty.
package func capturingStandardError<T>(_ body: () throws -> T) throws -> (result: T, stderr: String) {
    let folder = try TemporaryFolder()
    let capturePath = folder.path("stderr.txt")
    let captureFD = open(capturePath, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
    try #require(captureFD >= 0)
    let savedFD = dup(STDERR_FILENO)
    try #require(savedFD >= 0)
    fflush(nil)  // all C streams: whatever is buffered belongs to before/inside the window
    dup2(captureFD, STDERR_FILENO)
    close(captureFD)
    let result: Result<T, any Error> = Result { try body() }
    fflush(nil)
    dup2(savedFD, STDERR_FILENO)
    close(savedFD)
    // Plain read(2): Foundation's String(contentsOfFile:) leaks a buffer on empty files (seen under ASan).
    var bytes: [UInt8] = []
    let readFD = open(capturePath, O_RDONLY)
    if readFD >= 0 {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        close(readFD)
    }
    return (try result.get(), String(decoding: bytes, as: UTF8.self))
}

/// The full path of an executable on PATH (or in the usual places), if installed.
package func findTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let folders = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/bin"]
    return folders.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Runs a tool and returns its exit status and standard output.
package func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The numbers in an `h5dump -y -w 0` DATA block, as h5dump printed them.
package func h5dumpNumbers(_ dump: String) -> [String] {
    guard let start = dump.range(of: "DATA {") else { return [] }
    let rest = dump[start.upperBound...]
    let block = rest[..<(rest.range(of: "}")?.lowerBound ?? rest.endIndex)]
    return block.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
}

/// Catches the typed error a call throws (Swift Testing's `#expect(throws:)` wants `any Error` closures).
package func expectError<E: Error>(_ type: E.Type, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> Void) -> E? {
    do {
        try body()
        Issue.record("expected \(E.self), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as E {
        return error
    } catch {
        Issue.record("expected \(E.self), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// An IEEE half-precision HDF5 datatype (which the codecs refuse as a tensor dtype); the caller closes it.
/// Call inside `HDF5Library.withHDF5`.
package func float16Type() -> hid_t {
    let half = H5Tcopy(mlp_H5T_IEEE_F32LE())
    H5Tset_fields(half, 15, 10, 5, 0, 10)
    H5Tset_precision(half, 16)
    H5Tset_size(half, 2)
    H5Tset_ebias(half, 15)
    return half
}

/// A zip archive built in memory with ZIPFoundation (an independent writer, for archives mlpconv must read).
package func zipArchive(_ members: [(name: String, bytes: [UInt8])], compression: CompressionMethod = .deflate,
                symbolicLinks: Set<String> = []) throws -> [UInt8] {
    let archive = try Archive(accessMode: .create)
    for (name, bytes) in members {
        let data = Data(bytes)
        try archive.addEntry(with: name, type: symbolicLinks.contains(name) ? .symlink : .file,
                             uncompressedSize: Int64(data.count), compressionMethod: compression) { position, size in
            data.subdata(in: Int(position)..<Int(position) + size)
        }
    }
    return [UInt8](try #require(archive.data))
}

/// A zip archive's members in order, read with ZIPFoundation.
package func zipMembers(of path: String) throws -> [(name: String, bytes: [UInt8])] {
    let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
    return try archive.map { entry in
        var data = Data()
        _ = try archive.extract(entry) { data.append($0) }
        return (entry.path, [UInt8](data))
    }
}

/// SplitMix64: a seeded generator, so mutation tests make the same mutants on every run.
package struct SeededGenerator: RandomNumberGenerator {
    package var state: UInt64

    package init(state: UInt64) {
        self.state = state
    }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
