/// Bytes quoted from a file, made safe for a one-line message on a terminal: valid UTF-8 is kept, except control
/// and format characters (NUL, escape sequences, line breaks, bidirectional overrides), which — like bytes that are
/// not UTF-8 at all (a UTF-16 file, a binary one) — are written as `\xNN`, one per byte. Without this a CSV cell
/// could clear the screen, forge a second line of output or print nothing visible at all.
package func escapedForMessage(_ bytes: some Collection<UInt8>) -> String {
    let bytes = Array(bytes)
    var result = ""
    var index = 0
    while index < bytes.count {
        let lead = bytes[index]
        let length = lead < 0x80 ? 1 : lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
            : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0
        let end = index + length
        if length > 0, end <= bytes.count, let character = String(validating: bytes[index..<end], as: UTF8.self) {
            if let scalar = character.unicodeScalars.first, isHidden(scalar) {
                for byte in bytes[index..<end] { result += hexEscape(byte) }
            } else {
                result += character
            }
            index = end
        } else {
            // Not UTF-8: this byte alone; what follows it is decoded afresh.
            result += hexEscape(lead)
            index += 1
        }
    }
    return result
}

/// `escapedForMessage` for a whole message (valid UTF-8 already): its control and format characters escaped.
package func escapedForMessage(_ text: String) -> String { escapedForMessage(Array(text.utf8)) }

private func isHidden(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator: true
    default: false
    }
}

private func hexEscape(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
}
