import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing
import TestSupport

/// One case per validation rule (SafetensorsContainer's and SafetensorsCodec's doc comments), each with the exact
/// message. The hostile files are in fixtures/safetensors/bad/ (generate_safetensors.py; the reference reader's
/// own verdict on each is in reference_verdicts.json: it refuses all but duplicate_keys, where it keeps the last
/// entry, and unsupported_dtype, which is valid safetensors that mlpconv cannot use).
struct SafetensorsBadInputTests {
    static let cases: [(file: String, object: String?, reason: String)] = [
        ("truncated", nil, "not a model file (neither HDF5, JSON, safetensors, ONNX nor a zip archive; starts with @\\x00\\x00\\x00\\x00)"),
        ("header_too_large", "header", "header length 100000001 is over safetensors' limit of 100000000 bytes"),
        ("header_past_end", "header", "header length 4096 runs past the end of the file (60 bytes after the length)"),
        ("invalid_json", "header $.a.dtype", "unexpected end of input (truncated?) (line 1, column 25)"),
        ("invalid_utf8", "header $", "invalid UTF-8 (json-c: invalid utf-8 string) at byte 0xFF (line 1, column 3)"),
        ("not_an_object", nil, "not a model file (neither HDF5, JSON, safetensors, ONNX nor a zip archive; starts with \\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00)"),
        ("overlapping_offsets", "tensor \"b\"", "invalid data_offsets [8, 24]: overlaps the previous tensor, which ends at 16"),
        ("hole", "tensor \"b\"", "invalid data_offsets [20, 36]: leaves a hole: the previous tensor ends at 16"),
        ("gap_at_end", "header", "the tensors end at byte 16 of the data but the file has 24 bytes after the header (8 not covered)"),
        ("data_truncated", "header", "the tensors end at byte 16 of the data but the file has only 12 bytes after the header (truncated)"),
        ("wrong_byte_length", "tensor \"a\"", "data_offsets [0, 12] hold 12 bytes, but shape [2, 2] of F32 needs 16"),
        ("unknown_dtype", "header $.a.dtype", "unknown dtype \"F33\"; safetensors defines BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64"),
        ("unsupported_dtype", "tensor \"0.weight\"", "dtype I32 is not supported (mlpconv reads F32, F64, F16 and BF16 tensors, and I64 only for a BatchNorm's num_batches_tracked)"),
        ("negative_shape", "header $.a.shape[0]", "expected a dimension ≥ 0, found -1"),
        ("huge_shape", "tensor \"a\"", "shape [4611686018427387904, 4] of F32 has more bytes than can be addressed"),
        ("duplicate_keys", "header $.a", "duplicate key \"a\" (json-c would keep only the last value) (line 1, column 58)"),
        ("metadata_not_string_map", "header $.__metadata__.format", "metadata values must be strings, found an integer"),
        ("offsets_not_pair", "header $.a.data_offsets", "expected [begin, end], found 1 numbers"),
    ]

    @Test("every hostile file is refused with its message", arguments: cases.map(\.file))
    func refused(name: String) throws {
        let expected = try #require(Self.cases.first { $0.file == name })
        let path = SafetensorsExpectations.path("bad/\(name).safetensors")
        let error = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(path, options: LoadOptions(activations: [.relu]))
        }
        #expect(error.file == path)
        #expect(error.object == expected.object, "\(name)")
        #expect(error.reason == expected.reason, "\(name)")
    }

    @Test("every hostile file has a case") func everyFileHasACase() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: SafetensorsExpectations.path("bad"))
            .filter { $0.hasSuffix(".safetensors") }.map { String($0.dropLast(".safetensors".count)) }
        #expect(Set(files) == Set(Self.cases.map(\.file)))
    }

    /// Limits: a tensor over `maxTensorBytes`, and the total over `maxTotalBytes`.
    @Test("tensors over the load limits are refused before they are decoded") func limits() throws {
        let path = SafetensorsExpectations.path("relu_softmax.safetensors")
        let options = LoadOptions(activations: [.relu, .relu, .softmax])
        let tensor = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(path, limits: LoadLimits(maxTensorBytes: 100), options: options)
        }
        #expect(tensor.description == "\(path): tensor \"0.weight\": 128 bytes exceed the limit of 100 per tensor")
        let total = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(path, limits: LoadLimits(maxTotalBytes: 300), options: options)
        }
        #expect(total.description == "\(path): tensor \"2.weight\": the tensors up to this one take 376 bytes, over the limit of 300")
    }

    /// Tensors that are not one chain of modules, or not a module's, are refused naming them.
    @Test("state dicts that are not a Sequential chain are refused naming the tensors") func notAChain() throws {
        let folder = try TemporaryFolder()
        func file(_ tensors: [(String, [Int])]) throws -> String {
            var items: [SafetensorsContainerItem] = []
            for (name, shape) in tensors { items.append(.init(name: name, shape: shape)) }
            return try folder.write("\(UUID().uuidString).safetensors", SafetensorsContainerItem.file(items))
        }
        let broken = try file([("0.weight", [8, 4]), ("0.bias", [8]), ("2.weight", [3, 5]), ("2.bias", [3])])
        let brokenError = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(broken, options: LoadOptions(activations: [.relu, .linear]))
        }
        #expect(brokenError.description == "\(broken): 2.bias, 2.weight: does not continue the chain of widths after 0 (width 8): it takes 5 inputs; the tensors do not form one Sequential chain")
        let odd = try file([("0.weight", [8, 4]), ("0.kernel", [8])])
        let oddError = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(odd, options: LoadOptions(activations: [.relu]))
        }
        #expect(oddError.description == "\(odd): 0.kernel, 0.weight: not a Linear, BatchNorm1d or LayerNorm module's tensors (shapes: 0.kernel [8], 0.weight [8, 4])")
        let cycle = try file([("a.weight", [8, 4]), ("b.weight", [4, 8])])
        let cycleError = try #require(throws: ModelFileError.self) {
            try ModelFiles.load(cycle, options: LoadOptions(activations: [.relu, .relu]))
        }
        #expect(cycleError.description == "\(cycle): a.weight, b.weight: ambiguous layer order: every Linear's input width is another's output width and the names are not Sequential indices (2 distinct widths)")
    }

    /// Bit flips and byte substitutions over a valid file: every mutant loads or fails with one error naming the
    /// file; none crashes or hangs.
    @Test("mutants load or fail with one error naming the file") func mutants() throws {
        let source = SafetensorsExpectations.path("normalization.safetensors")
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: source)))
        let folder = try TemporaryFolder()
        var random = RandomGenerator(seed: 12)
        var loaded = 0, refused = 0
        let options = LoadOptions(activations: [.relu, .gelu, .tanh, .linear, .linear])
        for index in 0..<600 {
            var bytes = original
            let position = index < 300 ? random.nextInt(below: min(bytes.count, 900)) : random.nextInt(below: bytes.count)
            if index % 2 == 0 { bytes[position] ^= UInt8(1 << random.nextInt(below: 8)) } else {
                bytes[position] = UInt8(random.nextInt(below: 256))
            }
            let path = try folder.write("m\(index).safetensors", bytes)
            do {
                _ = try ModelFiles.load(path, options: options)
                loaded += 1
            } catch {
                #expect(error.file == path)
                #expect(!error.description.contains("\n"))
                refused += 1
            }
        }
        #expect(loaded + refused == 600)
        print("safetensors mutants: \(loaded) loaded, \(refused) refused")
        #expect(refused > 100 && loaded > 100, "loaded \(loaded), refused \(refused)")
    }
}

extension SafetensorsBadInputTests {
    /// The same over a file mlpconv wrote, whose header carries the architecture and training texts, with its
    /// optimizer file beside it: a mutant of the tensor bytes loads without its training record (the digest no
    /// longer matches), a mutant of the texts loads or is refused naming the file.
    @Test("mutants of an mlpconv-written file load or fail with one error naming the file") func mlpconvMutants() throws {
        let folder = try TemporaryFolder()
        let source = folder.path("source.safetensors")
        let document = try SafetensorsRoundTripTests.trainedDocument()
        try ModelFiles.save(document, to: source, format: .safetensors)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: source)))
        let optimizer = try Data(contentsOf: URL(fileURLWithPath: folder.path("source.optimizer.safetensors")))
        var random = RandomGenerator(seed: 13)
        var loaded = 0, withTraining = 0, refused = 0
        for index in 0..<400 {
            var bytes = original
            let position = random.nextInt(below: bytes.count)
            bytes[position] ^= UInt8(1 << random.nextInt(below: 8))
            let path = try folder.write("m\(index).safetensors", bytes)
            try optimizer.write(to: URL(fileURLWithPath: folder.path("m\(index).optimizer.safetensors")))
            do {
                let mutant = try ModelFiles.load(path)
                loaded += 1
                if mutant.training != nil { withTraining += 1 }
            } catch {
                #expect(error.file == path || error.file == folder.path("m\(index).optimizer.safetensors"))
                #expect(!error.description.contains("\n"))
                refused += 1
            }
        }
        print("safetensors mlpconv mutants: \(loaded) loaded (\(withTraining) with their training record), \(refused) refused")
        #expect(loaded + refused == 400 && refused > 50 && loaded > 50)
    }
}

/// A float32 tensor of zeros for hand-made state dicts, written with the container writer.
struct SafetensorsContainerItem {
    var name: String
    var shape: [Int]

    static func file(_ items: [SafetensorsContainerItem]) -> [UInt8] {
        var header = "{"
        var offset = 0
        for (index, item) in items.enumerated() {
            let bytes = item.shape.reduce(4, *)
            header += (index == 0 ? "" : ",") + "\"\(item.name)\":{\"dtype\":\"F32\",\"shape\":\(item.shape),\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        var length = UInt64(header.utf8.count)
        var file: [UInt8] = []
        for _ in 0..<8 { file.append(UInt8(length & 0xFF)); length >>= 8 }
        return file + Array(header.utf8) + [UInt8](repeating: 0, count: offset)
    }
}
