import CHDF5
import Foundation
import FormatSupport
import HDF5Format
import HDF5Support
import MLPDocument
import MLPModelFiles
import Testing
import ZIPFoundation
import ZipSupport

// The bad-input catalogue of docs/robustness.md, as a user meets it: every class gets a crafted file, made from a
// valid template by one precise mutation, and the real `mlpconv` binary runs on it with the command a user would
// use. Each case must end with exit status 2 (not a signal, not 0 or 1), one line on stderr naming the file, the
// object inside it and the reason, the input files byte for byte as they were, and no file left behind (no
// output, no temporary file). The library-level suites (JSONFormatTests, HDF5FormatTests, KerasFormatTests,
// MLPDataFilesTests) test the messages in depth; this suite checks that the command line keeps that promise.

// MARK: - The valid templates

/// A hand-written native JSON model (no checksum fields, as a person would write it): 4 inputs, a relu layer of 2,
/// a softmax layer of 3, SGD with momentum state, history, random state and metadata. Every mutation below replaces
/// a substring that occurs exactly once.
private let templateJSON = #"""
    {
      "format": "mlpconv-model",
      "format_version": 1,
      "architecture": {"input_width": 4, "layers": [
        {"name": "hidden", "units": 2, "activation": "relu"},
        {"name": "out", "units": 3, "activation": "softmax"}]},
      "weights": {
        "hidden": {"kernel": {"dtype": "float32", "shape": [4, 2], "data": [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]},
                   "bias": {"dtype": "float32", "shape": [2], "data": [0.01, -0.02]}},
        "out": {"kernel": {"dtype": "float32", "shape": [2, 3], "data": [0.25, -0.5, 0.75, -1, 1.25, -1.5]},
                "bias": {"dtype": "float32", "shape": [3], "data": [0, 0.125, -0.125]}}
      },
      "training": {
        "loss": "categorical_crossentropy",
        "optimizer": {"name": "sgd", "hyperparameters": {"learning_rate": 0.01, "momentum": 0.9}, "iterations": 5,
                      "slots": {"momentum": {"hidden/kernel": {"dtype": "float32", "shape": [4, 2], "data": [1, 2, 3, 4, 5, 6, 7, 8]},
                                             "hidden/bias": {"dtype": "float32", "shape": [2], "data": [1, 2]},
                                             "out/kernel": {"dtype": "float32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]},
                                             "out/bias": {"dtype": "float32", "shape": [3], "data": [1, 2, 3]}}}},
        "epochs_completed": 1,
        "random_state": ["0123456789abcdef", "0000000000000002", "0000000000000003", "0000000000000004"],
        "history": [{"epoch": 1, "metrics": {"loss": 0.5}}]
      },
      "metadata": {"description": "catalogue template"}
    }
    """#

private let hiddenKernel = #""shape": [4, 2], "data": [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]"#

/// Training data for the template: four features and a class label in 0..<3, with a header row.
private let templateCSV = "f0,f1,f2,f3,label\n0.5,-1,2,0,0\n1,1,1,1,2\n-0.5,0.25,0,1,1\n"

/// The failure a crafting step reports when the template no longer holds what a mutation expects.
private struct CraftingFailed: Error, CustomStringConvertible {
    var description: String
}

/// `text` with `old` (which must occur exactly once) replaced by `new`.
private func replacing(_ old: String, with new: String, in text: String) throws -> String {
    let parts = text.components(separatedBy: old)
    guard parts.count == 2 else { throw CraftingFailed(description: "\(old) occurs \(parts.count - 1) times") }
    return parts.joined(separator: new)
}

private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
private func write(_ data: Data, _ path: String) throws { try data.write(to: URL(fileURLWithPath: path)) }

// MARK: - Running a case

/// What a crafted case runs, and what must hold afterwards besides the message.
private struct Run {
    var arguments: [String]
    /// The file the message must name.
    var named: String
    /// Files that must be byte-identical after the run.
    var inputs: [String]
    /// Writes limited to this many KiB (`ulimit -f`, SIGXFSZ ignored): a disk that fills up.
    var writeLimitKiB: Int?
}

/// One catalogue case: the class number starts the label.
struct CatalogueCase: CustomTestStringConvertible, Sendable {
    var label: String
    fileprivate var craft: @Sendable (Scratch) throws -> Run
    /// What follows "FILE: " in the message (a JSON path, HDF5 path, zip member, CSV line and column), or nil when
    /// the message is about the file as a whole.
    var object: String?
    /// Text the reason must contain.
    var reason: String
    var testDescription: String { label }

    fileprivate init(_ label: String, object: String?, reason: String, craft: @escaping @Sendable (Scratch) throws -> Run) {
        self.label = label
        self.object = object
        self.reason = reason
        self.craft = craft
    }
}

private struct Outcome {
    var status: Int32
    var signalled: Bool
    var stderr: String
}

/// Runs `mlpconv` (through bash when writes are limited) and reports a signal apart from an exit status.
private func execute(_ run: Run, in folder: String) throws -> Outcome {
    let process = Process()
    if let limit = run.writeLimitKiB {
        let quoted = ([mlpconvPath] + run.arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "trap '' XFSZ; ulimit -f \(limit); exec " + quoted.joined(separator: " ")]
    } else {
        process.executableURL = URL(fileURLWithPath: mlpconvPath)
        process.arguments = run.arguments
    }
    process.currentDirectoryURL = URL(fileURLWithPath: folder)
    let err = Pipe()
    process.standardOutput = FileHandle.nullDevice
    process.standardError = err
    try process.run()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                   stderr: String(decoding: stderr, as: UTF8.self))
}

/// Every file under `folder`, hidden ones (temporary files) included.
private func listing(_ folder: URL) -> Set<String> {
    Set((FileManager.default.enumerator(atPath: folder.path)?.allObjects as? [String]) ?? [])
}

private func check(_ testCase: CatalogueCase) throws {
    let scratch = try Scratch()
    let run = try testCase.craft(scratch)
    let before = try run.inputs.map(bytes)
    let files = listing(scratch.url)
    let outcome = try execute(run, in: scratch.url.path)

    #expect(!outcome.signalled && outcome.status == 2,
            "\(outcome.signalled ? "signal" : "status") \(outcome.status): \(outcome.stderr.prefix(600))")
    #expect(outcome.stderr.hasSuffix("\n") && outcome.stderr.filter { $0 == "\n" }.count == 1,
            "not one line: \(outcome.stderr.prefix(600))")
    let line = outcome.stderr.split(separator: "\n").first.map(String.init) ?? ""
    let prefix = "mlpconv: \(run.named): "
    #expect(line.hasPrefix(prefix), "does not name \(run.named): \(line)")
    let rest = line.hasPrefix(prefix) ? String(line.dropFirst(prefix.count)) : line
    if let object = testCase.object {
        #expect(rest.hasPrefix(object + ":") || rest.hasPrefix(object + " "), "does not name \(object): \(line)")
    }
    #expect(rest.contains(testCase.reason), "reason lacks \"\(testCase.reason)\": \(line)")

    for (path, content) in zip(run.inputs, before) {
        #expect(try bytes(path) == content, "\(path) changed")
    }
    let added = listing(scratch.url).subtracting(files)
    #expect(added.isEmpty, "left behind: \(added.sorted())")
}

// MARK: - Crafting: native JSON

private func jsonModel(_ scratch: Scratch, _ text: String, name: String = "model.json") throws -> String {
    let path = scratch.path(name)
    try write(Data(text.utf8), path)
    return path
}

/// `inspect` on the template with each `old` replaced by its `new`.
private func json(_ label: String, _ replacements: [(String, String)], _ object: String, _ reason: String) -> CatalogueCase {
    CatalogueCase(label + " (JSON)", object: object, reason: reason) { scratch in
        var text = templateJSON
        for (old, new) in replacements { text = try replacing(old, with: new, in: text) }
        let path = try jsonModel(scratch, text)
        return Run(arguments: ["inspect", path], named: path, inputs: [path])
    }
}

private func json(_ label: String, _ old: String, _ new: String, _ object: String, _ reason: String) -> CatalogueCase {
    json(label, [(old, new)], object, reason)
}

/// `inspect` on raw bytes (text that cannot be a Swift string, or no JSON at all).
private func file(_ label: String, name: String, _ content: @escaping @Sendable () throws -> Data, _ object: String?,
                  _ reason: String) -> CatalogueCase {
    CatalogueCase(label, object: object, reason: reason) { scratch in
        let path = scratch.path(name)
        try write(try content(), path)
        return Run(arguments: ["inspect", path], named: path, inputs: [path])
    }
}

// MARK: - Crafting: native HDF5

/// The template converted to the native HDF5 layout by the library (checksums and all).
private func h5Model(_ scratch: Scratch, name: String = "model.h5", text: String = templateJSON) throws -> String {
    let source = try jsonModel(scratch, text, name: "source-\(name).json")
    let path = scratch.path(name)
    try ModelFiles.save(try ModelFiles.load(source), to: path, format: .h5)
    try FileManager.default.removeItem(atPath: source)
    return path
}

/// `inspect` on the HDF5 template after `tamper` changed it through the HDF5 wrapper.
private func h5(_ label: String, _ object: String?, _ reason: String,
                _ tamper: @escaping @Sendable (HDF5File) throws -> Void) -> CatalogueCase {
    CatalogueCase(label + " (HDF5)", object: object, reason: reason) { scratch in
        let path = try h5Model(scratch)
        do {
            let file = try HDF5File.openReadWrite(at: path)
            try tamper(file)
        }
        return Run(arguments: ["inspect", path], named: path, inputs: [path])
    }
}

/// Replaces the architecture text and its checksum together, so only the content is wrong.
private func setArchitecture(_ file: HDF5File, _ edit: (String) throws -> String) throws {
    let text = try edit(try file.stringAttribute("architecture"))
    try file.setAttribute("architecture", .string(text))
    try file.setAttribute("architecture_crc32c", .uint32(CRC32C.checksum(text)))
}

private func deleteLink(_ file: HDF5File, _ path: String) throws {
    try HDF5Library.withHDF5 {
        guard H5Ldelete(file.id, path, mlp_H5P_DEFAULT()) >= 0 else { throw CraftingFailed(description: "delete \(path)") }
    }
}

/// A float32 dataset with a correct CRC-32C, as the writer would store it.
private func writeTensor(_ file: HDF5File, _ path: String, shape: [Int], values: [Float]) throws {
    let dataset = try file.createDataset(path, shape: shape, values: values)
    try dataset.setAttribute("crc32c", .uint32(values.withUnsafeBytes { CRC32C.checksum($0) }))
}

/// A dataset made with raw calls: any type, declared shape and storage (the wrapper only writes honest ones).
private func rawDataset(_ file: HDF5File, _ path: String, type: hid_t, shape: [hsize_t], chunk: [hsize_t]? = nil,
                        gzip: Bool = false, data: UnsafeRawPointer? = nil, configure: (hid_t) -> Void = { _ in }) throws {
    try HDF5Library.withHDF5 {
        let space = H5Screate_simple(Int32(shape.count), shape, nil)
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(mlp_H5P_DATASET_CREATE())
        defer { H5Pclose(dcpl) }
        if let chunk { H5Pset_chunk(dcpl, Int32(chunk.count), chunk) }
        if gzip { H5Pset_deflate(dcpl, 9) }
        configure(dcpl)
        let id = H5Dcreate2(file.id, path, type, space, mlp_H5P_DEFAULT(), dcpl, mlp_H5P_DEFAULT())
        guard id >= 0 else { throw CraftingFailed(description: "create \(path)") }
        defer { H5Dclose(id) }
        if let data { H5Dwrite(id, type, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), data) }
        let scalar = H5Screate(H5S_SCALAR)
        defer { H5Sclose(scalar) }
        let attribute = H5Acreate2(id, "crc32c", mlp_H5T_STD_U32LE(), scalar, mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT())
        defer { H5Aclose(attribute) }
        var zero: UInt32 = 0
        H5Awrite(attribute, mlp_H5T_NATIVE_UINT32(), &zero)
    }
}

// MARK: - Crafting: Keras

/// The template saved by the library as a `.keras` archive, and its members.
private func kerasMembers(_ scratch: Scratch) throws -> [(name: String, data: Data)] {
    let source = try jsonModel(scratch, templateJSON, name: "source.json")
    let path = scratch.path("source.keras")
    try ModelFiles.save(try ModelFiles.load(source), to: path, format: .keras)
    let reader = try ZipReader(try bytes(path), maxEntries: 100)
    // Copied out of the reader's buffer: a slice's indices do not start at 0.
    let members = try reader.entries.map { ($0.name, Data([UInt8](try reader.contents(of: $0, cap: 1 << 26)))) }
    for made in [source, path] { try FileManager.default.removeItem(atPath: made) }
    return members
}

/// `inspect` on a `.keras` archive rebuilt (stored, by ZipSupport's writer) from the template's members after
/// `edit` changed the list.
private func keras(_ label: String, _ object: String?, _ reason: String,
                   _ edit: @escaping @Sendable (inout [(name: String, data: Data)]) throws -> Void) -> CatalogueCase {
    CatalogueCase(label + " (.keras)", object: object, reason: reason) { scratch in
        var members = try kerasMembers(scratch)
        try edit(&members)
        let path = scratch.path("model.keras")
        let zip = StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000))
        try write(zip.archive(members.map { StoredZip.Member(name: $0.name, data: $0.data) }), path)
        return Run(arguments: ["inspect", path], named: path, inputs: [path])
    }
}

/// The member `name`'s text with `old` replaced by `new`.
private func editMember(_ members: inout [(name: String, data: Data)], _ name: String, _ old: String, _ new: String) throws {
    guard let index = members.firstIndex(where: { $0.name == name }) else {
        throw CraftingFailed(description: "no member \(name)")
    }
    let text = String(decoding: members[index].data, as: UTF8.self)
    let first = try #require(text.range(of: old), "\(old) not in \(name)")
    members[index].data = Data(text.replacingCharacters(in: first, with: new).utf8)
}

// MARK: - Crafting: data files and outputs

/// `finetune` or `predict` of the JSON template on a data file with `content`.
private func data(_ label: String, command: String, name: String = "data.csv", _ content: String, _ object: String?,
                  _ reason: String) -> CatalogueCase {
    CatalogueCase(label, object: object, reason: reason) { scratch in
        let model = try jsonModel(scratch, templateJSON)
        let path = scratch.path(name)
        try write(Data(content.utf8), path)
        let output = scratch.path(command == "finetune" ? "trained.json" : "predictions.csv")
        let arguments = command == "finetune"
            ? ["finetune", model, "--data", path, "--epochs", "1", "--output", output, "--quiet"]
            : ["predict", model, "--data", path, "--output", output]
        return Run(arguments: arguments, named: path, inputs: [model, path])
    }
}

// MARK: - The catalogue

@Suite("The bad-input catalogue, through the command line")
struct BadInputCatalogueTests {
    @Test("the templates themselves are valid in every format")
    func templatesAreValid() throws {
        let scratch = try Scratch()
        let json = try jsonModel(scratch, templateJSON)
        let h5 = try h5Model(scratch)
        let keras = scratch.path("model.keras")
        try ModelFiles.save(try ModelFiles.load(json), to: keras, format: .keras)
        for path in [json, h5, keras] {
            let result = try mlpconv(["inspect", path])
            #expect(result.status == 0, "\(path): \(result.stderr)")
        }
        let data = scratch.path("data.csv")
        try write(Data(templateCSV.utf8), data)
        let trained = try mlpconv(["finetune", json, "--data", data, "--epochs", "1", "--output", scratch.path("t.json"), "--quiet"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(try mlpconv(["predict", json, "--data", data]).status == 0)
    }

    // 1–2: not a model file; truncated.
    static let notModels: [CatalogueCase] = [
        file("1: empty file", name: "empty.json", { Data() }, nil, "not a model file (the file is empty)"),
        file("1: plain text", name: "notes.h5", { Data("hello, world\n".utf8) }, nil,
             "not a model file (neither HDF5, JSON"),
        file("1: another JSON document", name: "other.json", { Data(#"{"class_name": "Sequential"}"#.utf8) }, "$.format",
             "not an mlpconv model document"),
        json("1: newer format version", #""format_version": 1"#, #""format_version": 2"#, "$.format_version",
             "format version 2 is newer than this mlpconv reads"),
        h5("1: newer format version", "/@format_version", "a newer mlpconv wrote it") { file in
            try file.setAttribute("format_version", .int64(2))
        },
        file("2: truncated", name: "model.json", { Data(templateJSON.utf8.prefix(templateJSON.utf8.count / 2)) }, nil,
             "unexpected end of input (truncated?)"),
        CatalogueCase("2: truncated (HDF5)", object: nil, reason: "the HDF5 file is truncated") { scratch in
            let path = try h5Model(scratch)
            let whole = try bytes(path)
            try write(whole.prefix(whole.count / 2), path)
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
        keras("2: truncated", "model.weights.h5", "not a readable HDF5 file: truncated") { members in
            guard let index = members.firstIndex(where: { $0.name == "model.weights.h5" }) else { return }
            members[index].data = members[index].data.prefix(members[index].data.count / 2)
        },
        CatalogueCase("2: truncated zip (.keras)", object: nil, reason: "no end-of-central-directory record") { scratch in
            let path = scratch.path("model.keras")
            let json = try jsonModel(scratch, templateJSON)
            try ModelFiles.save(try ModelFiles.load(json), to: path, format: .keras)
            try FileManager.default.removeItem(atPath: json)
            let whole = try bytes(path)
            try write(whole.prefix(whole.count * 3 / 4), path)
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
    ]

    @Test(arguments: notModels) func notAModelOrTruncated(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 3–4: flipped bytes in HDF5 metadata (attributes) and in weight data.
    static let flips: [CatalogueCase] = [
        CatalogueCase("3: metadata flip that crashes HDF5 1.10.8 (HDF5)", object: nil,
                      reason: "the HDF5 library crashed (signal 11) while reading this file; its metadata is corrupt") { scratch in
            let path = scratch.path("model.h5")
            try FileManager.default.copyItem(atPath: badFixtures.appendingPathComponent("hdf5-flipped-metadata-segfault-1.h5").path,
                                             toPath: path)
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
        // Attribute values and names lie outside the tensors' checksums (issue 15, item 10): a flipped byte in the
        // top byte of /optimizer@iterations (5 → 0x3E00000000000005), a flipped bit in the momentum (0.9's lowest
        // mantissa bit), a flipped bit in the name `random_state` (→ `random_statd`). One CRC-32C covers the
        // attributes of /, /metadata, /optimizer and /training together, so a changed value is reported at the
        // checksum attribute itself; an unknown name is refused where it is.
        h5("3: flipped byte in /optimizer@iterations", "/@attributes_crc32c", "checksum") { file in
            try file.openGroup("optimizer").setAttribute("iterations", .int64(0x3E00_0000_0000_0005))
        },
        h5("3: flipped bit in /optimizer@momentum", "/@attributes_crc32c", "checksum") { file in
            try file.openGroup("optimizer").setAttribute("momentum", .double(Double(bitPattern: 0.9.bitPattern ^ 1)))
        },
        h5("3: flipped bit in the name /training@random_state", "/training@random_statd", "unexpected attribute") { file in
            try HDF5Library.withHDF5 {
                let training = try file.openGroup("training")
                guard H5Arename(training.id, "random_state", "random_statd") >= 0 else {
                    throw CraftingFailed(description: "rename random_state")
                }
            }
        },
        CatalogueCase("4: flipped byte in weight data (HDF5)", object: "/weights/out/kernel",
                      reason: "checksum mismatch") { scratch in
            let path = try h5Model(scratch)
            let offset = try #require(try HDF5File.openReadOnly(at: path).openDataset("/weights/out/kernel").info().dataOffset)
            var content = try bytes(path)
            content[Int(offset) + 5] ^= 0x10
            try write(content, path)
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
        CatalogueCase("4: flipped byte in a zip member (.keras)", object: "model.weights.h5", reason: "CRC-32 mismatch") { scratch in
            let members = try kerasMembers(scratch)
            var archive = StoredZip(modified: Date(timeIntervalSince1970: 1_700_000_000))
                .archive(members.map { StoredZip.Member(name: $0.name, data: $0.data) })
            // A stored member's bytes follow its 30-byte local header and name; flip one in the middle of the weights.
            let entry = try #require(try ZipReader(archive, maxEntries: 10).entries.first { $0.name == "model.weights.h5" })
            let start = Int(entry.localHeaderOffset) + 30 + entry.name.utf8.count
            archive[start + Int(entry.compressedSize) / 2] ^= 0x01
            let path = scratch.path("model.keras")
            try write(archive, path)
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
    ]

    @Test(arguments: flips) func flippedBytes(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 5–7, 9: shapes, missing and extra tensors, declared sizes, widths and layer counts.
    static let structure: [CatalogueCase] = [
        json("5: kernel shape", hiddenKernel, #""shape": [64, 32], "data": [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]"#,
             "$.weights.hidden.kernel.shape", "shape [64, 32] does not match the architecture"),
        h5("5: kernel shape", "/weights/out/kernel",
           "shape [3, 16] does not match the architecture, which needs [2, 3]") { file in
            try deleteLink(file, "weights/out/kernel")
            try writeTensor(file, "weights/out/kernel", shape: [3, 16], values: [Float](repeating: 0.5, count: 48))
        },
        CatalogueCase("5: kernel shape (Keras .h5)", object: "/model_weights/hidden/sgd_relu_softmax/hidden/kernel",
                      reason: "shape [4, 9] does not match the architecture, which needs [4, 8]") { scratch in
            let path = scratch.path("model.h5")
            try FileManager.default.copyItem(atPath: kerasBadFixture("kernel_shape_mismatch.h5"), toPath: path)
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
        json("6: missing bias", #",\#n               "bias": {"dtype": "float32", "shape": [2], "data": [0.01, -0.02]}"#, "",
             "$.weights.hidden.bias", "missing tensor \"bias\""),
        json("6: unexpected tensor", #""data": [0, 0.125, -0.125]}"#, #""data": [0, 0.125, -0.125]}, "gamma": 1"#,
             "$.weights.out.gamma", "unexpected tensor \"gamma\""),
        h5("6: missing bias", "/weights/hidden/bias", "missing") { file in try deleteLink(file, "weights/hidden/bias") },
        h5("6: unexpected tensor", "/weights/hidden/extra", "unexpected dataset") { file in
            try writeTensor(file, "weights/hidden/extra", shape: [1], values: [1])
        },
        keras("6: missing weights file", "model.weights.h5", "missing from the archive") { members in
            members.removeAll { $0.name == "model.weights.h5" }
        },
        json("7: 1e6 × 1e6 kernel declared",
             [(#""input_width": 4"#, #""input_width": 1000000"#), (#""units": 2"#, #""units": 1000000"#),
              (hiddenKernel, #""shape": [1000000, 1000000], "data": "AAAA""#)],
             "$.weights.hidden.kernel.shape", "over the limit of 8589934592 bytes per tensor"),
        h5("7: 1e6 × 1e6 kernel declared", "/weights/hidden/kernel", "over the limit of 8589934592 bytes per tensor") { file in
            try setArchitecture(file) {
                try replacing(#""units":2"#, with: #""units":1000000"#, in: try replacing(#""input_width":4"#, with: #""input_width":1000000"#, in: $0))
            }
            try deleteLink(file, "weights/hidden/kernel")
            try rawDataset(file, "weights/hidden/kernel", type: mlp_H5T_IEEE_F32LE(), shape: [1_000_000, 1_000_000],
                           chunk: [1000, 1000], gzip: true)
        },
        json("9: units 0", #""units": 2"#, #""units": 0"#, "$.architecture.layers[0].units", "expected a positive integer, got 0"),
        json("9: units -3", #""units": 2"#, #""units": -3"#, "$.architecture.layers[0].units", "expected a positive integer, got -3"),
        json("9: input width 0", #""input_width": 4"#, #""input_width": 0"#, "$.architecture.input_width",
             "expected a positive integer, got 0"),
        json("9: zero layers", [(#"{"name": "hidden", "units": 2, "activation": "relu"},"#, ""),
                                (#"{"name": "out", "units": 3, "activation": "softmax"}"#, "")],
             "$.architecture.layers", "a model needs at least one layer"),
        h5("9: units 0", "/@architecture $.layers[0].units", "expected a positive integer") { file in
            try setArchitecture(file) { try replacing(#""units":2"#, with: #""units":0"#, in: $0) }
        },
        h5("9: zero layers", "/@architecture $.layers", "a model needs at least one layer") { file in
            try setArchitecture(file) { _ in #"{"input_width":4,"layers":[]}"# }
        },
        h5("9: a layer the weights do not have", "/weights/extra", "missing (the architecture has a layer \"extra\")") { file in
            try setArchitecture(file) {
                try replacing("]}", with: #",{"name":"extra","units":2,"activation":"linear"}]}"#, in: $0)
            }
        },
    ]

    @Test(arguments: structure) func shapesTensorsAndWidths(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 8, 10–12: compression bombs, dtypes, non-finite weights, unknown names.
    static let contents: [CatalogueCase] = [
        // 40000 × 40000 float32 (6.4 GB, under the per-tensor cap) declared with one small gzip chunk stored.
        h5("8: compression bomb", "/weights/hidden/kernel", "more than gzip can expand to") { file in
            try setArchitecture(file) {
                try replacing(#""units":2"#, with: #""units":40000"#, in: try replacing(#""input_width":4"#, with: #""input_width":40000"#, in: $0))
            }
            try deleteLink(file, "weights/hidden/kernel")
            var zeros = [Float](repeating: 0, count: 1000 * 1000)
            try HDF5Library.withHDF5 {
                let space = H5Screate_simple(2, [40_000, 40_000], nil)
                defer { H5Sclose(space) }
                let dcpl = H5Pcreate(mlp_H5P_DATASET_CREATE())
                defer { H5Pclose(dcpl) }
                H5Pset_chunk(dcpl, 2, [1000, 1000])
                H5Pset_deflate(dcpl, 9)
                let id = H5Dcreate2(file.id, "weights/hidden/kernel", mlp_H5T_IEEE_F32LE(), space, mlp_H5P_DEFAULT(), dcpl,
                                    mlp_H5P_DEFAULT())
                guard id >= 0 else { throw CraftingFailed(description: "create the bomb") }
                defer { H5Dclose(id) }
                let chunk = H5Screate_simple(2, [1000, 1000], nil)
                defer { H5Sclose(chunk) }
                H5Sselect_hyperslab(space, H5S_SELECT_SET, [0, 0], nil, [1000, 1000], nil)
                H5Dwrite(id, mlp_H5T_NATIVE_FLOAT(), chunk, space, mlp_H5P_DEFAULT(), &zeros)
            }
        },
        json("10: int32 dtype", #""dtype": "float32", "shape": [2], "data": [0.01"#, #""dtype": "int32", "shape": [2], "data": [0.01"#,
             "$.weights.hidden.bias.dtype", "unsupported dtype \"int32\""),
        json("10: float16 dtype", #""dtype": "float32", "shape": [2], "data": [0.01"#, #""dtype": "float16", "shape": [2], "data": [0.01"#,
             "$.weights.hidden.bias.dtype", "unsupported dtype \"float16\""),
        h5("10: int32 dataset", "/weights/hidden/bias", "unsupported dtype int32") { file in
            try deleteLink(file, "weights/hidden/bias")
            try rawDataset(file, "weights/hidden/bias", type: mlp_H5T_STD_I32LE(), shape: [2])
        },
        h5("10: string dataset", "/weights/hidden/bias", "unsupported dtype variable-length string") { file in
            try deleteLink(file, "weights/hidden/bias")
            _ = try file.createStringDataset("weights/hidden/bias", text: "1.5")
        },
        nonFinite("11: NaN weight, finetune (JSON)", format: .json),
        nonFinite("11: NaN weight, finetune (HDF5)", format: .h5),
        json("12: unknown activation", #""activation": "relu""#, #""activation": "swishy""#,
             "$.architecture.layers[0].activation", "unknown activation \"swishy\"; supported: linear, relu,"),
        json("12: unknown loss", #""loss": "categorical_crossentropy""#, #""loss": "hingy""#, "$.training.loss",
             "unknown loss \"hingy\"; supported: "),
        json("12: unknown optimizer", #""name": "sgd""#, #""name": "adafactor""#, "$.training.optimizer.name",
             "unknown optimizer \"adafactor\"; supported: sgd, adam,"),
        h5("12: unknown activation", "/@architecture $.layers[0].activation", "unknown activation \"relux\"; supported: linear, relu,") { file in
            try setArchitecture(file) { try replacing(#""relu""#, with: #""relux""#, in: $0) }
        },
        keras("12: unknown activation", "config.json $.config.layers[1].config.activation", "unknown activation \"swishy\"; supported: linear, relu,") { members in
            try editMember(&members, "config.json", #""activation":"relu""#, #""activation":"swishy""#)
        },
    ]

    @Test(arguments: contents) func bombsDtypesAndNames(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 13–21: JSON syntax and values.
    static let jsonText: [CatalogueCase] = [
        json("13: duplicate key", #""units": 2,"#, #""units": 2, "units": 4,"#, "$.architecture.layers[0].units",
             "duplicate key \"units\""),
        json("14: deep nesting", #""description": "catalogue template""#,
             #""description": "# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
             "$.metadata.description" + String(repeating: "[0]", count: 14), "nesting deeper than 16 levels"),
        // A sparse file of 16 GiB + 1 byte: refused from its size, before a byte is read.
        CatalogueCase("15: file over the size cap (JSON)", object: nil, reason: "exceeds the limit of 17179869184 bytes") { scratch in
            let path = try jsonModel(scratch, "{")
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: (16 << 30) + 1)
            try handle.close()
            return Run(arguments: ["inspect", path], named: path, inputs: [])
        },
        json("16: 1e400", hiddenKernel, #""shape": [4, 2], "data": [0.1, 1e400, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]"#,
             "$.weights.hidden.kernel.data[1]", "number 1e400 overflows a 64-bit float"),
        json("16: float32 weight 1e39", hiddenKernel, #""shape": [4, 2], "data": [0.1, -0.2, 1e39, -0.4, 0.5, -0.6, 0.7, -0.8]"#,
             "$.weights.hidden.kernel.data[2]", "number 1e39 overflows a 32-bit float"),
        json("16: integer beyond Int64", #""iterations": 5"#, #""iterations": 9223372036854775808"#,
             "$.training.optimizer.iterations", "outside the Int64 range"),
        json("17: NaN literal", hiddenKernel, #""shape": [4, 2], "data": [0.1, NaN, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]"#,
             "$.weights.hidden.kernel.data[1]", "NaN is not a JSON number"),
        json("17: Infinity literal", #""loss": 0.5"#, #""loss": Infinity"#, "$.training.history[0].metrics.loss",
             "Infinity is not a JSON number"),
        file("18: invalid UTF-8 (JSON)", name: "model.json", {
            let text = try replacing("catalogue template", with: "\u{1}", in: templateJSON)
            var raw = Data(text.utf8)
            let index = try #require(raw.firstIndex(of: 0x01))
            raw.replaceSubrange(index...index, with: [0x62, 0xC3, 0x28])
            return raw
        }, "$.metadata.description", "invalid UTF-8"),
        json("18: lone surrogate", #""name": "out""#, #""name": "o\ud800""#, "$.architecture.layers[1].name",
             "lone surrogate"),
        file("19: trailing garbage (JSON)", name: "model.json", { Data((templateJSON + " x").utf8) }, "$",
             "data after the end of the document"),
        file("19: two documents (JSON)", name: "model.json", { Data((templateJSON + templateJSON).utf8) }, "$",
             "data after the end of the document"),
        json("19: trailing comma", #""relu"},"#, #""relu",},"#, "$.architecture.layers[0].activation", "unexpected character"),
        json("19: comment", #""iterations": 5,"#, #""iterations": 5, /* resumed */"#, "$.training.optimizer.iterations", "at '/'"),
        json("19: single quotes", #""loss": "categorical_crossentropy""#, #""loss": 'categorical_crossentropy'"#,
             "$.training.loss", "unexpected character"),
        json("20: weights as strings", hiddenKernel, #""shape": [4, 2], "data": ["1.5", -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]"#,
             "$.weights.hidden.kernel.data[0]", "expected a number, found a string (\"1.5\")"),
        json("20: units as a string", #""units": 2"#, #""units": "2""#, "$.architecture.layers[0].units",
             "expected an integer, found a string (\"2\")"),
        json("21: NUL in a key", #""description": "catalogue"#, #""descr\u0000iption": "catalogue"#, "$.metadata",
             "object key contains U+0000"),
        json("21: NUL in a layer name", #""name": "out""#, #""name": "o\u0000ut""#, "$.architecture.layers[1].name",
             "string contains U+0000"),
    ]

    @Test(arguments: jsonText) func jsonSyntaxAndValues(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 22–24: hostile `.keras` archives and configurations.
    static let kerasArchives: [CatalogueCase] = [
        keras("22: zip slip member ../evil", "zip member \"../evil\"", "(zip slip)") { members in
            members.append((name: "../evil", data: Data("x".utf8)))
        },
        keras("22: absolute member name", "zip member \"/tmp/evil\"", "an absolute path") { members in
            members.append((name: "/tmp/evil", data: Data("x".utf8)))
        },
        keras("22: zip slip in a known name", "zip member \"../config.json\"", "(zip slip)") { members in
            members.append((name: "../config.json", data: Data("{}".utf8)))
        },
        CatalogueCase("22: symbolic link member (.keras)", object: "zip member \"link\"", reason: "a symbolic link") { scratch in
            let members = try kerasMembers(scratch)
            let path = scratch.path("model.keras")
            let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
            for (name, content) in members {
                try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(content.count)) { position, size in
                    content.subdata(in: Int(position)..<Int(position) + size)
                }
            }
            let target = Data("/etc/passwd".utf8)
            try archive.addEntry(with: "link", type: .symlink, uncompressedSize: Int64(target.count)) { position, size in
                target.subdata(in: Int(position)..<Int(position) + size)
            }
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
        keras("23: over 1000 entries", nil, "1004 entries, over the limit of 1000") { members in
            for index in 0..<1001 { members.append((name: "padding/\(index)", data: Data())) }
        },
        CatalogueCase("23: zip bomb (.keras)", object: "config.json", reason: "uncompressed, over the limit of 16777216 bytes") { scratch in
            // config.json followed by 17 MiB of spaces (still valid JSON), deflated to a few kB: over its 16 MiB cap.
            let members = try kerasMembers(scratch)
            let path = scratch.path("model.keras")
            let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
            for (name, original) in members {
                let content = name == "config.json" ? original + Data(repeating: 0x20, count: 17 << 20) : original
                try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(content.count),
                                     compressionMethod: .deflate) { position, size in
                    content.subdata(in: Int(position)..<Int(position) + size)
                }
            }
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
        keras("24: Lambda layer", "config.json $.config.layers[1].class_name", "Lambda layer \"hidden\" is refused") { members in
            try editMember(&members, "config.json", #""class_name":"Dense""#, #""class_name":"Lambda""#)
        },
        keras("24: layer from a foreign module", "config.json $.config.layers[1].module", "a layer from module \"evil.layers\" is refused") { members in
            try editMember(&members, "config.json", #""module":"keras.layers","class_name":"Dense""#,
                           #""module":"evil.layers","class_name":"Dense""#)
        },
        keras("24: registered custom class", "config.json $.config.layers[1].class_name", "class Custom>Dense is not supported") { members in
            try editMember(&members, "config.json", #""class_name":"Dense""#, #""class_name":"Custom>Dense""#)
        },
    ]

    @Test(arguments: kerasArchives) func hostileKerasFiles(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 25–26: HDF5 storage that reaches other files; a file not closed cleanly.
    static let hdf5Storage: [CatalogueCase] = [
        CatalogueCase("25: external link (HDF5)", object: "/weights/hidden/kernel", reason: "external links are refused") { scratch in
            let path = try h5Model(scratch)
            let other = try h5Model(scratch, name: "other.h5")
            do {
                let file = try HDF5File.openReadWrite(at: path)
                try deleteLink(file, "weights/hidden/kernel")
                try HDF5Library.withHDF5 {
                    guard H5Lcreate_external(other, "/weights/hidden/kernel", file.id, "weights/hidden/kernel",
                                             mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0 else {
                        throw CraftingFailed(description: "external link")
                    }
                }
            }
            return Run(arguments: ["inspect", path], named: path, inputs: [path, other])
        },
        CatalogueCase("25: external raw storage (HDF5)", object: "/weights/hidden/kernel",
                      reason: "external raw storage is refused") { scratch in
            let path = try h5Model(scratch)
            let raw = scratch.path("raw.bin")
            try write(Data(count: 32), raw)
            do {
                let file = try HDF5File.openReadWrite(at: path)
                try deleteLink(file, "weights/hidden/kernel")
                try rawDataset(file, "weights/hidden/kernel", type: mlp_H5T_IEEE_F32LE(), shape: [4, 2]) { dcpl in
                    H5Pset_external(dcpl, raw, 0, 32)
                }
            }
            return Run(arguments: ["inspect", path], named: path, inputs: [path, raw])
        },
        CatalogueCase("25: virtual dataset (HDF5)", object: "/weights/hidden/kernel", reason: "virtual dataset") { scratch in
            let path = try h5Model(scratch)
            let other = try h5Model(scratch, name: "other.h5")
            do {
                let file = try HDF5File.openReadWrite(at: path)
                try deleteLink(file, "weights/hidden/kernel")
                try HDF5Library.withHDF5 {
                    let space = H5Screate_simple(2, [4, 2], nil)
                    defer { H5Sclose(space) }
                    try rawDataset(file, "weights/hidden/kernel", type: mlp_H5T_IEEE_F32LE(), shape: [4, 2]) { dcpl in
                        H5Pset_virtual(dcpl, space, other, "/weights/hidden/kernel", space)
                    }
                }
            }
            return Run(arguments: ["inspect", path], named: path, inputs: [path, other])
        },
        CatalogueCase("26: superblock marked open for write (HDF5)", object: nil, reason: "the file was not closed cleanly") { scratch in
            // HDF5 1.10 marks superblock v3 files while a writer holds them; a copy taken then is what a crash leaves.
            let live = scratch.path("live.h5"), path = scratch.path("model.h5")
            try HDF5Library.withHDF5 {
                let fapl = H5Pcreate(mlp_H5P_FILE_ACCESS())
                defer { H5Pclose(fapl) }
                H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110)
                let id = H5Fcreate(live, mlp_H5F_ACC_TRUNC(), mlp_H5P_DEFAULT(), fapl)
                guard id >= 0 else { throw CraftingFailed(description: "create \(live)") }
                defer { H5Fclose(id) }
                H5Fflush(id, H5F_SCOPE_GLOBAL)
                try FileManager.default.copyItem(atPath: live, toPath: path)
            }
            try FileManager.default.removeItem(atPath: live)
            return Run(arguments: ["inspect", path], named: path, inputs: [path])
        },
    ]

    @Test(arguments: hdf5Storage) func hdf5StorageElsewhere(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 27: data files for training and prediction.
    static let dataFiles: [CatalogueCase] = [
        data("27: ragged row, predict", command: "predict", "f0,f1,f2,f3,label\n1,2,3,4,0\n1,2,3\n", "line 3",
             "3 columns, expected 5"),
        data("27: non-numeric cell, finetune", command: "finetune", "f0,f1,f2,f3,label\n1,2,3,4,0\n1,x,3,4,1\n",
             "line 3, column 2", "'x' is not a number"),
        data("27: label out of range, finetune", command: "finetune", "f0,f1,f2,f3,label\n1,2,3,4,0\n1,2,3,4,7\n",
             "line 3, column 5", "class label 7 is out of range"),
        data("27: feature count differs from the model's inputs, predict", command: "predict", "a,b,c\n1,2,3\n", "line 1",
             "3 columns; the model takes 4 inputs"),
        // A typo in the first row (issue 15, item 9): a mixed row is neither a header nor data.
        data("27: typo in the first row, finetune", command: "finetune", "1,2,3O,4,0\n1,2,3,4,1\n0,1,0,1,2\n",
             "line 1, column 3", "'3O' is not a number"),
        data("27: NUL in a cell, predict", command: "predict", "f0,f1,f2,f3\n1,2,\u{0}3,4\n", "line 2, column 3", "\\x00"),
    ]

    @Test(arguments: dataFiles) func badDataFiles(_ testCase: CatalogueCase) throws { try check(testCase) }

    // 28: output path problems.
    static let outputs: [CatalogueCase] = [
        CatalogueCase("28: output exists, no --force (convert)", object: nil, reason: "--force") { scratch in
            let model = try jsonModel(scratch, templateJSON)
            let target = scratch.path("existing.h5")
            try write(Data("keep me\n".utf8), target)
            return Run(arguments: ["convert", model, target], named: target, inputs: [model, target])
        },
        CatalogueCase("28: output folder missing (convert)", object: nil, reason: "does not exist") { scratch in
            let model = try jsonModel(scratch, templateJSON)
            let target = scratch.path("missing/model.h5")
            return Run(arguments: ["convert", model, target], named: target, inputs: [model])
        },
        CatalogueCase("28: output is a folder (convert)", object: nil, reason: "directory") { scratch in
            let model = try jsonModel(scratch, templateJSON)
            let target = scratch.path("folder")
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
            return Run(arguments: ["convert", model, target, "--force", "--to", "h5"], named: target, inputs: [model])
        },
        // An output that is one of the inputs (issue 15, item 8): refused with or without --force. (`convert FILE
        // FILE --force`, an in-place conversion, and `finetune FILE --output FILE`, resuming, stay allowed.)
        finetuneOutput("28: --plot is the model (finetune)", reason: "--plot is the model") { model, _ in ["--plot", model] },
        finetuneOutput("28: --plot is the data (finetune)", reason: "--plot is the training data") { _, data in ["--plot", data] },
        // The disk fills up during an HDF5 write (issue 15, item 2): a write limit of 100 KiB, an 800 kB model.
        CatalogueCase("28: disk full during an HDF5 write (convert)", object: nil, reason: "File too large") { scratch in
            let model = scratch.path("big.json")
            let made = try mlpconv(["init", model, "--inputs", "200", "--layer", "1000:relu", "--layer", "3:softmax"])
            guard made.status == 0 else { throw CraftingFailed(description: made.stderr) }
            let target = scratch.path("big.h5")
            return Run(arguments: ["convert", model, target], named: target, inputs: [model], writeLimitKiB: 100)
        },
    ]

    @Test(arguments: outputs) func outputPaths(_ testCase: CatalogueCase) throws { try check(testCase) }
}

/// A committed hostile Keras file (fixtures/keras/bad, described by its generator).
private func kerasBadFixture(_ name: String) -> String {
    badFixtures.deletingLastPathComponent().appendingPathComponent("keras/bad").appendingPathComponent(name).path
}

/// `finetune` of a model whose first kernel value is NaN (base64 data in JSON; converted by the library for HDF5):
/// refused unless `--allow-nonfinite` is given. The tensor is named as training names parameters, whatever the format.
private func nonFinite(_ label: String, format: ModelFormat) -> CatalogueCase {
    CatalogueCase(label, object: "hidden/kernel", reason: "holds 1 NaN or infinite values; refusing to train on them (--allow-nonfinite") { scratch in
        let values: [Float] = [.nan, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]
        let base64 = values.withUnsafeBytes { Data($0) }.base64EncodedString()
        let text = try replacing(hiddenKernel, with: #""shape": [4, 2], "data": ""# + base64 + "\"", in: templateJSON)
        let model = format == .json ? try jsonModel(scratch, text) : try h5Model(scratch, text: text)
        let data = scratch.path("data.csv")
        try write(Data(templateCSV.utf8), data)
        return Run(arguments: ["finetune", model, "--data", data, "--epochs", "1", "--output", scratch.path("t.json"), "--quiet"],
                   named: model, inputs: [model, data])
    }
}

/// `finetune` of the JSON template with extra output options that name one of its inputs; the message names that
/// path.
private func finetuneOutput(_ label: String, reason: String,
                            _ options: @escaping @Sendable (_ model: String, _ data: String) -> [String]) -> CatalogueCase {
    CatalogueCase(label, object: nil, reason: reason) { scratch in
        let model = try jsonModel(scratch, templateJSON)
        let data = scratch.path("data.csv")
        try write(Data(templateCSV.utf8), data)
        let extra = options(model, data)
        return Run(arguments: ["finetune", model, "--data", data, "--epochs", "1", "--output", scratch.path("t.json"), "--quiet"] + extra,
                   named: extra[1], inputs: [model, data])
    }
}
