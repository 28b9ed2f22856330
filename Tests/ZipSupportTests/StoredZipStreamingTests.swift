import Foundation
import Testing
import ZipSupport

@Suite("Stored zip archives written member by member")
struct StoredZipStreamingTests {
    final class Calls {
        var names: [String] = []
    }

    @Test(arguments: [false, true])
    func eachMemberIsAskedForOnceInOrderAndTheBytesAreTheArchives(forceZip64: Bool) throws {
        let members: [StoredZip.Member] = [
            .init(name: "data.pkl", data: Data("pickle".utf8)),
            .init(name: "data/0", data: Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) })),
            .init(name: "empty", data: Data()),
        ]
        let writer = StoredZip(modified: Date(timeIntervalSince1970: 315_532_800), forceZip64: forceZip64, dataAlignment: 64)
        let calls = Calls()
        var pieces: [Int] = []
        var streamed = Data()
        writer.write(members.map { member in
            StoredZip.StreamedMember(name: member.name) {
                calls.names.append(member.name)
                return [UInt8](member.data)
            }
        }) { (bytes: UnsafeRawBufferPointer) in
            pieces.append(bytes.count)
            streamed.append(contentsOf: bytes)
        }
        #expect(calls.names == members.map(\.name))
        #expect(streamed == writer.archive(members))
        // The large member went to the sink as itself, not copied into a header buffer.
        #expect(pieces.contains(5000))
        let reader = try ZipReader(streamed, maxEntries: 10)
        for (entry, member) in zip(reader.entries, members) {
            #expect(try reader.contents(of: entry, cap: 1 << 20) == member.data)
        }
    }

    struct Stop: Error {}

    @Test func aFailingSinkStopsTheWriteAndItsErrorComesOut() {
        let calls = Calls()
        let writer = StoredZip(modified: Date(timeIntervalSince1970: 0))
        let members = ["a", "b"].map { name in
            StoredZip.StreamedMember(name: name) {
                calls.names.append(name)
                return Data(name.utf8)
            }
        }
        #expect(throws: Stop.self) {
            try writer.write(members) { (_: UnsafeRawBufferPointer) throws(Stop) in throw Stop() }
        }
        #expect(calls.names == ["a"])
    }
}
