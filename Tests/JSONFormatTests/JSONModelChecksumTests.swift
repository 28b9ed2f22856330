import Foundation
import MLPCore
import MLPDocument
import JSONSupport
import TestSupport
import Testing
@testable import JSONFormat

/// The CRC-32C each tensor carries in a JSON model file (`"crc32c"`: the checksum of its values' little-endian bytes,
/// whatever the text encoding): a value changed in the text is an error naming the tensor, and a file without the
/// field (written before it existed, or edited by hand) still loads.
@Suite("JSON model files: per-tensor CRC-32C")
struct JSONModelChecksumTests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Weights and Adam's two slots, one layer in float32 and one in float64, filled with awkward values.
    private static func sampleDocument() throws -> ModelDocument {
        let model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .relu, name: "hidden"),
                                                             LayerSpec(2, .softmax, name: "out")],
                                     loss: .categoricalCrossentropy, optimizer: OptimizerConfig(.adam), seed: 3)
        var document = ModelDocument(model: model)
        var random = RandomGenerator(seed: 15)
        let dtypes: [Tensor.DType] = [.float32, .float64]
        document.weights = zip(document.weights, dtypes).map { weights, dtype in
            ModelDocument.LayerWeights(kernel: awkwardTensor(weights.kernel.shape, dtype, random: &random),
                                       bias: weights.bias.map { awkwardTensor($0.shape, dtype, random: &random) })
        }
        let parameterDTypes = document.parameterTensors.map(\.dtype)
        let slots = document.training?.optimizer.slots ?? []
        document.training?.optimizer.slots = slots.map { slot in
            .init(name: slot.name, tensors: zip(slot.tensors, parameterDTypes).map { awkwardTensor($0.shape, $1, random: &random) })
        }
        try document.validate()
        return document
    }

    /// Every tensor's bytes, weights then slots: what "the same values" means here (bit for bit, -0.0 and NaN too).
    private static func tensorBytes(_ document: ModelDocument) -> [[UInt8]] {
        (document.variableTensors + (document.training?.optimizer.slots.flatMap(\.tensors) ?? []))
            .map { tensor in tensor.withUnsafeBytes { [UInt8]($0) } }
    }

    /// Each tensor's JSON path and the range of its `data` value's text, in the order the writer writes them.
    private static func tensorData(in bytes: [UInt8], of document: ModelDocument) -> [(path: String, range: Range<Int>)] {
        var paths: [String] = []
        for (index, layer) in document.architecture.layers.enumerated() {
            for variable in document.architecture.variables(ofLayer: index) {
                paths.append(JSONPath.root.appending("weights").appending(layer.name).appending(variable.name).description)
            }
        }
        for slot in document.training?.optimizer.slots ?? [] {
            for name in document.parameterNames {
                paths.append(JSONPath.root.appending("training").appending("optimizer").appending("slots")
                    .appending(slot.name).appending(name).description)
            }
        }
        let key = Array(#""data": "#.utf8)
        var ranges: [Range<Int>] = []
        var position = 0
        while position + key.count <= bytes.count {
            guard bytes[position..<(position + key.count)].elementsEqual(key) else { position += 1; continue }
            let start = position + key.count
            let close = bytes[start] == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "\"")
            let end = (bytes[(start + 1)...].firstIndex(of: close) ?? bytes.count - 1) + 1
            ranges.append(start..<end)
            position = end
        }
        #expect(ranges.count == paths.count)
        return Array(zip(paths, ranges).map { (path: $0, range: $1) })
    }

    /// The replacements tried at one byte of tensor data, each keeping the text valid JSON: another digit, a sign
    /// turned into a space or the other sign, another base64 character.
    private static func replacements(of byte: UInt8, base64: Bool) -> [UInt8] {
        if base64 {
            guard let index = base64Alphabet.firstIndex(of: byte) else { return [] }
            return [base64Alphabet[(index + 1) % 64], base64Alphabet[(index + 32) % 64]]
        }
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            let digit = byte - UInt8(ascii: "0")
            return [(digit + 1) % 10, (digit + 7) % 10].map { $0 + UInt8(ascii: "0") }
        case UInt8(ascii: "-"): return [UInt8(ascii: " ")]
        case UInt8(ascii: "+"): return [UInt8(ascii: "-")]
        default: return []
        }
    }

    /// The text with every `"crc32c": "…", ` member removed, as someone editing the file by hand is told to do.
    private static func withoutChecksums(_ bytes: [UInt8]) throws -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self)
        return Array(text.replacing(try Regex(#""crc32c": "[0-9a-f]{8}", "#), with: "").utf8)
    }

    /// The single-byte changes of issue 15: every replacement at every byte of every tensor's data either fails
    /// with an error naming the file, or reads back the values written. When the change gives other valid values,
    /// the error is the checksum mismatch at that tensor's path.
    @Test("every single-byte change in tensor data is an error or changes nothing", arguments: [JSONTensorEncoding.array, .base64])
    func everySingleByteChangeIsCaught(encoding: JSONTensorEncoding) throws {
        let document = try Self.sampleDocument()
        let expected = Self.tensorBytes(document)
        let bytes = try encodeJSON(document, encoding, name: "checksums-\(encoding.rawValue)")
        var mutants = 0, caught = 0
        var silent: [String] = []
        for (path, range) in Self.tensorData(in: bytes, of: document) {
            for position in range {
                for replacement in Self.replacements(of: bytes[position], base64: encoding == .base64) {
                    var mutant = bytes
                    mutant[position] = replacement
                    mutants += 1
                    do throws(ModelFileError) {
                        if Self.tensorBytes(try decodeJSON(mutant, file: "model.json")) != expected {
                            silent.append("\(path) byte \(position - range.lowerBound) → \(Character(Unicode.Scalar(replacement)))")
                        }
                    } catch {
                        #expect(error.file == "model.json")
                        // Without its checksums the change reads as other, valid values: only the checksum stood in its way.
                        guard let unchecked = try? decodeJSON(try Self.withoutChecksums(mutant)),
                              Self.tensorBytes(unchecked) != expected else { continue }
                        caught += 1
                        #expect(error.object == path && error.reason.hasPrefix("checksum mismatch (stored crc32c 0x"),
                                "byte \(position) of \(path): \(error)")
                    }
                }
            }
        }
        #expect(silent.isEmpty, "\(silent.count) of \(mutants) changes load other values, first \(silent.prefix(3))")
        #expect(mutants > 500)
        #expect(caught > mutants / 4, "\(caught) of \(mutants) changes were caught by a checksum")
    }

    /// The values of `JSONModelCodecRoundTripTests.shortestNumbers`; their CRCs were computed with numpy and
    /// scripts/mlpconv_crc32c.py (`crc32c(np.array([...], "<f4").tobytes())`).
    private static func smallDocument() throws -> ModelDocument {
        let architecture = ModelDocument.Architecture(inputWidth: 2, layers: [ModelDocument.Layer(name: "d", units: 3, activation: .relu)])
        let kernel = try Tensor(shape: [2, 3], float32: [0.1, -0.0, .leastNonzeroMagnitude, 3.4028235e38, 3, 0.3])
        let bias = try Tensor(shape: [3], float64: [0.1, -0.0, 1e-300])
        return ModelDocument(architecture: architecture, weights: [.init(kernel: kernel, bias: bias)])
    }

    @Test("each tensor carries the CRC-32C of its little-endian bytes, the same in every encoding",
          arguments: JSONTensorEncoding.allCases)
    func theWriterStoresEachTensorsChecksum(encoding: JSONTensorEncoding) throws {
        let written = String(decoding: try encodeJSON(try Self.smallDocument(), encoding, name: "crc-\(encoding.rawValue)"),
                             as: UTF8.self)
        #expect(written.contains(#""kernel": {"dtype": "float32", "shape": [2, 3], "crc32c": "f5f6d15d", "data": "#), "\(written)")
        #expect(written.contains(#""bias": {"dtype": "float64", "shape": [3], "crc32c": "415265cf", "data": "#), "\(written)")
    }

    @Test func aChangedValueIsReportedAtItsTensorWithWhatToDo() throws {
        let written = String(decoding: try encodeJSON(try Self.smallDocument(), .array, name: "crc-changed"), as: UTF8.self)
        let changed = written.replacingOccurrences(of: "3.4028235e+38,3.0,0.3", with: "3.4028235e+38,4.0,0.3")
        #expect(changed != written)
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(Array(changed.utf8), file: "m.json") }
        #expect(error?.description == "m.json: $.weights.d.kernel: checksum mismatch (stored crc32c 0xf5f6d15d, computed "
                + "0xe7fa3d60): the values differ from those written (the file is corrupt, or was edited by hand: "
                + "an edited tensor should drop its \"crc32c\" field)")
        // Dropping the field, as the message says, accepts the edit.
        let edited = changed.replacingOccurrences(of: #""crc32c": "f5f6d15d", "#, with: "")
        let kernel = try #require(try decodeJSON(Array(edited.utf8)).weights[0]["kernel"])
        #expect(kernel.float32Values[4] == 4)
    }

    @Test func filesWithoutChecksumsLoad() throws {
        let document = try Self.sampleDocument()
        for encoding in [JSONTensorEncoding.array, .base64] {
            let stripped = try Self.withoutChecksums(JSONModelCodec.encode(document, tensors: encoding))
            #expect(!String(decoding: stripped, as: UTF8.self).contains("crc32c"))
            #expect(Self.tensorBytes(try decodeJSON(stripped)) == Self.tensorBytes(document))
        }
        // A model written by Python before the field existed (fixtures/generate/generate_models.py).
        let fixture = Self.root.appendingPathComponent("fixtures/models/adam_relu_softmax.json").path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture)))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("crc32c"))
        #expect(try JSONModelCodec.read(path: fixture, limits: LoadLimits()).training != nil)
    }

    @Test("a checksum field that is not 8 lowercase hex digits is an error at the field",
          arguments: [#""f5f6d15""#, #""F5F6D15D""#, #""0xf5f6d15d""#, "4126593373", "null", #""f5f6d15g""#])
    func aMalformedChecksumIsAnError(stored: String) throws {
        let written = String(decoding: try encodeJSON(try Self.smallDocument(), .array, name: "crc-malformed"), as: UTF8.self)
        let malformed = written.replacingOccurrences(of: #""crc32c": "f5f6d15d""#, with: #""crc32c": "# + stored)
        // The schema refuses each of them too (scripts/interop_check.py).
        try writeInteropFile(Array(malformed.utf8), name: "crc32c-\(stored.filter(\.isLetter))-\(stored.count).json",
                             invalid: true)
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(Array(malformed.utf8), file: "m.json") }
        #expect(error?.object == "$.weights.d.kernel.crc32c", "\(String(describing: error))")
        #expect(error?.reason.contains("8 lowercase hex digits") == true, "\(String(describing: error))")
    }
}
