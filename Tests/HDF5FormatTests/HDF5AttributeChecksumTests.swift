import CHDF5
import Foundation
import MLPCore
import Testing
import HDF5Support
import MLPDocument
@testable import HDF5Format
import TestSupport

// Attributes outside the tensor and text checksums (issue 15, item 10): a flipped byte changed
// /optimizer@iterations from 4 to 4467570830351532036, or beta_2, or the name random_state (then ignored, so
// finetune reseeded), and the file loaded. /@attributes_crc32c now covers every attribute of /, /metadata,
// /optimizer and /training, and an attribute the layout does not define is refused.
@Suite("HDF5 attribute checksum")
struct HDF5AttributeChecksumTests {
    func adamSample(_ folder: TemporaryFolder, name: String = "model.h5") throws -> (String, ModelDocument) {
        var factory = DocumentFactory(seed: 11)
        let document = factory.document(names: ["dense", "dense_1"], optimizer: OptimizerConfig(.adam, learningRate: 0.01),
                                        iterations: 4, history: sampleHistory, metadata: ["description": "sample"])
        return try writeSample(folder, document, name: name)
    }

    func expectAttributeMismatch(_ path: String, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        let message = readError(path, sourceLocation: sourceLocation) ?? ""
        #expect(message.hasPrefix("model.h5: /@attributes_crc32c: checksum mismatch (stored crc32c 0x"), "\(comment): \(message)",
                sourceLocation: sourceLocation)
        #expect(message.hasSuffix("): an attribute of /, /metadata, /optimizer, /training (its name or value) is corrupt"),
                "\(comment): \(message)", sourceLocation: sourceLocation)
    }

    @Test("a changed value that passes every other check is caught")
    func changedValues() throws {
        let folder = try TemporaryFolder()
        let changes: [(String, (HDF5File) throws -> Void)] = [
            ("iterations", { try $0.openGroup("optimizer").setAttribute("iterations", .int64(4_467_570_830_351_532_036)) }),
            ("beta_2", { try $0.openGroup("optimizer").setAttribute("beta_2", .double(0.998)) }),
            ("epochs_completed", { try $0.openGroup("training").setAttribute("epochs_completed", .int64(3)) }),
            ("random_state", { try $0.openGroup("training").setAttribute("random_state", .uint64s([1, 2, 3, 4])) }),
            ("metadata", { try $0.openGroup("metadata").setAttribute("description", .string("sbmple")) }),
            ("format_version", { try $0.setAttribute("format_version", .int64(1)) }),  // same value: must still load
        ]
        for (index, (name, change)) in changes.enumerated() {
            let (path, document) = try adamSample(folder, name: "m\(index).h5")
            try tamper(path, change)
            if name == "format_version" {
                #expect(try HDF5ModelCodec.read(path: path, file: "model.h5", limits: LoadLimits()) == document)
            } else {
                expectAttributeMismatch(path, "\(name)")
            }
        }
    }

    @Test("a flipped byte in an attribute's name makes it unknown, and unknown attributes are refused")
    func unknownAttributes() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try adamSample(folder)
        try patchBytes(path, "random_state", "rbndom_state")
        #expect(readError(path) == "model.h5: /training@rbndom_state: unexpected attribute (it has epochs_completed, loss, "
                + "random_state in an mlpconv model)")

        let cases: [(String, (HDF5File) throws -> Void, String)] = [
            ("root", { try $0.setAttribute("note", .string("x")) },
             "model.h5: /@note: unexpected attribute (it has architecture, architecture_crc32c, attributes_crc32c, format, format_version in an mlpconv model)"),
            ("tensor", { try $0.openDataset("weights/dense/kernel").setAttribute("scale", .double(2)) },
             "model.h5: /weights/dense/kernel@scale: unexpected attribute (it has crc32c in an mlpconv model)"),
            ("slot tensor", { try $0.openDataset("optimizer/momentum/dense/bias").setAttribute("crc32d", .uint32(0)) },
             "model.h5: /optimizer/momentum/dense/bias@crc32d: unexpected attribute (it has crc32c in an mlpconv model)"),
            ("layer group", { try $0.openGroup("weights/dense_1").setAttribute("x", .int64(1)) },
             "model.h5: /weights/dense_1@x: unexpected attribute (it has none in an mlpconv model)"),
            ("history", { try $0.openDataset("training/history").setAttribute("x", .int64(1)) },
             "model.h5: /training/history@x: unexpected attribute (it has crc32c in an mlpconv model)"),
        ]
        for (index, (name, change, expected)) in cases.enumerated() {
            let (path, _) = try adamSample(folder, name: "c\(index).h5")
            try tamper(path, change)
            #expect(readError(path) == expected, "\(name)")
        }
    }

    @Test("a file without the attribute checksum (written before it existed) loads; one the writer wrote carries it")
    func olderFilesLoad() throws {
        let folder = try TemporaryFolder()
        let (path, document) = try adamSample(folder)
        #expect(try HDF5File.openReadOnly(at: path).hasAttribute("attributes_crc32c"))
        #expect(try HDF5ModelCodec.read(path: path, file: "model.h5", limits: LoadLimits()) == document)
        try tamper(path) { file in
            try HDF5Library.withHDF5 { try #require(H5Adelete(file.id, "attributes_crc32c") >= 0) }
        }
        #expect(try HDF5ModelCodec.read(path: path, file: "model.h5", limits: LoadLimits()) == document)
    }
}
