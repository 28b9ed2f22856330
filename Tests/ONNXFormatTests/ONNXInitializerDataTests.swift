import Foundation
import MLPDocument
@testable import ONNXFormat
import ONNXSupport
import Testing

/// `ONNXInitializerData.split`: the wire-level walk that leaves the initializers' raw_data in the file's bytes. The
/// reference is swift-protobuf's decoding of the committed fixtures, not the walk itself.
struct ONNXInitializerDataTests {
    static let fixtures = ["ts17_relu_tanh_sigmoid.onnx", "dynamo18_batchnorm.onnx", "dynamo18_float64.onnx",
                           "helper_gemm_transb.onnx", "dynamo18_external_data.onnx", "helper_float64_gemm.onnx"]

    @Test("a fixture splits into ranges holding exactly the raw_data swift-protobuf decodes", arguments: fixtures)
    func fixtureSplits(_ name: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ONNXFixtures.path(name)))
        let whole = try ONNXProtobuf.decodeModel(bytes)
        let split = try #require(bytes.withUnsafeBytes { ONNXInitializerData.split($0) })
        #expect(split.ranges.count == whole.graph.initializer.count)
        for (index, initializer) in whole.graph.initializer.enumerated() {
            if initializer.hasRawData {
                let range = try #require(split.ranges[index])
                #expect(bytes[range] == initializer.rawData, "initializer \(index)")
            } else {
                #expect(split.ranges[index] == nil)
            }
        }
        // The stripped model is the whole one with every initializer's raw_data empty, nothing else changed.
        var expected = whole
        for index in expected.graph.initializer.indices where expected.graph.initializer[index].hasRawData {
            expected.graph.initializer[index].rawData = Data()
        }
        #expect(try ONNXProtobuf.decodeModel(split.stripped) == expected)
        #expect(split.stripped.count < 4096 || whole.graph.initializer.allSatisfy { !$0.hasRawData })
    }

    /// A ModelProto of `ir_version` 8 and a graph holding one initializer (`tensor`).
    static func model(tensor: [UInt8]) -> [UInt8] {
        let graph = [0x2A] + varint(tensor.count) + tensor
        return [0x08, 0x08, 0x3A] + varint(graph.count) + graph
    }

    static func varint(_ value: Int) -> [UInt8] {
        var rest = UInt64(value), out: [UInt8] = []
        while rest >= 0x80 { out.append(UInt8(rest & 0x7F) | 0x80); rest >>= 7 }
        return out + [UInt8(rest)]
    }

    /// name "w", data_type 1, dims [2], raw_data 8 bytes.
    static let tensor: [UInt8] = [0x08, 0x02, 0x10, 0x01, 0x42, 0x01, 0x77, 0x4A, 0x08, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]

    @Test("a hand-built model splits at the raw_data field")
    func handBuilt() throws {
        let bytes = Self.model(tensor: Self.tensor)
        let split = try #require(bytes.withUnsafeBytes { ONNXInitializerData.split($0) })
        let range = try #require(split.ranges.first ?? nil)
        #expect(Array(bytes[range]) == [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40])
        #expect(Array(split.stripped) == Self.model(tensor: Array(Self.tensor[..<7]) + [0x4A, 0x00]))
    }

    @Test("hostile wire data is never split", arguments: [
        ("truncated varint in the tensor", model(tensor: [0x08, 0x82])),
        ("raw_data length past the end", model(tensor: [0x4A, 0x09, 1, 2, 3, 4, 5, 6, 7, 8])),
        ("raw_data length of 2^64 - 1", model(tensor: [0x4A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])),
        ("raw_data length of 2^63", model(tensor: [0x4A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])),
        ("a varint of 11 bytes", model(tensor: [0x08] + [UInt8](repeating: 0x80, count: 10) + [0x01])),
        ("raw_data twice", model(tensor: [0x4A, 0x01, 0x00, 0x4A, 0x01, 0x00])),
        ("raw_data as a varint", model(tensor: [0x48, 0x01])),
        ("a group wire type", model(tensor: [0x0B, 0x0C])),
        ("a fixed64 running past the end", model(tensor: [0x09, 1, 2, 3])),
        ("an initializer as a varint", [0x08, 0x08, 0x3A, 0x02, 0x28, 0x01]),
        ("the graph twice", model(tensor: tensor) + [0x3A, 0x00]),
        ("the graph as a varint", [0x08, 0x08, 0x38, 0x01]),
        ("no graph", [0x08, 0x08]),
        ("a graph length past the end", [0x08, 0x08, 0x3A, 0x05, 0x2A, 0x00]),
        ("field number 0", [0x08, 0x08, 0x3A, 0x02, 0x02, 0x00]),
    ])
    func hostile(_ label: String, _ bytes: [UInt8]) {
        #expect(bytes.withUnsafeBytes { ONNXInitializerData.split($0) } == nil, "\(label)")
    }

    @Test("a file that does not split gets swift-protobuf's error for the whole model", arguments: [
        ("raw_data length of 2^64 - 1", model(tensor: [0x4A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])),
        ("truncated varint in the tensor", model(tensor: [0x08, 0x82])),
        ("raw_data length past the end", model(tensor: [0x4A, 0x09, 1, 2, 3, 4, 5, 6, 7, 8])),
    ])
    func hostileFile(_ label: String, _ bytes: [UInt8]) throws {
        let path = NSTemporaryDirectory() + "onnx-split-\(getpid())-\(label.count).onnx"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var reference: String?
        do { _ = try ONNXProtobuf.decodeModel(Data(bytes)) } catch { reference = error.description }
        let expected = try #require(reference, "\(label)")
        var found: String?
        do { _ = try ONNXImporter.read(path: path, limits: LoadLimits()) } catch { found = error.description }
        #expect(found == "\(path): not a valid ONNX model: \(expected)", "\(label)")
    }
}
