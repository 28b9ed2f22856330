import Foundation
import JSONSupport
import MLPDocument
import Testing
@testable import JSONFormat

/// A large JSON file is mapped and every pass over its text (the value count, the audit, the decoding of each
/// tensor) gives back the pages it has gone past. Read here with the smallest stride — a page or so at a time, the
/// model spread over many pieces — each file must give exactly the document that decoding its bytes in memory gives
/// (no release at all), every tensor bit for bit.
@Suite("JSON model files read in pieces")
struct JSONPiecewiseReadTests {
    private static let written = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/json-writer")

    @Test("a mapped file released page by page reads as its bytes decode", arguments: JSONModelFileTests.fixtures)
    func releasedPageByPage(name: String) throws {
        let path = Self.written.appendingPathComponent(name).path
        let expected = try decodeJSON([UInt8](Data(contentsOf: URL(fileURLWithPath: path))), file: path)
        for stride in [1, 4096, 10_000] {
            #expect(try JSONModelCodec.read(path: path, limits: LoadLimits(), releaseThreshold: 0, releaseStride: stride)
                        == expected, "stride \(stride)")
        }
    }

    @Test("every pass hands back the text it has gone past, in order, and the values are unchanged")
    func passesReleaseWhatTheyPassed() throws {
        let numbers = (0..<3000).map { "\(Double($0) / 7)" }.joined(separator: ", ")
        let text = Array("{\"a\": [\(numbers)], \"b\": \"x\"}".utf8)
        let limits = JSONLimits(bulkNumberArrays: 256)
        let whole = try JSONDocument.parse(text, file: "t.json", limits: limits)
        var expected = [Double](repeating: 0, count: 3000)
        try expected.withUnsafeMutableBufferPointer { (buffer) throws(JSONError) in
            try whole.root.value(at: "a").readNumbers(into: buffer)
        }
        let owner = TextOwner(text)
        var released: [Range<Int>] = []
        let document = try JSONDocument.parse(borrowing: owner.bytes, owner: owner, file: "t.json", limits: limits,
                                              releasing: { released.append($0) }, releaseStride: 1000)
        let afterParse = released.count
        var values = [Double](repeating: 0, count: 3000)
        try values.withUnsafeMutableBufferPointer { (buffer) throws(JSONError) in
            try document.root.value(at: "a").readNumbers(into: buffer)
        }
        #expect(values.map(\.bitPattern) == expected.map(\.bitPattern))
        // The audit goes over the whole text (the value count is off in these limits); decoding over the array's.
        #expect(afterParse >= text.count / 1000 - 1)
        #expect(released.count - afterParse >= 3000 * 4 / 1000 - 1)
        #expect(released.allSatisfy { $0.count >= 1000 && $0.upperBound <= text.count })
    }
}

/// Text kept alive for a borrowing parse.
private final class TextOwner {
    let storage: UnsafeMutableRawBufferPointer
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(storage) }

    init(_ text: [UInt8]) {
        storage = .allocate(byteCount: text.count, alignment: 16)
        storage.copyBytes(from: text)
    }

    deinit { storage.deallocate() }
}
