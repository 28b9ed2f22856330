import Foundation
import PickleSupport

/// fixtures/torch-pickle, written by fixtures/generate/generate_torch_pickles.py.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/torch-pickle")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    struct Unexpected: Error, CustomStringConvertible {
        var description: String
    }

    /// expected.json's cases by name.
    static func expectedCases() throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent("expected.json"))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = root["cases"] as? [String: Any] else { throw Unexpected(description: "expected.json has no cases") }
        return cases
    }
}

/// A tensor as expected.json describes it: its reference and its row-major values.
struct ExpectedTensor {
    var reference: TensorReference
    var values: [Double]
}

/// expected.json's tagged form (`["dict", kind, entries, attributes]`, `["tensor", {...}]`, floats as
/// float.hex()) as a PickleValue, collecting the tensors' values on the way.
func expectedValue(_ json: Any, tensors: inout [ExpectedTensor]) throws -> PickleValue {
    guard let node = json as? [Any], let tag = node.first as? String else {
        throw Fixtures.Unexpected(description: "not a tagged node: \(json)")
    }
    func number(_ any: Any) throws -> Int64 {
        guard let value = any as? NSNumber else { throw Fixtures.Unexpected(description: "not a number: \(any)") }
        return value.int64Value
    }
    func hexDouble(_ any: Any) throws -> Double {
        guard let text = any as? String, let value = Double(text) else {
            throw Fixtures.Unexpected(description: "not a float.hex() string: \(any)")
        }
        return value
    }
    func children(_ any: Any) throws -> [PickleValue] {
        guard let items = any as? [Any] else { throw Fixtures.Unexpected(description: "not a list: \(any)") }
        return try items.map { try expectedValue($0, tensors: &tensors) }
    }
    func entries(_ any: Any) throws -> [PickleDict.Entry] {
        guard let pairs = any as? [[Any]] else { throw Fixtures.Unexpected(description: "not entries: \(any)") }
        return try pairs.map { .init(try expectedValue($0[0], tensors: &tensors), try expectedValue($0[1], tensors: &tensors)) }
    }
    switch tag {
    case "none": return .none
    case "bool": return .bool((node[1] as? Bool) ?? false)
    case "int": return .int(try number(node[1]))
    case "float": return .float(try hexDouble(node[1]))
    case "string": return .string(node[1] as? String ?? "")
    case "bytes": return .bytes(try (node[1] as? [Any] ?? []).map { UInt8(try number($0)) })
    case "tuple": return .tuple(try children(node[1]))
    case "list": return .list(try children(node[1]))
    case "size": return .size(try (node[1] as? [Any] ?? []).map(number))
    case "dtype": return .dtype(TorchDType(rawValue: node[1] as? String ?? "") ?? .bits8)
    case "device": return .device(node[1] as? String ?? "")
    case "dict":
        guard let kind = PickleDict.Kind(rawValue: node[1] as? String ?? "") else {
            throw Fixtures.Unexpected(description: "unknown dict kind \(node[1])")
        }
        return .dict(PickleDict(kind: kind, entries: try entries(node[2]), attributes: try entries(node[3])))
    case "tensor":
        guard let fields = node[1] as? [String: Any], let dtype = TorchDType(rawValue: fields["dtype"] as? String ?? "")
        else { throw Fixtures.Unexpected(description: "bad tensor node \(node)") }
        let reference = TensorReference(
            storage: StorageReference(key: fields["key"] as? String ?? "", dtype: dtype, location: "cpu",
                                      elementCount: try number(fields["numel"] ?? 0)),
            storageOffset: try number(fields["offset"] ?? 0),
            shape: try (fields["shape"] as? [Any] ?? []).map(number),
            strides: try (fields["stride"] as? [Any] ?? []).map(number),
            requiresGrad: fields["requires_grad"] as? Bool ?? false, isParameter: fields["parameter"] as? Bool ?? false)
        let raw = fields["values"] as? [Any] ?? []
        let values = dtype == .int64 ? try raw.map { Double(try number($0)) } : try raw.map(hexDouble)
        tensors.append(ExpectedTensor(reference: reference, values: values))
        return .tensor(reference)
    default:
        throw Fixtures.Unexpected(description: "unknown tag \(tag)")
    }
}

extension TorchTensor.Values {
    /// Every value as a Double (exact for all three cases' ranges used in the fixtures).
    var asDoubles: [Double] {
        switch self {
        case .float(let values): values.map(Double.init)
        case .double(let values): values
        case .int64(let values): values.map(Double.init)
        }
    }
}
