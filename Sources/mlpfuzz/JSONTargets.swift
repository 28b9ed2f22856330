import Foundation
import JSONFormat
import JSONSupport
import KerasFormat
import MLPCore
import MLPDocument

let jsonTargets: [FuzzTarget] = [
    FuzzTarget(name: "json-audit", summary: "the hardened JSON front end (audit pass, json-c, bulk number and string reads)",
               run: fuzzJSONAudit),
    FuzzTarget(name: "json-model", summary: "the native JSON model codec: decode, validate, encode, decode again",
               run: fuzzJSONModel),
    FuzzTarget(name: "keras-config", summary: "a .keras config.json: the model and compile configuration readers",
               run: fuzzKerasConfig),
]

/// Small enough that inputs stay fast, large enough for every construct the readers know.
let fuzzLoadLimits = LoadLimits(maxFileBytes: 1 << 20, maxTensorBytes: 1 << 20, maxTotalBytes: 4 << 20)

// MARK: - JSON front end

/// A parsed JSON value as plain data, to compare two parses and to write one back.
private indirect enum Tree: Equatable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([Tree]), object([(String, Tree)])

    static func == (a: Tree, b: Tree) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.integer(x), .integer(y)): x == y
        // Bit patterns: -0 and 0 must not be confused, and the audit refuses NaN, but a NaN must not hide a mismatch.
        case let (.number(x), .number(y)): x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): Array(x.utf8) == Array(y.utf8)
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// Reads `value` whole; bulk arrays (left out of json-c's tree) through `readNumbers`.
    init(_ value: JSONValue) throws(JSONError) {
        switch value.kind {
        case .null: self = .null
        case .bool: self = .bool(try value.bool())
        case .integer: self = .integer(try value.int64())
        case .number: self = .number(try value.double())
        case .string: self = .string(try value.string())
        case .array:
            if value.bulkTextRange != nil {
                let count = try value.arrayCount()
                var numbers = [Double](repeating: 0, count: count)
                try numbers.withUnsafeMutableBufferPointer { buffer throws(JSONError) in try value.readNumbers(into: buffer) }
                self = .array(numbers.map { .number($0) })
            } else {
                var elements: [Tree] = []
                for element in try value.array() { elements.append(try Tree(element)) }
                self = .array(elements)
            }
        case .object:
            var members: [(String, Tree)] = []
            for (key, member) in try value.members() { members.append((key, try Tree(member))) }
            self = .object(members)
        }
    }

    /// The same tree with every number as a double, as a bulk read gives them; the sign of a zero is dropped
    /// (json-c reads `-0` as the integer 0, a bulk read as the double −0).
    var numbersAsDoubles: Tree {
        switch self {
        case .integer(let value): .number(Double(value))
        case .number(let value): .number(value == 0 ? 0 : value)
        case .array(let elements): .array(elements.map(\.numbersAsDoubles))
        case .object(let members): .object(members.map { ($0.0, $0.1.numbersAsDoubles) })
        default: self
        }
    }

    func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .bool(let flag): writer.bool(flag)
        case .integer(let value): writer.integer(value)
        case .number(let value): writer.number(value)
        case .string(let text): writer.string(text)
        case .array(let elements):
            writer.beginArray()
            for element in elements { element.write(to: &writer) }
            writer.endArray()
        case .object(let members):
            writer.beginObject()
            for (key, member) in members {
                writer.key(key)
                member.write(to: &writer)
            }
            writer.endObject()
        }
    }
}

private func checkJSONError(_ error: JSONError, _ target: String) {
    guard error.file == fuzzFileName, !error.reason.isEmpty else {
        violated(target, "a JSONError that does not name the file or has no reason: \(error)")
    }
}

/// The input parsed three ways: through json-c's tree, with arrays of 4+ numbers and strings of 16+ bytes read
/// from the text instead, and from the text the writer makes of the first tree. All three agree, or all refuse.
private func fuzzJSONAudit(_ bytes: UnsafeRawBufferPointer) {
    let target = "json-audit"
    let limits = JSONLimits(maxBytes: 1 << 20, maxDepth: 64)
    let bulkLimits = JSONLimits(maxBytes: 1 << 20, maxDepth: 64, bulkNumberArrays: 4, bulkStrings: 16)
    let tree: Tree
    do {
        tree = try Tree(try JSONDocument.parse(bytes, file: fuzzFileName, limits: limits).root)
    } catch {
        checkJSONError(error, target)
        do {
            _ = try Tree(try JSONDocument.parse(bytes, file: fuzzFileName, limits: bulkLimits).root)
            violated(target, "refused with json-c's tree (\(error)) but accepted with bulk values")
        } catch { checkJSONError(error, target) }
        return
    }
    let bulkTree: Tree
    do { bulkTree = try Tree(try JSONDocument.parse(bytes, file: fuzzFileName, limits: bulkLimits).root) } catch {
        violated(target, "accepted with json-c's tree but refused with bulk values: \(error)")
    }
    guard bulkTree.numbersAsDoubles == tree.numbersAsDoubles else {
        violated(target, "bulk values read differently from json-c's tree")
    }
    var writer = JSONWriter()
    tree.write(to: &writer)
    let written = writer.finish()
    let reread: Tree
    do {
        reread = try written.withUnsafeBytes { raw throws(JSONError) in
            try Tree(try JSONDocument.parse(raw, file: fuzzFileName, limits: limits).root)
        }
    } catch {
        violated(target, "the writer's text of an accepted value is refused: \(error)")
    }
    guard reread == tree else { violated(target, "the writer's text reads back as a different value") }
}

// MARK: - JSON model codec

func checkModelFileError(_ error: ModelFileError, _ target: String, file: String = fuzzFileName) {
    guard error.file == file, !error.reason.isEmpty, error.object.map({ !$0.isEmpty }) ?? true else {
        violated(target, "an error that does not name the file, or has an empty object or reason: \(error)")
    }
}

func checkValid(_ document: ModelDocument, _ target: String) {
    do { try document.validate() } catch { violated(target, "an accepted document fails validation: \(error)") }
}

/// Decode; an accepted document is valid, and in both tensor encodings it encodes to text that decodes to a
/// document encoding to the same text.
private func fuzzJSONModel(_ bytes: UnsafeRawBufferPointer) {
    let target = "json-model"
    let document: ModelDocument
    do { document = try JSONModelCodec.decode(bytes, file: fuzzFileName, limits: fuzzLoadLimits) } catch {
        checkModelFileError(error, target)
        return
    }
    checkValid(document, target)
    for encoding in [JSONTensorEncoding.array, .base64] {
        let encoded = JSONModelCodec.encode(document, tensors: encoding)
        let again: ModelDocument
        do {
            again = try encoded.withUnsafeBytes { raw throws(ModelFileError) in
                try JSONModelCodec.decode(raw, file: fuzzFileName, limits: LoadLimits())
            }
        } catch {
            violated(target, "the \(encoding) encoding of an accepted document is refused: \(error)")
        }
        guard JSONModelCodec.encode(again, tensors: encoding) == encoded else {
            violated(target, "the \(encoding) encoding does not read back as the same document")
        }
    }
}

// MARK: - Keras configuration

/// A `.keras` archive's `config.json`, as the Keras 3 and the Keras 2 readers take it: the model's layers, and
/// the compile configuration (loss, optimizer, metrics). An accepted model's architecture is valid (a document of
/// it lacks only its weights), and an accepted optimizer configuration passes the optimizer's own validation.
private func fuzzKerasConfig(_ bytes: UnsafeRawBufferPointer) {
    let target = "keras-config"
    let text = String(decoding: bytes, as: UTF8.self)
    for isKeras2 in [false, true] {
        let spec: KerasModelSpec
        let compiled: KerasZipReader.Compiled?
        do {
            (spec, compiled) = try KerasH5Reader.parse(text, file: fuzzFileName, object: KerasZipReader.configName) {
                root throws(JSONError) in
                let spec = try KerasConfig.readModel(root, isKeras2: isKeras2)
                // The reader keeps a model whose compile configuration it cannot read (with a note): so does this.
                do throws(JSONError) {
                    return (spec, try KerasZipReader.readCompileConfig(root, isKeras2: isKeras2))
                } catch {
                    checkJSONError(error, target)
                    return (spec, nil)
                }
            }
        } catch {
            checkModelFileError(error, target)
            continue
        }
        if let optimizer = compiled?.optimizer {
            do { try optimizer.validate() } catch {
                violated(target, "an accepted optimizer configuration fails validation: \(error)")
            }
        }
        let document = ModelDocument(
            architecture: .init(inputWidth: spec.inputWidth, inputShape: spec.inputShape, layers: spec.layers),
            weights: Array(repeating: ModelDocument.LayerWeights(), count: spec.layers.count))
        do { try document.validate() } catch {
            // Weights are checked after the whole architecture: only their absence may remain.
            guard error.object.hasPrefix("weights/"), error.reason.hasPrefix("missing") else {
                violated(target, "an accepted configuration gives an invalid architecture: \(error)")
            }
        }
    }
}
