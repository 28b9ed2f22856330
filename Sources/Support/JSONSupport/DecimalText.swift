/// Converts JSON number literals that `JSONAudit` has already validated (grammar, and finite and not underflowing
/// as a double) to the nearest double, straight from the text: the tensor arrays json-c is spared from.
///
/// Most literals take Clinger's fast path: when the decimal significand m has at most 19 digits and fits in 53 bits
/// and the decimal exponent e is within ±22, m and 10^|e| are both exact doubles, so one IEEE multiplication or
/// division rounds m·10^e correctly. Shortest float32 literals (≤ 9 digits) nearly always qualify; the rest (long
/// float64 literals, extreme exponents) go through the standard library's correctly rounded parser.
package enum DecimalText {
    /// 10^0 … 10^22, all exact in a double.
    private static let powersOfTen: [Double] = (0...22).map { exponent in
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }

    /// The offset of the next literal after `position`: skips whitespace and one comma.
    @inline(__always)
    package static func skipSeparators(_ text: UnsafeRawBufferPointer, from position: Int) -> Int {
        var index = position
        while index < text.count {
            let byte = text[index]
            guard byte == UInt8(ascii: ",") || JSONAudit.isWhitespace(byte) else { break }
            index += 1
        }
        return index
    }

    /// The value of the literal at `start` and the offset just after it.
    @inline(__always)
    package static func parse(_ text: UnsafeRawBufferPointer, at start: Int) -> (value: Double, end: Int) {
        var index = start
        let negative = index < text.count && text[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var significand: UInt64 = 0, digits = 0, exponent = 0
        var exact = true  // no non-zero digit was dropped
        func digit(at position: Int) -> UInt8? {
            guard position < text.count else { return nil }
            let value = text[position] &- UInt8(ascii: "0")
            return value < 10 ? value : nil
        }
        func take(_ value: UInt8) {
            if digits < 19 {
                significand = significand &* 10 &+ UInt64(value)
                if significand != 0 { digits += 1 }
            } else {
                exponent += 1
                if value != 0 { exact = false }
            }
        }
        while let value = digit(at: index) {
            take(value)
            index += 1
        }
        if index < text.count && text[index] == UInt8(ascii: ".") {
            index += 1
            while let value = digit(at: index) {
                take(value)
                exponent -= 1
                index += 1
            }
        }
        if index < text.count && (text[index] | 0x20) == UInt8(ascii: "e") {
            index += 1
            var sign = 1
            if index < text.count && (text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-")) {
                if text[index] == UInt8(ascii: "-") { sign = -1 }
                index += 1
            }
            var written = 0
            while let value = digit(at: index) {
                written = min(written * 10 + Int(value), 1 << 40)  // saturates: beyond ±10^308 nothing changes
                index += 1
            }
            exponent += sign * written
        }
        let magnitude: Double
        if significand == 0 {
            magnitude = 0
        } else if exact && significand <= 1 << 53 && (-22...22).contains(exponent) {
            magnitude = exponent < 0 ? Double(significand) / powersOfTen[-exponent] : Double(significand) * powersOfTen[exponent]
        } else {
            // The audit has validated the literal, so this parse cannot fail; NaN would be reported as out of range.
            let literal = UnsafeRawBufferPointer(rebasing: text[start..<index])
            return (Double(String(decoding: literal, as: UTF8.self)) ?? .nan, index)
        }
        return (negative ? -magnitude : magnitude, index)
    }
}
