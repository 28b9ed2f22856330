import Foundation
import SwiftProtobuf

/// Why bytes are not an ONNX model as protobuf sees them, in words for an error message.
package struct ONNXDecodingFailure: Error, CustomStringConvertible, Sendable {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}

/// ONNX's `ModelProto` (onnx.proto, in `Generated/`) decoded and encoded through swift-protobuf. No model knowledge:
/// the ONNX format module maps the messages to and from model documents.
package enum ONNXProtobuf {
    /// Nesting deeper than this is refused: an MLP's graph is a few levels deep (model → graph → node → attribute →
    /// tensor), and a limit keeps a hostile file's nesting from exhausting the stack.
    package static let maxMessageDepth = 32

    /// Decodes a model. Malformed input — truncated, a length past the end, a wrong wire type, invalid UTF-8 in a
    /// string — is an error; swift-protobuf allocates only for what the bytes hold, so a file cannot claim more memory
    /// than its size (a tensor's `dims` are numbers to be checked against its data, not allocations).
    package static func decodeModel(_ bytes: Data) throws(ONNXDecodingFailure) -> Onnx_ModelProto {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = maxMessageDepth
        do {
            return try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch let error as BinaryDecodingError {
            throw ONNXDecodingFailure(describe(error))
        } catch {
            throw ONNXDecodingFailure("not a valid protobuf message (\(error))")
        }
    }

    package static func encode(_ model: Onnx_ModelProto) throws(ONNXDecodingFailure) -> Data {
        do {
            return try model.serializedData()
        } catch {
            throw ONNXDecodingFailure("cannot encode the model: \(error)")
        }
    }

    /// A graph or tensor message alone, for a writer that assembles the model's bytes around the initializers'
    /// raw data (protobuf's encoding of a message is its fields' encodings, in field-number order).
    package static func encode(_ graph: Onnx_GraphProto) throws(ONNXDecodingFailure) -> Data {
        do { return try graph.serializedData() } catch { throw ONNXDecodingFailure("cannot encode the graph: \(error)") }
    }

    package static func encode(_ tensor: Onnx_TensorProto) throws(ONNXDecodingFailure) -> Data {
        do { return try tensor.serializedData() } catch { throw ONNXDecodingFailure("cannot encode a tensor: \(error)") }
    }

    static func describe(_ error: BinaryDecodingError) -> String {
        switch error {
        case .truncated: "truncated: a field or length runs past the end of the file"
        case .malformedProtobuf: "not a valid protobuf message (a malformed field, wire type or length)"
        case .invalidUTF8: "a string field is not valid UTF-8"
        case .missingRequiredFields: "a required field is missing"
        case .messageDepthLimit: "messages nested more than \(maxMessageDepth) deep"
        default: "not a valid protobuf message (\(error))"
        }
    }
}
