import Foundation

/// A JSON value for `--json` output; keys are written sorted so the output is stable.
enum JSONOutput {
    case string(String), int(Int), double(Double), bool(Bool), null
    case array([JSONOutput]), object([String: JSONOutput])
}

func printJSON(_ object: [String: JSONOutput]) {
    emit(render(.object(object)))
}

func render(_ value: JSONOutput) -> String {
    switch value {
    case .string(let text): return quoted(text)
    case .int(let number): return String(number)
    case .double(let number): return number.isFinite ? number.description : quoted(number.isNaN ? "NaN" : number > 0 ? "Infinity" : "-Infinity")
    case .bool(let flag): return flag ? "true" : "false"
    case .null: return "null"
    case .array(let values): return "[" + values.map(render).joined(separator: ", ") + "]"
    case .object(let members):
        return "{" + members.keys.sorted().map { quoted($0) + ": " + render(members[$0] ?? .null) }.joined(separator: ", ") + "}"
    }
}

private func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
