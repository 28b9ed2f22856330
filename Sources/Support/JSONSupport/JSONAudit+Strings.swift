// The audit's string literals: escapes, surrogate pairs, UTF-8 validity, and the decoded bytes of keys.

extension JSONAudit {
    /// Reads a string literal; for keys, returns its decoded UTF-8 bytes.
    mutating func scanString(isKey: Bool) throws(JSONError) -> [UInt8] {
        let start = position
        position += 1  // opening quote
        stringHadEscape = false
        var decoded: [UInt8] = []
        while true {
            if !isKey {
                // Skip plain ASCII in one tight loop: base64 tensors are strings of megabytes. 16 bytes at a time
                // while none of them needs a look (1.3 ms instead of 18 for 8.6 MB of base64, measured), then the
                // byte loop up to the byte that does.
                var index = position
                let quote = SIMD16<UInt8>(repeating: UInt8(ascii: "\"")), backslash = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
                let control = SIMD16<UInt8>(repeating: 0x20), nonASCII = SIMD16<UInt8>(repeating: 0x80)
                while index + 16 <= bytes.count {
                    let block = bytes.loadUnaligned(fromByteOffset: index, as: SIMD16<UInt8>.self)
                    if any((block .< control) .| (block .>= nonASCII) .| (block .== quote) .| (block .== backslash)) { break }
                    index += 16
                }
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
                    index += 1
                }
                position = index
            }
            guard let byte = peek() else { throw fail(.syntax, "unterminated string", at: start) }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return decoded
            case UInt8(ascii: "\\"):
                stringHadEscape = true
                let escapeStart = position
                position += 1
                guard let escape = peek() else { throw fail(.syntax, "unterminated string", at: start) }
                position += 1
                let simple: UInt8? =
                    switch escape {
                    case UInt8(ascii: "\""): 0x22
                    case UInt8(ascii: "\\"): 0x5C
                    case UInt8(ascii: "/"): 0x2F
                    case UInt8(ascii: "b"): 0x08
                    case UInt8(ascii: "f"): 0x0C
                    case UInt8(ascii: "n"): 0x0A
                    case UInt8(ascii: "r"): 0x0D
                    case UInt8(ascii: "t"): 0x09
                    default: nil
                    }
                if let simple {
                    if isKey { decoded.append(simple) }
                    continue
                }
                guard escape == UInt8(ascii: "u") else {
                    throw fail(.syntax, "invalid escape \\\(Character(Unicode.Scalar(escape)))", at: escapeStart)
                }
                var scalar = try scanHex4(escapeStart)
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one; json-c would substitute U+FFFD.
                    guard peek() == UInt8(ascii: "\\"), position + 1 < bytes.count,
                          bytes[position + 1] == UInt8(ascii: "u") else {
                        throw loneSurrogate(scalar, at: escapeStart)
                    }
                    position += 2
                    let low = try scanHex4(escapeStart)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw loneSurrogate(scalar, at: escapeStart)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw loneSurrogate(scalar, at: escapeStart)
                }
                if isKey {
                    if scalar == 0 {
                        throw fail(.nulCharacter, "object key contains U+0000 (json-c would cut the key there)",
                                   at: escapeStart)
                    }
                    if let unicode = Unicode.Scalar(scalar) { decoded.append(contentsOf: String(unicode).utf8) }
                }
            case 0x00..<0x20:
                throw fail(.syntax, "unescaped control character U+00\(byte < 0x10 ? "0" : "")\(String(byte, radix: 16, uppercase: true)) in string")
            case 0x80...:
                let length = try scanUTF8Sequence()
                if isKey { decoded.append(contentsOf: bytes[(position - length)..<position]) }
            default:
                position += 1
                if isKey { decoded.append(byte) }
            }
        }
    }

    private func loneSurrogate(_ scalar: UInt32, at escapeStart: Int) -> JSONError {
        fail(.invalidUnicode, "lone surrogate \\u\(String(scalar, radix: 16)) in string", at: escapeStart)
    }

    private mutating func scanHex4(_ escapeStart: Int) throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw fail(.syntax, "truncated \\u escape", at: escapeStart) }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail(.syntax, "invalid \\u escape", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence at `position` (Unicode Table 3-7: no overlong forms, no
    /// surrogates, nothing above U+10FFFF — json-c's own check accepts the first two) and returns its length.
    private mutating func scanUTF8Sequence() throws(JSONError) -> Int {
        let start = position
        let lead = bytes[start]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw fail(.invalidUnicode, "invalid UTF-8 byte 0x\(String(lead, radix: 16, uppercase: true))")
        }
        guard start + length <= bytes.count else { throw fail(.invalidUnicode, "truncated UTF-8 sequence") }
        for index in 1..<length {
            let range: ClosedRange<UInt8> = index == 1 ? secondRange : 0x80...0xBF
            guard range.contains(bytes[start + index]) else {
                throw fail(.invalidUnicode, "invalid UTF-8 sequence (overlong, surrogate or malformed)")
            }
        }
        position += length
        return length
    }
}
