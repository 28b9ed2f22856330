import Foundation
import Testing
import TestSupport
import ZipSupport

/// Members like a `.keras` file's, the last one larger than the file reader's 4 MiB pieces and 64 KiB record
/// block, and only partly compressible (so DEFLATE spans several input pieces too).
private let members: [StoredZip.Member] = {
    var state: UInt32 = 12345
    let large = (0..<(9 << 20) + 123).map { index -> UInt8 in
        state = state &* 1_664_525 &+ 1_013_904_223
        return index % 3 == 0 ? UInt8(truncatingIfNeeded: state >> 24) : UInt8(truncatingIfNeeded: index / 1000)
    }
    return [
        .init(name: "metadata.json", data: Data(#"{"keras_version": "3.15.1"}"#.utf8)),
        .init(name: "empty", data: Data()),
        .init(name: "model.weights.h5", data: Data(large)),
    ]
}()

/// What a reader makes of an archive: each entry's name and content, or the first failure, as text.
private func summary(_ open: () throws(ZipReader.Failure) -> ZipReader) -> String {
    do {
        let reader = try open()
        return reader.entries.map { entry in
            do {
                let data = try reader.contents(of: entry, cap: 16 << 20)
                var pieces = Data()
                try reader.extract(entry, cap: 16 << 20) { pieces.append(contentsOf: $0) }
                return data == pieces ? "\(entry.name): \(data.count) bytes, crc \(entry.crc)"
                    : "\(entry.name): extract differs from contents"
            } catch {
                return "\(entry.name): \(error)"
            }
        }.joined(separator: "\n")
    } catch {
        return "refused: \(error)"
    }
}

/// The same bytes read from memory and from a file must give the same summary.
private func expectSameFromFile(_ bytes: [UInt8], at path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let fromMemory = summary { () throws(ZipReader.Failure) in try ZipReader(Data(bytes), maxEntries: 1000) }
    let fromFile = summary { () throws(ZipReader.Failure) in
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ZipReader.Failure("cannot open \(path)") }
        return try ZipReader(file: handle, maxEntries: 1000)
    }
    #expect(fromFile == fromMemory, sourceLocation: sourceLocation)
}

@Suite("Zip archives read from a file on demand, as from memory")
struct ZipFileReaderTests {
    /// Stored (StoredZip) and DEFLATE (ZIPFoundation, an independent writer) archives: the same entries and the
    /// same bytes, whole and streamed, as the in-memory reader gives; and the original members.
    @Test(arguments: [false, true])
    func membersMatchTheInMemoryReader(deflate: Bool) throws {
        let folder = try TemporaryFolder()
        let bytes = deflate ? try zipArchive(members.map { ($0.name, [UInt8]($0.data)) })
            : [UInt8](StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000)).archive(members))
        let path = try folder.write("a.zip", bytes)
        try expectSameFromFile(bytes, at: path)
        let reader = try ZipReader(file: try #require(FileHandle(forReadingAtPath: path)), maxEntries: 10)
        #expect(reader.size == UInt64(bytes.count))
        #expect(reader.entries.map(\.name) == members.map(\.name))
        #expect(reader.entries.allSatisfy { $0.method == (deflate ? 8 : 0) })
        for (entry, member) in zip(reader.entries, members) {
            var pieces = 0
            var streamed = Data()
            try reader.read(entry, chunkSize: 1 << 20) { piece in
                pieces += 1
                streamed.append(contentsOf: piece)
            }
            #expect(streamed == member.data, "\(entry.name)")
            #expect(pieces == max(1, (member.data.count + (1 << 20) - 1) >> 20) || member.data.isEmpty, "\(entry.name)")
        }
    }

    /// Runs of random bytes written over the records at the end of a ZIP64 archive and over the local headers at
    /// its start: whatever the in-memory reader refuses, the file reader refuses with the same words.
    @Test func hostileArchivesGetTheSameAnswerFromAFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("mutant.zip")
        let small: [StoredZip.Member] = [members[0], members[1],
                                         .init(name: "model.weights.h5", data: Data((0..<20_000).map { UInt8($0 % 80) }))]
        let bytes = [UInt8](StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000), forceZip64: true).archive(small))
        var random = SeededGenerator(state: 99)
        for round in 0..<300 {
            var mutant = bytes
            let length = Int.random(in: 1...8, using: &random)
            let start = round % 2 == 0 ? bytes.count - length - Int.random(in: 0..<400, using: &random)
                : Int.random(in: 0..<120, using: &random)
            let allOnes = Int.random(in: 0..<3, using: &random) == 0
            for index in start..<start + length { mutant[index] = allOnes ? 0xFF : UInt8.random(in: 0...255, using: &random) }
            try expectSameFromFile(mutant, at: path)
        }
    }

    /// Every cut of the archive (a download that stopped) gives the same failure from a file as from memory.
    @Test func truncatedArchivesGetTheSameAnswerFromAFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("cut.zip")
        let small: [StoredZip.Member] = [members[0], .init(name: "w", data: Data(repeating: 7, count: 5000))]
        let bytes = [UInt8](StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000)).archive(small))
        for length in stride(from: 0, to: bytes.count, by: 97) + [bytes.count - 1, bytes.count - 22] {
            try expectSameFromFile(Array(bytes.prefix(length)), at: path)
        }
    }

    /// A member over the caller's cap is refused as over the limit by `extract` before a byte is passed on.
    @Test func extractRefusesAMemberOverTheCap() throws {
        let reader = try ZipReader(StoredZip(modified: Date(timeIntervalSince1970: 0))
            .archive([.init(name: "big", data: Data(count: 1000))]), maxEntries: 1)
        var passed = 0
        do {
            try reader.extract(reader.entries[0], cap: 999) { passed += $0.count }
            Issue.record("a 1000-byte member was extracted under a 999-byte cap")
        } catch {
            #expect(error.isOverLimit)
            #expect(error.description == "declares 1000 bytes uncompressed, over the limit of 999 bytes")
        }
        #expect(passed == 0)
    }
}
