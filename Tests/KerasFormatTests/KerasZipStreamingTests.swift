import Foundation
import MLPDocument
import Testing
import TestSupport
import ZipSupport
import ZIPFoundation
@testable import KerasFormat
@testable import MLPModelFiles

/// The `.keras` writer builds model.weights.h5 in a file beside the output and streams it into the archive; the
/// reader copies the weights member out to a scratch file for HDF5. Neither may change a byte or leave a file.
@Suite(".keras archives streamed through files")
struct KerasZipStreamingTests {
    private let adam = kerasFixtureFolder("keras-reader").appendingPathComponent("adam.keras").path

    private func names(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    /// The members after metadata.json (whose date changes) are exactly what the in-memory writer before streaming
    /// (commit 2d807f6) wrote for this model: sizes and CRC-32s recorded from that build's `mlpconv convert
    /// fixtures/keras-reader/adam.keras adam.keras`.
    @Test func theMembersAreThoseThePreviousWriterWrote() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("adam.keras")
        try ModelFiles.save(try ModelFiles.load(adam), to: path, format: .keras)
        #expect(try names(in: folder.url.path) == ["adam.keras"])
        let reader = try ZipReader(Data(contentsOf: URL(fileURLWithPath: path)), maxEntries: 10)
        #expect(reader.entries.map(\.name) == ["metadata.json", "config.json", "model.weights.h5"])
        let pinned = reader.entries.dropFirst().map { "\($0.name) \($0.uncompressedSize) \(String($0.crc, radix: 16))" }
        #expect(pinned == ["config.json 2408 a57f0a4d", "model.weights.h5 19872 9547aa4b"])
    }

    /// A failure after model.weights.h5 was written (here: the output cannot be opened) leaves nothing beside it.
    @Test func aFailedWriteLeavesNoWeightsFile() throws {
        let folder = try TemporaryFolder()
        let document = try ModelFiles.load(adam)
        // The writer opens an existing output (AtomicFile's temporary file); a missing one fails after the weights.
        let error = expectError(ModelFileError.self) {
            try KerasZipWriter.write(document, toPath: folder.path("absent.keras"), file: "m.keras")
        }
        #expect(error?.description == "m.keras: cannot write: No such file or directory")
        #expect(try names(in: folder.url.path).isEmpty)
    }

    /// Loads `bytes` as a .keras file with a scratch folder of its own, which must be empty afterwards.
    private func load(_ bytes: [UInt8], limits: LoadLimits = LoadLimits()) throws -> Result<ModelDocument, ModelFileError> {
        let folder = try TemporaryFolder()
        let scratch = folder.path("scratch")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        let path = try folder.write("m.keras", bytes)
        let result = Result { () throws(ModelFileError) in
            try KerasZipReader.read(path: path, limits: limits, scratchFolder: scratch)
        }
        #expect(try names(in: scratch).isEmpty, "a scratch file was left behind")
        return result.mapError { error in
            // Messages name the file; the tests compare what follows.
            ModelFileError(file: "m.keras", object: error.object, reason: error.reason)
        }
    }

    private func message(_ result: Result<ModelDocument, ModelFileError>) -> String {
        switch result {
        case .success: "(no error)"
        case .failure(let error): error.description
        }
    }

    @Test func theWeightsCopyIsRemovedOnEveryPath() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: adam)))
        let loaded = try load(original).get()
        #expect(loaded.weights == (try ModelFiles.load(adam)).weights)

        // A flipped byte inside the stored weights: the CRC-32, checked while copying, refuses it.
        let reader = try ZipReader(Data(original), maxEntries: 10)
        let weights = try #require(reader.entries.first { $0.name == "model.weights.h5" })
        let header = Int(weights.localHeaderOffset)
        let dataStart = header + 30 + Int(original[header + 26]) + Int(original[header + 27]) << 8
            + Int(original[header + 28]) + Int(original[header + 29]) << 8
        var flipped = original
        flipped[dataStart + Int(weights.uncompressedSize) / 2] ^= 0x10
        #expect(message(try load(flipped)) == "m.keras: model.weights.h5: corrupt (CRC-32 mismatch)")

        // Intact zip, but the weights are not HDF5.
        var members = try zipMembers(of: adam)
        let index = try #require(members.firstIndex { $0.name == "model.weights.h5" })
        members[index].bytes = Array(repeating: 0x41, count: 5000)
        #expect(message(try load(try zipArchive(members, compression: .none)))
                    .hasPrefix("m.keras: model.weights.h5: not a readable HDF5 file: "))

        // Compressed, and inflating past the size the directory declares: refused mid-copy.
        members[index].bytes = Array(repeating: 0, count: 1 << 20)
        var bomb = try zipArchive(members)
        let central = try #require((0..<bomb.count - 4).last { Array(bomb[$0..<$0 + 4]) == [0x50, 0x4b, 0x01, 0x02] })
        #expect(String(decoding: bomb[central + 46..<central + 46 + 16], as: UTF8.self) == "model.weights.h5")
        bomb.replaceSubrange(central + 24..<central + 28, with: [0xE8, 0x03, 0, 0])  // 1000 bytes
        #expect(message(try load(bomb)) == "m.keras: model.weights.h5: decompresses to more than the 1000 bytes it declares")
    }

    /// model.weights.h5 compressed (as a re-zipped archive has it) is inflated piece by piece into the scratch file
    /// and gives the same model.
    @Test func aCompressedArchiveLoadsTheSameModel() throws {
        let compressed = try zipArchive(try zipMembers(of: adam))
        let document = try load(compressed).get()
        let stored = try ModelFiles.load(adam)
        #expect(document.weights == stored.weights && document.training == stored.training)
    }
}
