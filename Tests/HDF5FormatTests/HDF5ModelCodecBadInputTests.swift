import CCRC32C
import CHDF5
import Foundation
import Testing
import HDF5Support
import MLPDocument
import MLPModelFiles
import FormatSupport
@testable import HDF5Format
import TestSupport

// Files that are not mlpconv models, or whose contents are corrupt or do not hold together.
@Suite("HDF5 model codec: bad inputs")
struct HDF5ModelCodecBadInputTests {
    @Test("empty, non-HDF5, truncated files and HDF5 files that are not mlpconv models")
    func notModels() throws {
        let folder = try TemporaryFolder()
        let empty = try folder.write("empty.h5", [])
        #expect(readError(empty) == "model.h5: not a model file (the file is empty)")
        let text = try folder.write("text.h5", Array("{\"format\": \"mlpconv-model\"}\n".utf8))
        #expect(readError(text) == "model.h5: not an HDF5 file (file signature not found)")
        #expect(readError(folder.path("missing.h5")) == "model.h5: no such file")

        let (path, _) = try writeSample(folder)
        let bytes = try fileBytes(path)
        for fraction in [2, 4] {
            let truncated = try folder.write("truncated-\(fraction).h5", Array(bytes.prefix(bytes.count * (fraction - 1) / fraction)))
            let message = readError(truncated) ?? ""
            #expect(message.hasPrefix("model.h5: the HDF5 file is truncated (truncated file: eof = "), "\(message)")
            #expect(message.hasSuffix("): it is incomplete"), "\(message)")
        }

        // A Keras-style HDF5 file: no format attribute.
        let keras = folder.path("keras.h5")
        do {
            let file = try HDF5File.create(at: keras)
            try file.setAttribute("keras_version", .string("3.15.1"))
            try file.setAttribute("model_config", .string("{\"class_name\": \"Sequential\"}"))
            _ = try file.createDataset("model_weights/dense/dense/kernel", shape: [2, 2], values: [Float](repeating: 1, count: 4))
        }
        // The native codec on its own says it is not ours; the façade sees `model_config` and reads it as a Keras
        // file (KerasH5Reader), which finds the config incomplete.
        #expect(readError(keras) == "model.h5: not an mlpconv model (no format attribute; a Keras file?)")
        let routed = expectError(ModelFileError.self) { _ = try ModelFiles.load(keras) }
        #expect(routed?.description == "\(keras): /@model_config $.config: required key \"config\" is missing")
        let neither = folder.path("neither.h5")
        do {
            let file = try HDF5File.create(at: neither)
            try file.setAttribute("keras_version", .string("3.15.1"))
        }
        #expect(readError(neither) == "model.h5: not an mlpconv model (no format attribute; a Keras file?)")

        try tamper(path) { try $0.setAttribute("format", .string("something-else")) }
        #expect(readError(path) == "model.h5: not an mlpconv model (its format attribute is \"something-else\", expected \"mlpconv-model\")")
        try tamper(path) { try $0.setAttribute("format", .int64(1)) }
        #expect(readError(path) == "model.h5: not an mlpconv model (its format attribute is an integer, expected \"mlpconv-model\")")
        try tamper(path) {
            try $0.setAttribute("format", .string("mlpconv-model"))
            try $0.setAttribute("format_version", .int64(2))
        }
        #expect(readError(path) == "model.h5: /@format_version: the file has format version 2; this mlpconv reads up to 1: a newer mlpconv wrote it")
        try tamper(path) { try $0.setAttribute("format_version", .string("1")) }
        #expect(readError(path) == "model.h5: /@format_version: expected an integer, found a string")
    }

    /// Tensors over one read slab (4 MiB) are checksummed slab by slab as they are written and read: the stored
    /// CRC-32C is that of the whole tensor (the portable implementation, in one pass), and a byte flipped in the
    /// last slab is caught.
    @Test("a tensor larger than a read slab keeps its whole-tensor checksum, and a flip in its last slab is caught")
    func flippedByteInALargeTensor() throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 11)
        let (path, document) = try writeSample(folder, factory.document(inputWidth: 2200, units: [1000], names: ["big"]))
        let kernel = document.weights[0].kernel
        #expect(kernel.byteCount > 2 * (4 << 20))
        let file = try HDF5File.openReadOnly(at: path)
        let dataset = try file.openDataset("/weights/big/kernel")
        #expect(try dataset.attribute("crc32c") == .int64(Int64(kernel.withUnsafeBytes { CRC32C.software($0) })))
        let offset = try #require(try dataset.info().dataOffset)
        var bytes = try fileBytes(path)
        bytes[Int(offset) + kernel.byteCount - 3] ^= 0x01
        try writeBytes(path, bytes)
        let message = readError(path) ?? ""
        #expect(message.hasPrefix("model.h5: /weights/big/kernel: checksum mismatch (stored crc32c "), "\(message)")
    }

    @Test("a flipped byte in a tensor's data is caught by its checksum, naming the tensor")
    func flippedTensorByte() throws {
        let folder = try TemporaryFolder()
        let (path, document) = try writeSample(folder)
        let pristine = try fileBytes(path)
        let cases: [(object: String, tensor: Tensor)] = [
            ("/weights/dense_1/kernel", document.weights[1].kernel),
            ("/weights/dense/bias", try #require(document.weights[0].bias)),
            ("/optimizer/velocity/dense_1/bias", try #require(document.training?.optimizer.slots[1].tensors[3])),
        ]
        for (object, tensor) in cases {
            let offset = try #require(try HDF5File.openReadOnly(at: path).openDataset(object).info().dataOffset)
            var bytes = pristine
            let position = Int(offset) + tensor.byteCount / 2 + 1
            bytes[position] ^= 0x10
            try writeBytes(path, bytes)
            let stored = CRC32C.checksum(tensor)
            let computed = bytes[Int(offset)..<(Int(offset) + tensor.byteCount)].withUnsafeBytes { CRC32C.checksum($0) }
            #expect(readError(path) == "model.h5: \(object): checksum mismatch (stored crc32c \(CRC32C.hex(stored)), "
                    + "computed \(CRC32C.hex(computed))): the tensor data is corrupt")
        }
        // A compressed tensor: a flipped byte inside its chunk either breaks the gzip stream (zlib's own
        // checksum) or decodes to different data (ours); either way the message names the tensor.
        let (packed, _) = try writeSample(folder, name: "packed.h5", compress: true)
        let chunk = try HDF5Library.withHDF5 { () throws -> (offset: UInt64, size: UInt64) in
            let file = try HDF5File.openReadOnly(at: packed)
            let dataset = try file.openDataset("/weights/dense/kernel")
            #expect(try dataset.info().dataOffset == nil, "chunked: no single offset")
            var offset: [hsize_t] = [0, 0]
            var mask: UInt32 = 0
            var address: haddr_t = 0
            var size: hsize_t = 0
            let space = H5Dget_space(dataset.id)
            defer { H5Sclose(space) }
            try #require(H5Dget_chunk_info(dataset.id, space, 0, &offset, &mask, &address, &size) >= 0)
            return (UInt64(address), UInt64(size))
        }
        var bytes = try fileBytes(packed)
        bytes[Int(chunk.offset + chunk.size / 2)] ^= 0x01
        try writeBytes(packed, bytes)
        let message = readError(packed) ?? ""
        #expect(message.hasPrefix("model.h5: /weights/dense/kernel: "), "\(message)")
    }

    @Test("a changed architecture or history text is caught by its checksum")
    func changedTexts() throws {
        let folder = try TemporaryFolder()
        let (path, document) = try writeSample(folder)
        let text = DocumentJSON.architectureText(document.architecture)
        try patchBytes(path, "\"units\":3", "\"units\":4")
        let changed = text.replacingOccurrences(of: "\"units\":3", with: "\"units\":4")
        #expect(readError(path) == "model.h5: /@architecture: checksum mismatch (stored crc32c "
                + "\(CRC32C.hex(CRC32C.checksum(text))), computed \(CRC32C.hex(CRC32C.checksum(changed)))): "
                + "the architecture text is corrupt")

        let (second, _) = try writeSample(folder, name: "second.h5")
        try patchBytes(second, "\"epoch\":2", "\"epoch\":3")
        let message = readError(second) ?? ""
        #expect(message.hasPrefix("model.h5: /training/history: checksum mismatch (stored crc32c 0x"), "\(message)")
        #expect(message.hasSuffix("): the history text is corrupt"), "\(message)")

        let (third, _) = try writeSample(folder, name: "third.h5")
        try tamper(third) { file in try deleteLink(file, "weights/dense/kernel") }
        try tamper(third) { file in
            _ = try file.createDataset("weights/dense/kernel", shape: [4, 3], values: [Float](repeating: 0, count: 12))
        }
        #expect(readError(third) == "model.h5: /weights/dense/kernel@crc32c: missing: every mlpconv file stores a CRC-32C of the tensor data")
    }

    @Test("architecture contents: units ≤ 0, no layers, unknown names (with a valid checksum)")
    func architectureContents() throws {
        let folder = try TemporaryFolder()
        let (path, document) = try writeSample(folder)
        let good = DocumentJSON.architectureText(document.architecture)
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "\"units\":3", with: "\"units\":0"),
             "model.h5: /@architecture $.layers[0].units: expected a positive integer"),
            (good.replacingOccurrences(of: "\"units\":3", with: "\"units\":-3"),
             "model.h5: /@architecture $.layers[0].units: expected a positive integer"),
            ("{\"input_width\":4,\"layers\":[]}", "model.h5: /@architecture $.layers: a model needs at least one layer"),
            (good.replacingOccurrences(of: "\"input_width\":4", with: "\"input_width\":0"),
             "model.h5: /@architecture $.input_width: "),
            (good.replacingOccurrences(of: "\"relu\"", with: "\"relux\""),
             "model.h5: /@architecture $.layers[0].activation: unknown activation \"relux\"; supported: linear, relu, "),
            ("not json", "model.h5: /@architecture "),
        ]
        for (text, expected) in cases {
            try replaceArchitecture(path, text)
            let message = readError(path) ?? ""
            #expect(message.hasPrefix(expected), "\(message)")
            if text.contains("\"units\":-3") { #expect(message.contains("-3"), "\(message)") }
        }
        // Layer count mismatch: the architecture gains a layer the weights do not have.
        try replaceArchitecture(path, good.replacingOccurrences(
            of: "]}", with: ",{\"name\":\"extra\",\"units\":2,\"activation\":\"linear\"}]}"))
        #expect(readError(path) == "model.h5: /weights/extra: missing (the architecture has a layer \"extra\")")
    }

    @Test("unknown loss and optimizer names, and bad hyperparameters, name the attribute and list what is supported")
    func unknownNames() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        try tamper(path) { try $0.openGroup("training").setAttribute("loss", .string("mse2")) }
        #expect(readError(path)?.hasPrefix("model.h5: /training@loss: unknown loss \"mse2\"; supported: half_squared_error, mean_squared_error,") == true)
        try tamper(path) {
            try $0.openGroup("training").setAttribute("loss", .string("mse"))
            try $0.openGroup("optimizer").setAttribute("name", .string("adafactor"))
        }
        #expect(readError(path) == "model.h5: /optimizer@name: unknown optimizer \"adafactor\"; supported: sgd, adam, adamw, rmsprop, adagrad, nadam, adamax, lion, adadelta, ftrl, lamb, torch_sgd, torch_adam, torch_adamw, torch_rmsprop, torch_adagrad, torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.Adagrad")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("name", .string("adam"))
            try $0.openGroup("optimizer").setAttribute("rho", .double(0.9))
        }
        #expect(readError(path)?.hasPrefix("model.h5: /optimizer@rho: adam has no hyperparameter \"rho\"; it takes ") == true)
        try tamper(path) {
            let optimizer = try $0.openGroup("optimizer")
            try HDF5Library.withHDF5 { try #require(H5Adelete(optimizer.id, "rho") >= 0) }
            try optimizer.setAttribute("beta_1", .double(1.5))
        }
        #expect(readError(path) == "model.h5: /optimizer@beta_1: optimizer hyperparameter beta_1: must be in [0, 1), got 1.5")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("beta_1", .double(0.9))
            try $0.openGroup("optimizer").setAttribute("amsgrad", .int64(2))
        }
        #expect(readError(path) == "model.h5: /optimizer@amsgrad: expected 0 or 1 (a boolean hyperparameter), found an integer")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("amsgrad", .int64(0))
            try $0.openGroup("optimizer").setAttribute("iterations", .int64(-1))
        }
        #expect(readError(path) == "model.h5: /optimizer@iterations: must be ≥ 0, got -1")
        try tamper(path) {
            try $0.openGroup("optimizer").setAttribute("iterations", .int64(1))
            try $0.openGroup("training").setAttribute("random_state", .uint64s([0, 0, 0, 0]))
        }
        #expect(readError(path) == "model.h5: /training@random_state: expected 4 words, not all zero; found [0, 0, 0, 0]")
        try tamper(path) { try $0.openGroup("training").setAttribute("random_state", .int64s([1, 2, 3, 4])) }
        #expect(readError(path) == "model.h5: /training: cannot read attribute 'random_state': attribute holds int64 values, expected unsigned integers")
    }

    @Test("shapes that disagree with the architecture name both shapes")
    func shapeMismatch() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        try tamper(path) { file in
            try deleteLink(file, "weights/dense_1/kernel")
            try writeTensor(file, "weights/dense_1/kernel", shape: [3, 16], values: [Float](repeating: 0.5, count: 48))
        }
        #expect(readError(path) == "model.h5: /weights/dense_1/kernel: shape [3, 16] does not match the architecture, which needs [3, 2] (layer \"dense_1\" has 3 inputs and 2 units)")
        try tamper(path) { file in
            try deleteLink(file, "weights/dense_1/kernel")
            try writeTensor(file, "weights/dense_1/kernel", shape: [6], values: [Float](repeating: 0.5, count: 6))
        }
        #expect(readError(path) == "model.h5: /weights/dense_1/kernel: shape [6] does not match the architecture, which needs [3, 2] (layer \"dense_1\" has 3 inputs and 2 units)")
        let (second, _) = try writeSample(folder, name: "second.h5")
        try tamper(second) { file in
            try deleteLink(file, "optimizer/momentum/dense/bias")
            try writeTensor(file, "optimizer/momentum/dense/bias", shape: [4], values: [1, 2, 3, 4])
        }
        #expect(readError(second) == "model.h5: /optimizer/momentum/dense/bias: shape [4] does not match the architecture, which needs [3] (layer \"dense\" has 3 units)")
    }

    @Test("missing and unexpected tensors, layers, slots and groups, each by name")
    func missingAndUnexpected() throws {
        let folder = try TemporaryFolder()
        var index = 0
        func check(_ change: (HDF5File) throws -> Void, _ expected: String,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
            index += 1
            let (path, _) = try writeSample(folder, name: "case-\(index).h5")
            try tamper(path, change)
            #expect(readError(path, sourceLocation: sourceLocation) == expected, sourceLocation: sourceLocation)
        }
        try check({ try deleteLink($0, "weights/dense/bias") },
                  "model.h5: /weights/dense/bias: missing (layer \"dense\" has a kernel and a bias)")
        try check({ try writeTensor($0, "weights/dense/extra", shape: [1], values: [1]) },
                  "model.h5: /weights/dense/extra: unexpected dataset (layer \"dense\" has a kernel and a bias)")
        try check({ try writeTensor($0, "weights/ghost/kernel", shape: [1], values: [1]) },
                  "model.h5: /weights/ghost: unexpected group (the architecture has no layer \"ghost\")")
        try check({ try deleteLink($0, "weights/dense_1") },
                  "model.h5: /weights/dense_1: missing (the architecture has a layer \"dense_1\")")
        try check({ try deleteLink($0, "optimizer/velocity") },
                  "model.h5: /optimizer/velocity: missing (adam with these settings keeps slots momentum, velocity)")
        try check({ try writeTensor($0, "optimizer/velocity_hat/dense/kernel", shape: [1], values: [1]) },
                  "model.h5: /optimizer/velocity_hat: unexpected group (adam with these settings keeps slots momentum, velocity)")
        try check({ try deleteLink($0, "optimizer/momentum/dense_1/kernel") },
                  "model.h5: /optimizer/momentum/dense_1/kernel: missing (layer \"dense_1\" has a kernel and a bias)")
        try check({ _ = try $0.createGroup("extras") },
                  "model.h5: /extras: unexpected group (an mlpconv model holds only /weights, /optimizer, /training and /metadata)")
        try check({ try deleteLink($0, "weights") }, "model.h5: /weights: missing (every mlpconv model has it)")
        try check({ try deleteLink($0, "optimizer") },
                  "model.h5: /optimizer: missing (the file has /training; a training record needs both)")
        try check({ try deleteLink($0, "training/history") },
                  "model.h5: /training/history: missing (the history JSON text)")
        try check({ _ = try $0.createDataset("metadata/notes", shape: [1], values: [Float(1)]) },
                  "model.h5: /metadata/notes: unexpected dataset (metadata are attributes)")
        try check({ try $0.openGroup("metadata").setAttribute("count", .int64(3)) },
                  "model.h5: /metadata@count: expected a string, found an integer")
        try check({ file in
            try deleteLink(file, "weights/dense/bias")
            _ = try file.createGroup("weights/dense/bias")
        }, "model.h5: /weights/dense/bias: expected a dataset, found a group")
        try check({ file in
            try HDF5Library.withHDF5 {
                try #require(H5Lcreate_soft("/weights/dense/kernel", file.id, "weights/dense/alias",
                                            mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
            }
        }, "model.h5: /weights/dense/alias: soft link to '/weights/dense/kernel'; an mlpconv model holds no links")
        // A layer without a bias whose file has one anyway.
        var factory = DocumentFactory(seed: 1)
        let (path, _) = try writeSample(folder, factory.document(names: ["a", "b"], useBias: [false, true]), name: "nobias.h5")
        try tamper(path) { try writeTensor($0, "weights/a/bias", shape: [3], values: [1, 2, 3]) }
        #expect(readError(path) == "model.h5: /weights/a/bias: unexpected dataset (layer \"a\" has only a kernel (use_bias is false))")
    }

    @Test("writing refuses documents that do not hold together, naming the object")
    func writeRefusesInvalidDocuments() throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 1)
        var document = factory.document()
        document.weights[1].kernel = Tensor(unchecked: [3, 5], storage: .float32([Float](repeating: 0, count: 15)))
        let error = expectError(ModelFileError.self) {
            try HDF5ModelCodec.write(document, toPath: folder.path("x.h5"), file: "x.h5", options: SaveOptions())
        }
        #expect(error?.description == "x.h5: weights/dense_1/kernel: expected shape [3, 2], got [3, 5]")
        #expect(!FileManager.default.fileExists(atPath: folder.path("x.h5")))

        var metadata = factory.document(metadata: ["": "empty key"])
        let keyError = expectError(ModelFileError.self) {
            try HDF5ModelCodec.write(metadata, toPath: folder.path("y.h5"), file: "y.h5", options: SaveOptions())
        }
        #expect(keyError?.description == "y.h5: /metadata: metadata key \"\" cannot be an HDF5 attribute name (empty or contains NUL)")
        metadata.metadata = ["note": "a\u{0}b"]
        let valueError = expectError(ModelFileError.self) {
            try HDF5ModelCodec.write(metadata, toPath: folder.path("z.h5"), file: "z.h5", options: SaveOptions())
        }
        #expect(valueError?.description == "z.h5: /metadata: cannot write attribute 'note': string contains a NUL byte")
    }
}
