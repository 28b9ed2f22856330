import FileSupport
import Foundation

/// Where the graph initializers' `raw_data` lies in a model's bytes, and the model without it.
///
/// swift-protobuf copies every bytes field it decodes, so decoding a large ModelProto whole keeps each weight twice
/// (the file and the copy) before the reader converts it a third time. `split` walks the wire format down to the
/// initializers and rewrites the ModelProto with each initializer's `raw_data` emptied (still present, so
/// `hasRawData` reads as before); swift-protobuf then decodes a few kilobytes, and the tensor reader converts each
/// initializer's data straight from the file's bytes, giving their pages back as it goes.
///
/// Only a file whose structure swift-protobuf would read the same way field by field is split: every field of the
/// ModelProto, its GraphProto and the initializers well-formed (lengths checked against the bytes left), exactly one
/// graph (two would be merged), no initializer with `raw_data` twice or with another wire type. Anything else is
/// `nil`, and the caller decodes the whole model as before, which gives the same errors as before.
struct ONNXInitializerData {
    /// The model with every graph initializer's `raw_data` empty.
    var stripped: Data
    /// By initializer index (in the graph's order): where its `raw_data` is in the original bytes, nil when it has none.
    var ranges: [Range<Int>?]

    private static let graphField: UInt64 = 7
    private static let initializerField: UInt64 = 5
    private static let rawDataField: UInt64 = 9

    /// One field of a message: its number and wire type, where it starts, where its tag ends, and for a
    /// length-delimited field where its contents are.
    private struct Field {
        var number: UInt64
        var wireType: UInt64
        var start: Int
        var afterTag: Int
        var contents: Range<Int>
        var end: Int { contents.upperBound }
    }

    /// The fields of the message in `bytes[range]`, or nil when one of them is malformed or runs past the range.
    private static func fields(of bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> [Field]? {
        let limited = UnsafeRawBufferPointer(rebasing: bytes[..<range.upperBound])
        var fields: [Field] = []
        var index = range.lowerBound
        while index < range.upperBound {
            guard let (tag, afterTag) = ONNXProtoScan.varint(limited, at: index) else { return nil }
            let number = tag >> 3, wireType = tag & 7
            guard number > 0 else { return nil }
            let contents: Range<Int>
            switch wireType {
            case 0:
                guard let (_, next) = ONNXProtoScan.varint(limited, at: afterTag) else { return nil }
                contents = afterTag..<next
            case 1, 5:
                let size = wireType == 1 ? 8 : 4
                guard range.upperBound - afterTag >= size else { return nil }
                contents = afterTag..<(afterTag + size)
            case 2:
                guard let (length, start) = ONNXProtoScan.varint(limited, at: afterTag),
                      length <= UInt64(range.upperBound - start) else { return nil }
                contents = start..<(start + Int(length))
            default:
                return nil
            }
            fields.append(Field(number: number, wireType: wireType, start: index, afterTag: afterTag, contents: contents))
            index = contents.upperBound
        }
        return fields
    }

    static func split(_ bytes: UnsafeRawBufferPointer) -> ONNXInitializerData? {
        guard let model = fields(of: bytes, in: 0..<bytes.count) else { return nil }
        let graphs = model.filter { $0.number == graphField }
        guard graphs.count == 1, let graph = graphs.first, graph.wireType == 2,
              let graphFields = fields(of: bytes, in: graph.contents) else { return nil }
        var ranges: [Range<Int>?] = []
        var graphBody = Data()
        for field in graphFields {
            guard field.number == initializerField else {
                graphBody.append(copying: bytes, field.start..<field.end)
                continue
            }
            guard field.wireType == 2, let tensorFields = fields(of: bytes, in: field.contents) else { return nil }
            let rawData = tensorFields.filter { $0.number == rawDataField }
            guard rawData.count <= 1, rawData.allSatisfy({ $0.wireType == 2 }) else { return nil }
            var tensorBody = Data()
            for tensorField in tensorFields {
                if tensorField.number == rawDataField {
                    tensorBody.append(copying: bytes, tensorField.start..<tensorField.afterTag)
                    tensorBody.append(0)  // an empty raw_data
                } else {
                    tensorBody.append(copying: bytes, tensorField.start..<tensorField.end)
                }
            }
            ranges.append(rawData.first?.contents)
            graphBody.append(copying: bytes, field.start..<field.afterTag)
            graphBody.appendVarint(UInt64(tensorBody.count))
            graphBody.append(tensorBody)
        }
        var stripped = Data()
        for field in model {
            guard field.number == graphField else {
                stripped.append(copying: bytes, field.start..<field.end)
                continue
            }
            stripped.append(copying: bytes, field.start..<field.afterTag)
            stripped.appendVarint(UInt64(graphBody.count))
            stripped.append(graphBody)
        }
        return ONNXInitializerData(stripped: stripped, ranges: ranges)
    }
}

/// The model's bytes an `ONNXInitializerData` points into, for the tensor reader: the ranges, and the pages to give
/// back once an initializer is converted (only when the bytes are a mapping of the file, which reads them again
/// from the file if they are touched again).
final class ONNXInitializerSource {
    let bytes: Data
    let ranges: [Range<Int>?]
    let releasesPages: Bool

    init(bytes: Data, ranges: [Range<Int>?], releasesPages: Bool) {
        self.bytes = bytes
        self.ranges = ranges
        self.releasesPages = releasesPages
    }

    func range(ofInitializer index: Int) -> Range<Int>? {
        index < ranges.count ? ranges[index] : nil
    }

    func release(_ range: Range<Int>) {
        if releasesPages { MappedFile.releasePages(range, of: bytes) }
    }
}

extension Data {
    fileprivate mutating func append(copying bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// Protobuf's base-128 varint.
    fileprivate mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        append(UInt8(rest))
    }
}
