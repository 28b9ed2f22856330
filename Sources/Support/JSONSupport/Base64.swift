/// Standard base64 (RFC 4648 §4: `A–Z a–z 0–9 + /`, `=` padding) over raw buffers, for tensor data in JSON files.
///
/// Table loops over unsafe buffers, with no intermediate `Data` or `String`. Decoding is strict, so that one
/// tensor has exactly one encoding: the length must be the padded length, no whitespace or line breaks, and the
/// unused low bits of the last character must be zero.
package enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Each character's 6-bit value, 0xFF for characters outside the alphabet (including `=`).
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    /// Characters of the padded encoding of `byteCount` bytes.
    package static func encodedCount(_ byteCount: Int) -> Int { (byteCount + 2) / 3 * 4 }

    /// The two characters of every 12-bit value, the first in the low byte, so the encoder looks up two at a time.
    private static let pairs: [UInt16] = (0..<4096).map { UInt16(alphabet[$0 >> 6]) | UInt16(alphabet[$0 & 0x3F]) << 8 }

    /// Encodes `source` into `destination` (at least `encodedCount(source.count)` long); returns the count written.
    package static func encode(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let count = source.count
        guard count > 0, let base = source.baseAddress, let output = destination.baseAddress else { return 0 }
        // Bulk: 12 bytes → 16 characters per step, from two 8-byte loads of which 6 bytes each are used (so 2 bytes
        // past the last group must exist: the loop stops 2 bytes early), four 12-bit lookups per load and one
        // 8-byte store each. Measured about 4× the byte-at-a-time loop below, which does the rest.
        var input = 0, written = 0
        pairs.withUnsafeBufferPointer { pairs in
            func eight(fromByteOffset offset: Int) -> UInt64 {
                let word = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                let characters = UInt64(pairs[Int(word >> 52)]) | UInt64(pairs[Int(word >> 40 & 0xFFF)]) << 16
                    | UInt64(pairs[Int(word >> 28 & 0xFFF)]) << 32 | UInt64(pairs[Int(word >> 16 & 0xFFF)]) << 48
                return characters.littleEndian
            }
            let raw = UnsafeMutableRawPointer(output)
            while input + 14 <= count {
                raw.storeBytes(of: eight(fromByteOffset: input), toByteOffset: written, as: UInt64.self)
                raw.storeBytes(of: eight(fromByteOffset: input + 6), toByteOffset: written + 8, as: UInt64.self)
                input += 12
                written += 16
            }
        }
        return alphabet.withUnsafeBufferPointer { table in
            while input + 3 <= count {
                let group = UInt32(source[input]) << 16 | UInt32(source[input + 1]) << 8 | UInt32(source[input + 2])
                output[written] = table[Int(group >> 18)]
                output[written + 1] = table[Int(group >> 12 & 0x3F)]
                output[written + 2] = table[Int(group >> 6 & 0x3F)]
                output[written + 3] = table[Int(group & 0x3F)]
                input += 3
                written += 4
            }
            let rest = count - input
            if rest > 0 {
                let group = UInt32(source[input]) << 16 | (rest == 2 ? UInt32(source[input + 1]) << 8 : 0)
                output[written] = table[Int(group >> 18)]
                output[written + 1] = table[Int(group >> 12 & 0x3F)]
                output[written + 2] = rest == 2 ? table[Int(group >> 6 & 0x3F)] : UInt8(ascii: "=")
                output[written + 3] = UInt8(ascii: "=")
                written += 4
            }
            return written
        }
    }

    package enum DecodingError: Error, Equatable, CustomStringConvertible {
        /// The text is not the padded length of the expected byte count.
        case length(characters: Int, expected: Int)
        case invalidCharacter(index: Int, byte: UInt8)
        case padding(index: Int)
        /// The last character carries bits beyond the data (another encoder's output would differ).
        case nonCanonical(index: Int)

        package var description: String {
            switch self {
            case .length(let characters, let expected):
                "base64 text has \(characters) characters, expected \(expected)"
            case .invalidCharacter(let index, let byte):
                "invalid base64 character \(JSONAudit.describeByte(byte)) at index \(index)"
                    + (byte == 0x20 || byte == 0x0A || byte == 0x0D ? " (whitespace and line breaks are not allowed)" : "")
            case .padding(let index):
                "expected base64 padding '=' at index \(index)"
            case .nonCanonical(let index):
                "non-canonical base64: unused bits of the character at index \(index) are not zero"
            }
        }
    }

    /// Decodes `source`, which must be exactly the padded encoding of `destination.count` bytes, into `destination`.
    package static func decode(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws(DecodingError) {
        let byteCount = destination.count
        guard source.count == encodedCount(byteCount) else {
            throw .length(characters: source.count, expected: encodedCount(byteCount))
        }
        guard byteCount > 0 else { return }
        let fullGroups = byteCount / 3
        let failure: DecodingError? = values.withUnsafeBufferPointer { table in
            var input = 0, output = 0
            for _ in 0..<fullGroups {
                let a = table[Int(source[input])], b = table[Int(source[input + 1])]
                let c = table[Int(source[input + 2])], d = table[Int(source[input + 3])]
                // One test for the four lookups: only invalid characters have the high bit set.
                if (a | b | c | d) & 0x80 != 0 { return invalidCharacter(in: source, from: input) }
                let bits = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                destination[output] = UInt8(truncatingIfNeeded: bits >> 16)
                destination[output + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                destination[output + 2] = UInt8(truncatingIfNeeded: bits)
                input += 4
                output += 3
            }
            return decodeTail(source, from: input, into: destination, at: output, table: table)
        }
        if let failure { throw failure }
    }

    /// The last group of 1 or 2 bytes: `xx==` or `xxx=`.
    private static func decodeTail(
        _ source: UnsafeRawBufferPointer, from input: Int, into destination: UnsafeMutableRawBufferPointer, at output: Int,
        table: UnsafeBufferPointer<UInt8>
    ) -> DecodingError? {
        let rest = destination.count - output
        guard rest > 0 else { return nil }
        let characters = rest + 1
        for index in input..<(input + characters) where table[Int(source[index])] & 0x80 != 0 {
            return .invalidCharacter(index: index, byte: source[index])
        }
        for index in (input + characters)..<(input + 4) where source[index] != UInt8(ascii: "=") {
            return .padding(index: index)
        }
        let a = UInt32(table[Int(source[input])]), b = UInt32(table[Int(source[input + 1])])
        let c = rest == 2 ? UInt32(table[Int(source[input + 2])]) : 0
        let group = a << 18 | b << 12 | c << 6
        // The bits below the last byte must be zero: 4 bits of b for one byte, 2 bits of c for two.
        guard group & (rest == 1 ? 0xFFFF : 0xFF) == 0 else { return .nonCanonical(index: input + characters - 1) }
        destination[output] = UInt8(truncatingIfNeeded: group >> 16)
        if rest == 2 { destination[output + 1] = UInt8(truncatingIfNeeded: group >> 8) }
        return nil
    }

    private static func invalidCharacter(in source: UnsafeRawBufferPointer, from input: Int) -> DecodingError {
        var index = input
        while index < input + 3 && values[Int(source[index])] & 0x80 == 0 { index += 1 }
        return .invalidCharacter(index: index, byte: source[index])
    }
}
