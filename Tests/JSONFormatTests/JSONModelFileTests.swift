import Foundation
import MLPCore
import MLPDocument
import JSONSupport
import TestSupport
import Testing
@testable import JSONFormat

/// `JSONModelCodec.write(toPath:)` (streamed through a small buffer) and `read(path:)` (the text read once, released
/// as the tensors are decoded) against the bytes the previous, in-memory writer produced and against the errors of
/// decoding the same bytes in memory.
@Suite("JSON model files: streamed writes, released reads")
struct JSONModelFileTests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    private static let written = root.appendingPathComponent("fixtures/json-writer")

    /// Every file in fixtures/json-writer, written by mlpconv before the writer streamed (see its README).
    static let fixtures: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: written.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }()

    @Test func theFixturesArePresent() {
        #expect(Self.fixtures.count == 21)
    }

    /// The fixtures predate the per-tensor `"crc32c"` member: apart from it, the writer's bytes are unchanged, and
    /// it is written for every tensor.
    private static func withoutChecksums(_ bytes: [UInt8]) throws -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self)
        let checksums = text.matches(of: try Regex(#""crc32c": "[0-9a-f]{8}", "#)).count
        #expect(checksums == text.matches(of: try Regex(#""data": "#)).count)
        return Array(text.replacing(try Regex(#""crc32c": "[0-9a-f]{8}", "#), with: "").utf8)
    }

    @Test("a streamed write is the previous writer's file plus each tensor's checksum", arguments: fixtures)
    func streamedWriteMatchesThePreviousWriter(name: String) throws {
        let path = Self.written.appendingPathComponent(name).path
        let expected = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // <model>.<encoding>.json, the model being one of the sources listed in the README.
        let encodingName = name.split(separator: ".").dropLast().last.map(String.init) ?? ""
        let encoding = try #require(JSONTensorEncoding(rawValue: encodingName))
        let document = try JSONModelCodec.read(path: path, limits: LoadLimits())
        let folder = try TemporaryFolder()
        // 4096 bytes (the smallest buffer) splits every tensor of the wide fixture into many pieces.
        for bufferSize in [4096, 1 << 20] {
            let output = try folder.write("out-\(bufferSize).json", [])
            try JSONModelCodec.write(document, tensors: encoding, toPath: output, file: output, bufferSize: bufferSize)
            let bytes = try Self.withoutChecksums([UInt8](Data(contentsOf: URL(fileURLWithPath: output))))
            #expect(bytes == expected, "\(name), buffer \(bufferSize): \(bytes.count) bytes, expected \(expected.count)")
        }
        #expect(try Self.withoutChecksums(JSONModelCodec.encode(document, tensors: encoding)) == expected)
    }

    @Test func aTensorWithNaNIsStreamedAsBase64LikeInMemory() throws {
        var random = RandomGenerator(seed: 11)
        var values = awkwardFloats(count: 5000, random: &random)
        values[4321] = .nan
        let model = try Model<Float>(inputWidth: 50, layers: [LayerSpec(100, .relu)], loss: .meanSquaredError,
                                     optimizer: OptimizerConfig(.sgd), seed: 4)
        var document = ModelDocument(model: model)
        document.weights[0]["kernel"] = try Tensor(shape: [50, 100], float32: values)
        let folder = try TemporaryFolder()
        let output = try folder.write("nan.json", [])
        try JSONModelCodec.write(document, tensors: .array, toPath: output, file: output, bufferSize: 4096)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: output)))
        #expect(bytes == JSONModelCodec.encode(document, tensors: .array))
        let kernel = try #require(try JSONModelCodec.read(path: output, limits: LoadLimits()).weights[0]["kernel"])
        #expect(kernel.float32Values.map(\.bitPattern) == values.map(\.bitPattern))
    }

    /// A history of thousands of epochs is structure, not a bulk value: the streaming writer hands it to the file in
    /// pieces of about 64 KiB as it goes, and the file must still be the text `encode` builds in memory.
    @Test func aLongHistoryIsStreamedInPieces() throws {
        let model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(2, .relu)], loss: .meanSquaredError,
                                     optimizer: OptimizerConfig(.adam), seed: 5)
        var document = ModelDocument(model: model)
        document.training?.history = (1...5000).map { EpochRecord(epoch: $0, metrics: ["loss": 1 / Double($0)]) }
        let folder = try TemporaryFolder()
        let output = try folder.write("history.json", [])
        try JSONModelCodec.write(document, tensors: .auto, toPath: output, file: output, bufferSize: 4096)
        let expected = JSONModelCodec.encode(document, tensors: .auto)
        #expect(expected.count > 200_000)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: output))) == expected)
    }

    @Test("reading a file gives the document decoding its bytes gives, every tensor bit for bit", arguments: fixtures)
    func readingMatchesDecoding(name: String) throws {
        let path = Self.written.appendingPathComponent(name).path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let expected = try decodeJSON(bytes, file: path)
        // Releasing each tensor's text once decoded (threshold 0) must not change what is read.
        for threshold in [0, Int.max] {
            #expect(try JSONModelCodec.read(path: path, limits: LoadLimits(), releaseThreshold: threshold) == expected)
        }
    }

    /// Truncations of a file with many pages of tensor text, damaged tensors, and files that are not models: the
    /// file reader must say exactly what decoding the same bytes in memory says.
    @Test func hostileFilesGiveTheErrorsOfDecodingTheirBytes() throws {
        let folder = try TemporaryFolder()
        var cases: [(String, [UInt8])] = []
        for name in ["wide_adam.base64.json", "wide_adam.array.json"] {
            let bytes = try [UInt8](Data(contentsOf: Self.written.appendingPathComponent(name)))
            for cut in [0, 1, 100, bytes.count / 3, bytes.count / 2, bytes.count - 2] {
                cases.append(("\(name)-cut-\(cut)", Array(bytes[..<cut])))
            }
            cases.append(("\(name)-trailing", bytes + Array("x".utf8)))
            // A damaged character deep inside the second tensor's data.
            var damaged = bytes
            let dataKey = Array("\"data\": ".utf8)
            let starts = (0..<(bytes.count - dataKey.count)).filter { bytes[$0..<($0 + dataKey.count)].elementsEqual(dataKey) }
            damaged[starts[1] + dataKey.count + 200] = UInt8(ascii: "!")
            cases.append(("\(name)-damaged", damaged))
        }
        cases.append(("not-a-model", Array(#"{"format": "something-else"}"#.utf8)))
        cases.append(("nan-literal", Array(#"{"format": "mlpconv-model", "x": NaN}"#.utf8)))
        for (name, bytes) in cases {
            let path = try folder.write(name + ".json", bytes)
            let fromFile = expectError(ModelFileError.self) {
                _ = try JSONModelCodec.read(path: path, limits: LoadLimits(), releaseThreshold: 0)
            }
            let fromBytes = expectError(ModelFileError.self) { _ = try decodeJSON(bytes, file: path) }
            #expect(fromFile != nil && fromFile?.description == fromBytes?.description, "\(name)")
        }
        let truncated = try folder.write("truncated.json", Array(#"{"format": "mlpconv-model", "format_"#.utf8))
        let error = expectError(ModelFileError.self) { _ = try JSONModelCodec.read(path: truncated, limits: LoadLimits()) }
        #expect(error?.description.contains("unexpected end of input (truncated?)") == true)
    }

    @Test func aFileOverTheLimitIsRefusedBeforeReading() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("big.json", Array(repeating: UInt8(ascii: " "), count: 1000))
        var limits = LoadLimits()
        limits.maxFileBytes = 999
        let error = expectError(ModelFileError.self) { _ = try JSONModelCodec.read(path: path, limits: limits) }
        #expect(error?.reason == "file of 1000 bytes exceeds the limit of 999 bytes")
    }
}
