import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
@testable import ONNXFormat
import ONNXSupport
import Testing
import TestSupport

/// Hostile files: `fixtures/onnx/bad/` (written by the generator, one alteration each) and files these tests build,
/// each refused with one error naming the file, the object and the reason; detection that claims no other format's
/// file; bit flips over a valid file that load or fail cleanly.
struct ONNXImportBadInputTests {
    /// The generator's hostile files and the message each gets (robustness.md's catalogue: truncation, lengths past the
    /// end, wire types, size disagreements, paths out of the folder, huge dims).
    static let badFiles: [(file: String, object: String?, reason: String)] = [
        ("truncated.onnx", nil, "not a valid ONNX model: truncated: field 7 (graph)'s length runs past the end of the file (it claims 197 bytes at byte 33, 108 follow)"),
        ("wrong_wire_type.onnx", nil, "not a valid ONNX model: field 1 (ir_version) of ModelProto has wire type 2 where a varint (0) belongs"),
        ("length_past_end.onnx", nil, "not a valid ONNX model: truncated: field 7 (graph)'s length runs past the end of the file (it claims 1197 bytes at byte 39, 197 follow)"),
        ("raw_data_size_mismatch.onnx", "initializer weight", "raw_data holds 20 bytes, dims [3, 2] of float32 need 24"),
        ("external_location_parent.onnx", "initializer weight", "external data location ../outside.bin leaves the model's folder (refused, not read)"),
        ("external_location_absolute.onnx", "initializer weight", "external data location /etc/passwd is absolute (refused, not read)"),
        ("external_offset_past_end.onnx", "initializer weight", "offset 4096 lies past the end of external_offset_past_end.onnx.data (24 bytes)"),
        ("external_length_past_end.onnx", "initializer weight", "offset 8 + length 24 runs past the end of external_length_past_end.onnx.data (24 bytes)"),
        ("huge_dims.onnx", "initializer weight", "raw_data holds 24 bytes, dims [1000000, 1000] of float32 need 4000000000"),
        ("negative_dims.onnx", "initializer weight", "dimension -3 is negative"),
        ("empty.onnx", nil, "the file is empty (not an ONNX model)"),
        ("not_onnx.onnx", nil, "not an ONNX model: no graph (ModelProto field 7), and field 1 (ir_version) of ModelProto has wire type 2 where a varint (0) belongs"),
    ]

    static let badFolder = ONNXFixtures.folder.appendingPathComponent("bad")

    @Test("each hostile fixture is refused with its message", arguments: badFiles.map(\.file))
    func badFixture(file: String) throws {
        let entry = try #require(Self.badFiles.first { $0.file == file })
        let path = Self.badFolder.appendingPathComponent(file).path
        let error = expectError(ModelFileError.self) { _ = try ONNXImporter.read(path: path, limits: LoadLimits()) }
        #expect(error?.file == path)
        #expect(error?.object == entry.object, "\(file): \(String(describing: error))")
        #expect(error?.reason == entry.reason, "\(file): \(String(describing: error))")
    }

    /// Through the façade: detection sends every one of them to the ONNX reader except the ones that are not
    /// ModelProtos at all, which are "not a model file".
    @Test("the façade names the file for every hostile fixture", arguments: badFiles.map(\.file))
    func badFixtureThroughFacade(file: String) throws {
        let path = Self.badFolder.appendingPathComponent(file).path
        let error = expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }
        #expect(error?.file == path)
        if ["empty.onnx", "not_onnx.onnx"].contains(file) {
            #expect(error?.reason.hasPrefix("not a model file") == true, "\(String(describing: error))")
        } else {
            #expect(try ModelFiles.detectKind(at: path) == .onnx)
        }
    }

    // MARK: Detection

    /// Every file of every other format among the fixtures (and the data files) is not taken for ONNX; the ONNX
    /// fixtures (onnx/, and mlpconv's own exports in onnx-mlpconv/) are left out.
    @Test func noOtherFixtureLooksLikeONNX() throws {
        let root = ONNXFixtures.folder.deletingLastPathComponent()
        let walker = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]))
        var checked = 0
        for case let url as URL in walker where !url.path.contains("/fixtures/onnx/") && !url.path.contains("/fixtures/onnx-mlpconv/") {
            guard (try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                  let handle = FileHandle(forReadingAtPath: url.path) else { continue }
            let head = [UInt8](try handle.read(upToCount: 4096) ?? Data())
            try handle.close()
            #expect(!ONNXImporter.matches(head: head), "\(url.path)")
            checked += 1
        }
        #expect(checked > 300)
    }

    @Test func textAndNoiseAreNotONNX() {
        var generator = SeededGenerator(state: 0x6E6F_6973)
        var claimed = 0
        for _ in 0..<20_000 {
            var bytes = (0..<(1 + Int(generator.next() % 600))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Half of them start as an ONNX file does, so the later fields decide.
            if generator.next() % 2 == 0 { bytes[0] = 0x08 }
            if ONNXImporter.matches(head: bytes) { claimed += 1 }
        }
        #expect(claimed == 0)
        for text in ["\n\nhello", "ir_version: 8\ngraph {", "\u{8}\u{7}:", "# model\n", "<?xml version=\"1.0\"?>"] {
            #expect(!ONNXImporter.matches(head: Array(text.utf8)), "\(text)")
        }
    }

    @Test func everyONNXFixtureIsDetected() throws {
        for file in ONNXFixtures.models.compactMap({ $0["file"] as? String }) {
            let handle = try #require(FileHandle(forReadingAtPath: ONNXFixtures.path(file)))
            let head = [UInt8](try handle.read(upToCount: 4096) ?? Data())
            try handle.close()
            #expect(ONNXImporter.matches(head: head), "\(file)")
        }
    }

    // MARK: Files built here

    /// A model for the hostile variants: `[batch, 2]` → Gemm(transB=1) with `weight` `[3, 2]` and `bias` `[3]`.
    static func smallModel() -> Onnx_ModelProto {
        var model = ONNXTestGraphs.model(inputWidth: 2)
        ONNXTestGraphs.gemm(&model, weight: [[1, 2], [3, 4], [5, 6]], bias: [0.5, -0.5, 1], transB: true)
        ONNXTestGraphs.finish(&model, outputWidth: 3)
        return model
    }

    @Test func externalDataThroughASymlinkIsRefused() throws {
        let folder = try TemporaryFolder()
        let outside = try TemporaryFolder()
        let weights: [Float] = [1, 2, 3, 4, 5, 6]
        try outside.write("weights.bin", weights.withUnsafeBytes { Array($0) })
        try FileManager.default.createSymbolicLink(atPath: folder.path("model.onnx.data"), withDestinationPath: outside.path("weights.bin"))
        var model = Self.smallModel()
        ONNXTestGraphs.makeExternal(&model, initializer: 0, location: "model.onnx.data", offset: 0, length: 24)
        let path = try folder.write("model.onnx", [UInt8](try ONNXProtobuf.encode(model)))
        let error = expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }
        #expect(error?.object == "initializer weight")
        #expect(error?.reason == "external data location model.onnx.data resolves outside the model's folder (a symbolic link; refused, not read)")

        // The same bytes as a regular file beside the model load.
        try FileManager.default.removeItem(atPath: folder.path("model.onnx.data"))
        try folder.write("model.onnx.data", weights.withUnsafeBytes { Array($0) })
        let document = try ModelFiles.load(path)
        #expect(document.weights[0]["kernel"]?.float32Values == [1, 3, 5, 2, 4, 6])
    }

    @Test func externalDataLengthMustMatchTheDims() throws {
        let folder = try TemporaryFolder()
        try folder.write("model.onnx.data", [UInt8](repeating: 0, count: 64))
        var model = Self.smallModel()
        ONNXTestGraphs.makeExternal(&model, initializer: 0, location: "model.onnx.data", offset: 0, length: 20)
        let path = try folder.write("model.onnx", [UInt8](try ONNXProtobuf.encode(model)))
        let error = expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }
        #expect(error?.reason == "external data length 20 disagrees with dims [3, 2] of float32 (24 bytes)")
    }

    @Test func tensorLimitsApplyBeforeReading() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("model.onnx", [UInt8](try ONNXProtobuf.encode(Self.smallModel())))
        let error = expectError(ModelFileError.self) {
            _ = try ModelFiles.load(path, limits: LoadLimits(maxTensorBytes: 16))
        }
        #expect(error?.object == "initializer weight")
        #expect(error?.reason == "24 bytes exceed the limit of 16 per tensor")
        let total = expectError(ModelFileError.self) {
            _ = try ModelFiles.load(path, limits: LoadLimits(maxTensorBytes: 100, maxTotalBytes: 30))
        }
        #expect(total?.reason == "the tensors up to this one take 36 bytes, over the limit of 30")
    }

    @Test func typedFieldsAreCheckedAgainstTheDims() throws {
        var model = Self.smallModel()
        model.graph.initializer[0].clearRawData()
        model.graph.initializer[0].floatData = [1, 2, 3, 4, 5]
        let folder = try TemporaryFolder()
        let path = try folder.write("model.onnx", [UInt8](try ONNXProtobuf.encode(model)))
        let error = expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }
        #expect(error?.description == "\(path): initializer weight: float_data holds 5 values, dims [3, 2] need 6")

        model.graph.initializer[0].floatData = [1, 2, 3, 4, 5, 6]
        model.graph.initializer[0].doubleData = [1]
        let both = try folder.write("both.onnx", [UInt8](try ONNXProtobuf.encode(model)))
        #expect(expectError(ModelFileError.self) { _ = try ModelFiles.load(both) }?.reason == "holds both float_data and double_data")
    }

    @Test func deepNestingIsRefused() throws {
        // A GraphProto attribute inside a node inside a graph, 40 deep: over swift-protobuf's depth limit of 32.
        var graph = Onnx_GraphProto()
        for _ in 0..<40 {
            var attribute = Onnx_AttributeProto()
            attribute.name = "body"
            attribute.type = .graph
            attribute.g = graph
            var node = Onnx_NodeProto()
            node.opType = "If"
            node.attribute = [attribute]
            graph = Onnx_GraphProto()
            graph.node = [node]
        }
        var model = Self.smallModel()
        model.graph.node.append(contentsOf: graph.node)
        let folder = try TemporaryFolder()
        let path = try folder.write("deep.onnx", [UInt8](try ONNXProtobuf.encode(model)))
        let error = expectError(ModelFileError.self) { _ = try ModelFiles.load(path) }
        #expect(error?.reason == "not a valid ONNX model: messages nested more than 32 deep")
    }

    /// Bit flips and byte substitutions over a valid file: each mutant loads or fails with one error naming the file;
    /// none crashes or hangs (each load is timed).
    @Test func mutantsLoadOrFailCleanly() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: ONNXFixtures.path("ts17_gelu_silu_mish.onnx")))
        let folder = try TemporaryFolder()
        var generator = SeededGenerator(state: 0x6F6E_6E78)
        var outcomes = (loaded: 0, refused: 0)
        var slowest = 0.0
        for round in 0..<600 {
            var bytes = [UInt8](original)
            for _ in 0..<(1 + round % 3) {
                let index = Int(generator.next() % UInt64(bytes.count))
                if round % 2 == 0 { bytes[index] ^= UInt8(1 << (generator.next() % 8)) } else { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
            }
            let path = try folder.write("mutant.onnx", bytes)
            let start = Date()
            do {
                let document = try ONNXImporter.read(path: path, limits: LoadLimits())
                #expect(!document.architecture.layers.isEmpty)
                outcomes.loaded += 1
            } catch {
                #expect(error.file == path)
                #expect(!error.reason.isEmpty)
                outcomes.refused += 1
            }
            slowest = max(slowest, Date().timeIntervalSince(start))
        }
        #expect(outcomes.loaded + outcomes.refused == 600)
        #expect(outcomes.refused > 100 && outcomes.loaded > 10, "\(outcomes)")
        #expect(slowest < 2, "slowest mutant took \(slowest) s")
    }
}
