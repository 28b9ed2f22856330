import Foundation
import Testing
import ZipSupport

@Suite("Stored zip archives read back by the zip reader")
struct StoredZipTests {
    @Test(arguments: [false, true])
    func membersComeBackByteForByte(forceZip64: Bool) throws {
        let members: [StoredZip.Member] = [
            .init(name: "config.json", data: Data("{\"a\": 1}".utf8)),
            .init(name: "empty", data: Data()),
            .init(name: "weights.bin", data: Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 31) })),
        ]
        let archive = StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000), forceZip64: forceZip64)
            .archive(members)
        let reader = try ZipReader(archive, maxEntries: 10)
        #expect(reader.entries.map(\.name) == members.map(\.name))
        for (entry, member) in zip(reader.entries, members) {
            #expect(entry.method == 0)
            #expect(try reader.contents(of: entry, cap: 1 << 20) == member.data)
        }
    }

    @Test func aMemberOverTheCallersCapIsRefusedAsOverLimit() throws {
        let archive = StoredZip(modified: Date(timeIntervalSince1970: 0))
            .archive([.init(name: "big", data: Data(count: 1000))])
        let reader = try ZipReader(archive, maxEntries: 1)
        do {
            _ = try reader.contents(of: reader.entries[0], cap: 999)
            Issue.record("a 1000-byte member was read under a 999-byte cap")
        } catch {
            #expect(error.isOverLimit)
        }
    }

    /// The streaming writer, fed each member's data in uneven pieces with its size and CRC-32 given up front,
    /// writes exactly the bytes `archive` builds (with ZIP64 records and with PyTorch's alignment padding too).
    @Test(arguments: [(false, 1), (true, 1), (false, 64), (true, 64)])
    func streamedArchiveIsTheSameBytes(forceZip64: Bool, alignment: Int) throws {
        let members: [StoredZip.Member] = [
            .init(name: "metadata.json", data: Data("{\"a\": 1}".utf8)),
            .init(name: "empty", data: Data()),
            .init(name: "model.weights.h5", data: Data((0..<70_001).map { UInt8(truncatingIfNeeded: $0 &* 37) })),
        ]
        let zip = StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000), forceZip64: forceZip64,
                            dataAlignment: alignment)
        // A sink that can fail, as a file's does (a Never sink in a nested closure crashes Swift 6.3's SILGen).
        struct SinkFailure: Error {}
        var streamed = Data()
        var writes = 0
        var writer = StoredZip.Writer<SinkFailure>(zip) { bytes throws(SinkFailure) in
            writes += 1
            streamed.append(contentsOf: bytes)
        }
        for member in members {
            let crc = member.data.withUnsafeBytes { StoredZip.checksum($0) }
            let pieces = stride(from: 0, to: member.data.count, by: 4093).map {
                member.data[$0..<min(member.data.count, $0 + 4093)]
            }
            try writer.add(name: member.name, size: UInt64(member.data.count), crc: crc) { write throws(SinkFailure) in
                for piece in pieces {
                    let result = piece.withUnsafeBytes { raw in Result { () throws(SinkFailure) in try write(raw) } }
                    try result.get()
                }
            }
        }
        try writer.finish()
        #expect(streamed == zip.archive(members))
        #expect(writes > members.count * 2)
        // The archive itself reads back (the writer tests above check the bytes of each member).
        #expect(try ZipReader(streamed, maxEntries: 10).entries.map(\.name) == members.map(\.name))
    }
}
