// The audit's number literals: the strict grammar, Int64 range for integers, no overflow or underflow for others.

extension JSONAudit {
    /// Reads a number, checks the strict grammar, and that it fits: integers in Int64, others finite and not
    /// silently rounded to zero. Numbers are the bulk of a weights file, so nothing is allocated here unless the
    /// literal's magnitude is extreme.
    mutating func scanNumber() throws(JSONError) {
        let start = position
        let number = Self.scanNumberLiteral(bytes, at: start)
        position = number.end
        if let problem = number.problem { throw fail(problem.kind, problem.reason, at: start) }
        let literal = UnsafeRawBufferPointer(rebasing: bytes[start..<number.end])
        if number.isInteger {
            try checkInteger(literal, start: start)
        } else if let leadingExponent = number.leadingExponent, !(-300...300).contains(leadingExponent + number.exponent) {
            // Within 10^±300 a double is finite and not zero, so only extreme literals need converting.
            try checkExtremeNumber(literal, start: start)
        }
    }

    /// What `scanNumberLiteral` found.
    private struct NumberLiteral {
        var end: Int
        var isInteger = true
        /// The decimal exponent of the first non-zero digit (1.5 → 0, 0.02 → -2); nil when all digits are zero.
        var leadingExponent: Int?
        /// The written exponent (saturated: only the range matters).
        var exponent = 0
        /// Why the text is not a JSON number.
        var problem: (kind: JSONError.Kind, reason: String)?
    }

    /// The strict JSON number grammar at `start`, over local variables only (this is the audit's inner loop).
    private static func scanNumberLiteral(_ bytes: UnsafeRawBufferPointer, at start: Int) -> NumberLiteral {
        let count = bytes.count
        @inline(__always) func byte(_ index: Int) -> UInt8 { index < count ? bytes[index] : 0 }
        @inline(__always) func isDigit(_ index: Int) -> Bool { byte(index) &- UInt8(ascii: "0") < 10 }
        var index = start
        if byte(index) == UInt8(ascii: "-") { index += 1 }
        if byte(index) == UInt8(ascii: "I") || byte(index) == UInt8(ascii: "N") {
            let name = byte(index) == UInt8(ascii: "I") ? "Infinity" : "NaN"
            return NumberLiteral(end: index, problem: (.nonFinite, "\(index > start ? "-" : "")\(name) is not a JSON number"))
        }
        guard isDigit(index) else { return NumberLiteral(end: index, problem: (.syntax, "malformed number")) }
        let integerStart = index
        if byte(index) == UInt8(ascii: "0") {
            index += 1
        } else {
            while isDigit(index) { index += 1 }
        }
        var result = NumberLiteral(end: index)
        result.leadingExponent = byte(integerStart) == UInt8(ascii: "0") ? nil : index - integerStart - 1
        if byte(index) == UInt8(ascii: ".") {
            result.isInteger = false
            index += 1
            guard isDigit(index) else { return NumberLiteral(end: index, problem: (.syntax, "malformed number: no digits after '.'")) }
            let fractionStart = index
            if result.leadingExponent == nil {
                while byte(index) == UInt8(ascii: "0") { index += 1 }
                if isDigit(index) { result.leadingExponent = fractionStart - index - 1 }
            }
            while isDigit(index) { index += 1 }
        }
        if byte(index) | 0x20 == UInt8(ascii: "e") {
            result.isInteger = false
            index += 1
            var sign = 1
            if byte(index) == UInt8(ascii: "+") || byte(index) == UInt8(ascii: "-") {
                if byte(index) == UInt8(ascii: "-") { sign = -1 }
                index += 1
            }
            guard isDigit(index) else { return NumberLiteral(end: index, problem: (.syntax, "malformed number: no digits in exponent")) }
            var exponent = 0
            while isDigit(index) {
                exponent = min(exponent * 10 + Int(byte(index) - 0x30), 1 << 40)
                index += 1
            }
            result.exponent = sign * exponent
        }
        result.end = index
        return result
    }

    @inline(__always)
    func isDigit(at index: Int) -> Bool {
        index < bytes.count && bytes[index] &- UInt8(ascii: "0") < 10
    }

    /// Accumulates with overflow checks rather than building a String: the literal may be huge.
    private mutating func checkInteger(_ literal: UnsafeRawBufferPointer, start: Int) throws(JSONError) {
        let negative = literal.first == UInt8(ascii: "-")
        var value: Int64 = 0
        for digit in literal.dropFirst(negative ? 1 : 0) {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? times10.subtractingReportingOverflow(Int64(digit - 0x30))
                                             : times10.addingReportingOverflow(Int64(digit - 0x30))
            if overflow1 || overflow2 {
                throw fail(.numberRange, "integer \(Self.shown(literal)) is outside the Int64 range (json-c would saturate it)",
                           at: start)
            }
            value = next
        }
        if negative && value == 0 { negativeZeroIntegers.insert(currentPath) }
    }

    private func checkExtremeNumber(_ literal: UnsafeRawBufferPointer, start: Int) throws(JSONError) {
        guard let value = Double(String(decoding: literal, as: UTF8.self)) else {
            throw fail(.syntax, "malformed number \(Self.shown(literal))", at: start)
        }
        if !value.isFinite {
            throw fail(.numberRange, "number \(Self.shown(literal)) overflows a 64-bit float", at: start)
        }
        if value == 0 {
            throw fail(.numberRange, "number \(Self.shown(literal)) underflows a 64-bit float to zero", at: start)
        }
    }

    /// A literal for a message, cut short if long.
    private static func shown(_ literal: UnsafeRawBufferPointer) -> String {
        literal.count > 40 ? String(decoding: literal.prefix(40), as: UTF8.self) + "…" : String(decoding: literal, as: UTF8.self)
    }
}
