import Foundation
import Testing
import TestSupport
import ZipSupport

/// Members laid out as in a `.keras` file (two short JSON members, then the larger weights), so the records at the
/// end of the archive are the ones a `.keras` reader meets. No byte of the data is 0x50 ('P'), so no zip signature
/// can turn up inside a member.
private let members: [StoredZip.Member] = [
    .init(name: "metadata.json", data: Data(#"{"keras_version": "3.15.1", "date_saved": "2025-01-01@00:00:00"}"#.utf8)),
    .init(name: "config.json", data: Data(String(repeating: #"{"class_name": "Dense", "units": 8}, "#, count: 30).utf8)),
    .init(name: "model.weights.h5", data: Data((0..<20_000).map { UInt8($0 % 80) })),
]

/// The archive StoredZip writes for `members`, with the ZIP64 records a small archive would not need.
private func zip64Archive() -> [UInt8] {
    [UInt8](StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000), forceZip64: true).archive(members))
}

/// Reads every member the archive lists. A member may come back under a changed name (names carry no checksum),
/// but its bytes must be one of the originals: the CRC-32 stands between a changed archive and its reader.
private func readAll(_ archive: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws(ZipReader.Failure) {
    let reader = try ZipReader(Data(archive), maxEntries: 1000)
    for entry in reader.entries {
        let data = try reader.contents(of: entry, cap: 1 << 20)
        if let original = members.first(where: { $0.name == entry.name }) {
            #expect(data == original.data, "member \(entry.name) changed", sourceLocation: sourceLocation)
        } else {
            #expect(members.contains { $0.data == data }, "member \(entry.name) is new", sourceLocation: sourceLocation)
        }
    }
}

/// What `body` fails with, or a note that it did not fail (which no expected text contains).
private func expectFailure(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "(no error)"
    } catch {
        return "\(error)"
    }
}

@Suite("Zip reader on hostile archives")
struct ZipReaderHostileArchiveTests {
    /// Whole fields, not bits: runs of 1–8 random bytes (often all ones, the ZIP64 escape) written over the
    /// central directory and end records of a ZIP64 archive, in process — refused or the same members, never a trap.
    @Test func randomFieldValuesInZipRecords() throws {
        let bytes = zip64Archive()
        try readAll(bytes)
        var random = SeededGenerator(state: 77)
        var refused = 0
        for _ in 0..<1500 {
            var mutant = bytes
            let length = Int.random(in: 1...8, using: &random)
            let start = bytes.count - length - Int.random(in: 0..<min(400, bytes.count - length), using: &random)
            let allOnes = Int.random(in: 0..<3, using: &random) == 0
            for index in start..<start + length { mutant[index] = allOnes ? 0xFF : UInt8.random(in: 0...255, using: &random) }
            do {
                try readAll(mutant)
            } catch {
                refused += 1
            }
        }
        #expect(refused > 0)
    }

    /// Offsets near 2⁶⁴ in the ZIP64 records and extra fields: refused with a message, no arithmetic overflow.
    @Test func zip64OffsetsNearTheTop() throws {
        let bytes = zip64Archive()
        /// The archive with 0xFFFF_FFFF_FFFF_FFF0 written 8 bytes long at `delta` past the first `signature`.
        func patched(_ signature: [UInt8], at delta: Int) throws -> [UInt8] {
            var copy = bytes
            let first = try #require((0...(copy.count - 4)).first { Array(copy[$0..<$0 + 4]) == signature })
            for index in 0..<8 { copy[first + delta + index] = 0xFF }
            copy[first + delta] = 0xF0
            return copy
        }
        let top = "18446744073709551600"
        // The locator's pointer to the ZIP64 end record; the end record's directory offset; an entry's extra-field
        // local header offset (the first central directory entry's ZIP64 field holds sizes, then the offset).
        let cases: [([UInt8], String)] = [
            (try patched([0x50, 0x4b, 0x06, 0x07], at: 8), "the ZIP64 end-of-central-directory record is missing or corrupt"),
            (try patched([0x50, 0x4b, 0x06, 0x06], at: 48), "at offset \(top)) lies outside the archive"),
            (try patched([0x50, 0x4b, 0x01, 0x02], at: 46 + "metadata.json".utf8.count + 4 + 16),
             "no local header at offset \(top)"),
        ]
        for (index, (mutant, expected)) in cases.enumerated() {
            let message = expectFailure { try readAll(mutant) }
            #expect(message.contains(expected), "case \(index): \(message)")
        }
    }
}
