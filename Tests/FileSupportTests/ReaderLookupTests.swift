import Foundation
import Testing
@testable import FileSupport
import TestSupport

/// Where the libraries look for their reader helper (ReadIsolation.helperProcess): `$MLPCONV_READER`, then the
/// running program's folder, then `PATH`; nowhere is an error.
@Suite struct ReaderLookupTests {
    private func executable(_ folder: TemporaryFolder, _ subfolder: String) throws -> String {
        let directory = folder.path(subfolder)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/mlpconv-reader"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\n".utf8),
                                               attributes: [.posixPermissions: 0o755]))
        return path
    }

    @Test func theVariableThenTheProgramsFolderThenPath() throws {
        let folder = try TemporaryFolder()
        let named = try executable(folder, "named"), beside = try executable(folder, "program"),
            onPath = try executable(folder, "bin")
        let path = "/nonexistent:" + folder.path("bin")
        #expect(try ReaderProcess.locateHelper(environment: ["MLPCONV_READER": named, "PATH": path],
                                               programFolder: folder.path("program")) == named)
        #expect(try ReaderProcess.locateHelper(environment: ["PATH": path], programFolder: folder.path("program")) == beside)
        #expect(try ReaderProcess.locateHelper(environment: ["PATH": path], programFolder: folder.path("empty")) == onPath)
    }

    @Test func nowhereIsAnError() throws {
        let folder = try TemporaryFolder()
        let failure = try #require(throws: ReaderLookupFailure.self) {
            try ReaderProcess.locateHelper(environment: ["PATH": folder.path("bin")], programFolder: folder.url.path)
        }
        #expect(failure.reason == "no mlpconv-reader was found (MLPCONV_READER is not set, and there is none next to "
                + "this program or on PATH)")
    }

    /// A variable that names nothing runnable is an error, not a reason to try the other places.
    @Test func aVariableNamingNothingRunnableIsAnError() throws {
        let folder = try TemporaryFolder()
        _ = try executable(folder, "program")
        let failure = try #require(throws: ReaderLookupFailure.self) {
            try ReaderProcess.locateHelper(environment: ["MLPCONV_READER": folder.path("missing")],
                                           programFolder: folder.path("program"))
        }
        #expect(failure.reason == "MLPCONV_READER=\(folder.path("missing")) is not an executable file")
    }
}
