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
}
