/// A walk over the top-level fields of a serialized `ModelProto`, without decoding them: ONNX has no magic number,
/// so detection looks at the protobuf structure, and the walk also names the field a malformed file breaks in
/// (swift-protobuf's errors do not say where).
enum ONNXProtoScan {
    /// ModelProto's fields (onnx.proto): number → name and wire type (0 varint, 2 length-delimited).
    static let modelFields: [UInt64: (name: String, wireType: UInt64)] = [
        1: ("ir_version", 0), 2: ("producer_name", 2), 3: ("producer_version", 2), 4: ("domain", 2),
        5: ("model_version", 0), 6: ("doc_string", 2), 7: ("graph", 2), 8: ("opset_import", 2),
        14: ("metadata_props", 2), 20: ("training_info", 2), 25: ("functions", 2), 26: ("configuration", 2),
    ]
    static let graphField: UInt64 = 7
    private static let stringFields: Set<UInt64> = [2, 3, 4, 6]
    private static let wireTypeNames: [UInt64: String] = [0: "a varint (0)", 1: "a 64-bit value (1)", 2: "length-delimited (2)",
                                                        5: "a 32-bit value (5)"]

    enum Outcome: Equatable {
        /// Every field is well-formed; whether a graph was seen.
        case wellFormed(sawGraph: Bool)
        /// A length-delimited field runs past the end of the bytes (for a file's head, the rest may follow).
        case runsPastEnd(field: UInt64, reason: String)
        case malformed(String)
    }

    /// The first byte of each GraphProto field's tag (node, name, initializer, doc_string, input, output, value_info,
    /// quantization_annotation, sparse_initializer, metadata_props): what a graph's bytes start with.
    private static let graphTagBytes: Set<UInt8> = [0x0A, 0x12, 0x2A, 0x52, 0x5A, 0x62, 0x6A, 0x72, 0x7A, 0x82]

    /// Walks `bytes` as a ModelProto's fields. `strict` (detection) also refuses unknown field numbers, strings that
    /// are not UTF-8 and a graph that does not start with a GraphProto field — which a reader may skip or leave to the decoder. Without `strict`, a known field with
    /// the wrong wire type is skipped by its own wire type and reported in `mismatch` (the first one), so that a file
    /// of another schema can be told from a damaged model by whether it has a graph.
    static func scan(_ bytes: UnsafeRawBufferPointer, strict: Bool) -> Outcome {
        var mismatch: String?
        return scan(bytes, strict: strict, mismatch: &mismatch)
    }

    static func scan(_ bytes: UnsafeRawBufferPointer, strict: Bool, mismatch: inout String?) -> Outcome {
        var index = 0
        var sawGraph = false
        while index < bytes.count {
            let fieldStart = index
            guard let (tag, afterTag) = varint(bytes, at: index) else {
                return .malformed("truncated: the file ends inside a field's tag at byte \(fieldStart)")
            }
            let number = tag >> 3, wireType = tag & 7
            guard number > 0, [0, 1, 2, 5].contains(wireType) else {
                return .malformed("byte \(fieldStart): not a protobuf field of ModelProto (field number \(number), wire type \(wireType))")
            }
            let known = modelFields[number]
            let label = known.map { "field \(number) (\($0.name))" } ?? "field \(number)"
            if let known, known.wireType != wireType {
                let problem = "\(label) of ModelProto has wire type \(wireType) where \(wireTypeNames[known.wireType] ?? "another") belongs"
                if strict { return .malformed(problem) }
                if mismatch == nil { mismatch = problem }
            }
            if strict {
                guard known != nil else { return .malformed("\(label) is not a field of ModelProto") }
            }
            index = afterTag
            switch wireType {
            case 0:
                guard let (_, next) = varint(bytes, at: index) else {
                    return .malformed("truncated: the file ends inside \(label)'s value at byte \(index)")
                }
                index = next
            case 1, 5:
                let size = wireType == 1 ? 8 : 4
                guard bytes.count - index >= size else {
                    return .malformed("truncated: \(label) needs \(size) bytes at byte \(index), \(bytes.count - index) follow")
                }
                index += size
            default:
                guard let (length, start) = varint(bytes, at: index) else {
                    return .malformed("truncated: the file ends inside \(label)'s length at byte \(index)")
                }
                let available = bytes.count - start
                if strict, number == graphField, available > 0, length > 0, !graphTagBytes.contains(bytes[start]) {
                    return .malformed("the graph does not start with a GraphProto field")
                }
                guard length <= UInt64(available) else {
                    return .runsPastEnd(field: number, reason: "truncated: \(label)'s length runs past the end of the file "
                        + "(it claims \(length) bytes at byte \(start), \(available) follow)")
                }
                let end = start + Int(length)
                if strict, stringFields.contains(number),
                   String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) == nil {
                    return .malformed("\(label) is not UTF-8 text")
                }
                if number == graphField && wireType == 2 { sawGraph = true }
                index = end
            }
        }
        return .wellFormed(sawGraph: sawGraph)
    }

    /// A protobuf varint at `index`: its value and the index after it; nil when truncated or longer than 10 bytes.
    static func varint(_ bytes: UnsafeRawBufferPointer, at start: Int) -> (UInt64, Int)? {
        var value: UInt64 = 0, shift: UInt64 = 0, index = start
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            value |= UInt64(byte & 0x7F) << shift
            index += 1
            if byte & 0x80 == 0 { return (value, index) }
            shift += 7
        }
        return nil
    }

    /// Whether a file's first bytes look like an ONNX model: the first field is `ir_version` (field 1; a varint of a
    /// plausible version, or — so that such a file gets a precise error rather than "not a model file" — the same
    /// field with another wire type), every following field complete in the head is one of ModelProto's with its
    /// wire type, and the graph (field 7) starts within the head, or the head is full (`headLimit` bytes) and ends
    /// inside a field. Files of every other format fail on the first byte or the second field.
    static func looksLikeModel(head: [UInt8], headLimit: Int = 4096) -> Bool {
        guard let first = head.first, first == 0x08 || first == 0x0A else { return false }
        return head.withUnsafeBytes { raw in
            if first == 0x08 {
                guard let (version, _) = varint(raw, at: 1), (1...64).contains(version) else { return false }
            }
            // Field 1 with wire type 2 is checked here by hand: the strict scan stops at it.
            var body = raw
            var offset = 0
            if first == 0x0A {
                guard let (length, start) = varint(raw, at: 1), length <= 16, start + Int(length) <= raw.count else { return false }
                offset = start + Int(length)
                body = UnsafeRawBufferPointer(rebasing: raw[offset...])
            }
            switch scan(body, strict: true) {
            case .wellFormed(let sawGraph): return sawGraph
            case .runsPastEnd(let field, _): return field == graphField || head.count >= headLimit
            case .malformed: return false
            }
        }
    }
}
