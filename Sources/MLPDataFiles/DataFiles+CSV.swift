#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MLPCore
internal import TextSupport

// CSV data files: an optional header row, then one sample per line — feature columns, then target columns.
//
// The parser works on the file's bytes in place: no String per cell, a fast exact path for the usual short
// decimals and `strtof` for the rest. Quoting is not supported (numbers never need it), so a `"` in a data row
// is reported rather than misread.

extension DataFiles {
    static func loadCSV(_ path: String, shape: ModelShape, limits: DataLimits, header: CSVHeader) throws(DataFileError) -> Dataset<Float> {
        let bytes = try InputFile(path: path).readAll(maxBytes: limits.maxBytes, padding: CSVParser.padding)
        // Array.withUnsafeBufferPointer rethrows untyped errors: carry the typed one out in a Result.
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(DataFileError) in
                guard let base = buffer.baseAddress else { throw DataFileError(file: path, reason: "cannot read") }
                var parser = CSVParser(path: path, text: base, end: buffer.count - CSVParser.padding)
                return try parser.parse(shape: shape, limits: limits, headerRow: header)
            }
        }
        return try result.get()
    }
}

private enum Byte {
    static let comma: UInt8 = 0x2C, newline: UInt8 = 0x0A, carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20, tab: UInt8 = 0x09, quote: UInt8 = 0x22, nul: UInt8 = 0
    static let plus: UInt8 = 0x2B, minus: UInt8 = 0x2D, dot: UInt8 = 0x2E, zero: UInt8 = 0x30
}

/// What scanning one cell found.
private struct CellScan {
    enum Status { case number, empty, notNumber, notFinite, outOfRange, quote }
    var status: Status
    var value: Float
    /// Where the number's text starts and ends (trailing blanks excluded), for error messages and `strtod`.
    var textStart: Int
    var textEnd: Int
    /// The separator after the cell (`,`, a line end, or the terminating NUL): scanning resumes here.
    var next: Int
}

/// 10^k and 10^-k for k in 0...22 as doubles (the positive ones exact), from a switch: a global array would cost a
/// lazy-initialisation check and a retain on every cell.
@inline(__always)
private func powerOfTen(_ k: Int, negative: Bool) -> Double {
    switch k {
    case 0: 1
    case 1: negative ? 1e-1 : 1e1
    case 2: negative ? 1e-2 : 1e2
    case 3: negative ? 1e-3 : 1e3
    case 4: negative ? 1e-4 : 1e4
    case 5: negative ? 1e-5 : 1e5
    case 6: negative ? 1e-6 : 1e6
    case 7: negative ? 1e-7 : 1e7
    case 8: negative ? 1e-8 : 1e8
    case 9: negative ? 1e-9 : 1e9
    case 10: negative ? 1e-10 : 1e10
    case 11: negative ? 1e-11 : 1e11
    case 12: negative ? 1e-12 : 1e12
    case 13: negative ? 1e-13 : 1e13
    case 14: negative ? 1e-14 : 1e14
    case 15: negative ? 1e-15 : 1e15
    case 16: negative ? 1e-16 : 1e16
    case 17: negative ? 1e-17 : 1e17
    case 18: negative ? 1e-18 : 1e18
    case 19: negative ? 1e-19 : 1e19
    case 20: negative ? 1e-20 : 1e20
    case 21: negative ? 1e-21 : 1e21
    default: negative ? 1e-22 : 1e22
    }
}

private struct CSVParser {
    /// NUL bytes after the text: scans stop at the first, eight-byte loads never run past the last.
    static let padding = 8

    let path: String
    /// The file's bytes, with NULs from `end` on (so every scan stops inside the buffer).
    let text: UnsafePointer<UInt8>
    let end: Int
    var header: [String]?

    init(path: String, text: UnsafePointer<UInt8>, end: Int) {
        self.path = path
        self.text = text
        self.end = end
    }

    func error(_ line: Int, _ column: Int? = nil, _ reason: String) -> DataFileError {
        let name = column.flatMap { column in header.flatMap { column - 1 < $0.count ? $0[column - 1] : nil } }
        return DataFileError(file: path, location: .line(line, column: column, name: name?.isEmpty == true ? nil : name),
                             reason: reason)
    }

    mutating func parse(shape given: ModelShape, limits: DataLimits, headerRow: CSVHeader) throws(DataFileError) -> Dataset<Float> {
        var shape = given
        var position = 0
        // A UTF-8 byte-order mark, as spreadsheet programs write.
        if end >= 3, text[0] == 0xEF, text[1] == 0xBB, text[2] == 0xBF { position = 3 }
        var line = 1

        // Leading blank lines are harmless; the first non-blank line sets the column count.
        while position < end, let next = blankLineEnd(position) {
            position = next
            line += 1
        }
        guard position < end else { throw DataFileError(file: path, reason: "no data: the file is empty") }
        let firstLine = line
        let columns = countColumns(position)

        if try hasHeader(position, line: line, mode: headerRow) {
            header = headerNames(position)
            position = lineEnd(position)
            line += 1
        }
        if shape.ignoresTargets, columns == shape.inputs + 1 || columns == shape.inputs + shape.outputs {
            // A label or target columns after the features: read as plain values, then dropped. Any other count
            // is refused below, since it means the file's features are not the model's.
            shape.outputs = columns - shape.inputs
            shape.loss = nil
        }
        let layout: ModelShape.Targets
        if let fitting = shape.layout(columns: columns) {
            layout = fitting
        } else if columns == shape.inputs {
            throw error(firstLine, nil, "\(plural(columns, "column")) (features only), but targets are needed: "
                            + shape.expectedColumns)
        } else {
            throw error(firstLine, nil, "\(plural(columns, "column")); \(shape.expectedColumns)")
        }

        // Size the arrays from the number of line ends (an upper bound on the rows), after checking the cap.
        let estimatedRows = countLines(from: position)
        let storedColumns = shape.inputs + (layout == .none ? 0 : layout == .values ? shape.outputs : 1)
        let (values, overflow) = estimatedRows.multipliedReportingOverflow(by: storedColumns)
        if overflow || values > limits.maxValues {
            throw DataFileError(file: path, reason: "about \(estimatedRows) rows of \(plural(storedColumns, "number")) "
                                    + "exceed the limit of \(limits.maxValues) numbers")
        }
        var features: [Float] = []
        features.reserveCapacity(estimatedRows * shape.inputs)
        var targets: [Float] = []
        targets.reserveCapacity(estimatedRows * (layout == .values ? shape.outputs : layout == .none ? 0 : 1))

        var rows = 0
        var blankLine: Int?
        while position < end {
            if let next = blankLineEnd(position) {
                // Blank lines may end the file, but not split the data.
                blankLine = blankLine ?? line
                position = next
                line += 1
                continue
            }
            if let blankLine {
                throw error(blankLine, nil, "blank line inside the data (data continues on line \(line))")
            }
            for column in 0..<columns {
                let cell = scanCell(position)
                guard cell.status == .number else { throw cellError(cell, line: line, column: column + 1) }
                let isTarget = column >= shape.inputs
                if !isTarget {
                    features.append(cell.value)
                } else if case .labels = layout {
                    // Labels are checked in double precision, so "2.0000001" is not silently taken as class 2.
                    let label = strtod(UnsafeRawPointer(text + cell.textStart).assumingMemoryBound(to: CChar.self), nil)
                    switch DataFiles.classLabel(label, classes: shape.outputs) {
                    case .success(let index): targets.append(Float(index))
                    case .failure(let problem):
                        throw error(line, column + 1, problem.reason(label, classes: shape.outputs))
                    }
                } else if layout == .values {
                    targets.append(cell.value)
                }
                position = cell.next
                let separator = text[position]
                if column < columns - 1 {
                    guard separator == Byte.comma else {
                        throw error(line, nil, "\(plural(column + 1, "column")), expected \(columns) as on line \(firstLine)")
                    }
                    position += 1
                } else if separator == Byte.comma {
                    throw error(line, nil, "\(plural(countColumns(lineStart(position)), "column")), expected "
                                    + "\(columns) as on line \(firstLine)")
                }
            }
            // At a line end (scanCell stops only at ',', '\n', "\r\n" or the NUL at `end`).
            if text[position] == Byte.carriageReturn { position += 1 }
            if position < end { position += 1 }
            line += 1
            rows += 1
        }
        guard rows > 0 else {
            throw DataFileError(file: path, reason: header == nil ? "no data rows" : "no data rows after the header")
        }
        let targetWidth: Int
        switch layout {
        case .none: targetWidth = 0
        case .values: targetWidth = shape.outputs
        case .labels(let oneHot):
            targetWidth = oneHot ? shape.outputs : 1
            targets = DataFiles.targets(fromLabels: targets, classes: shape.outputs, oneHot: oneHot)
        }
        return try DataFiles.dataset(path, features: features, featureWidth: shape.inputs, targets: targets,
                                     targetWidth: targetWidth)
    }

    // MARK: Lines

    /// If the line at `start` is empty or only blanks, the start of the next line.
    func blankLineEnd(_ start: Int) -> Int? {
        var i = start
        while text[i] == Byte.space || text[i] == Byte.tab || text[i] == Byte.carriageReturn { i += 1 }
        if text[i] == Byte.newline { return i + 1 }
        return i == end ? end : nil
    }

    /// The start of the line after the one containing `start`.
    func lineEnd(_ start: Int) -> Int {
        guard let found = memchr(text + start, Int32(Byte.newline), end - start) else { return end }
        return text.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
    }

    /// The start of the line containing `position`.
    func lineStart(_ position: Int) -> Int {
        var i = position
        while i > 0, text[i - 1] != Byte.newline { i -= 1 }
        return i
    }

    /// Cells on the line at `start`: its commas plus one.
    func countColumns(_ start: Int) -> Int {
        var count = 1
        var i = start
        while i < end, text[i] != Byte.newline {
            if text[i] == Byte.comma { count += 1 }
            i += 1
        }
        return count
    }

    /// Line ends from `start` on, plus one for a last line without one: at least the number of data rows.
    func countLines(from start: Int) -> Int {
        var count = 0
        var i = start
        while i < end, let found = memchr(text + i, Int32(Byte.newline), end - i) {
            count += 1
            i = text.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
        }
        return count + 1
    }

    /// Whether the first row, at `start`, is a header. Detected, it is one when it has text cells (not numbers, or
    /// quoted, as R quotes names) and no number: a row mixing both is a typo in the data as often as a header with
    /// a numeric name (`1,2,3O,4,0` was once silently dropped as a header), so it is an error naming the first text
    /// cell. Empty and NaN cells decide nothing.
    func hasHeader(_ start: Int, line: Int, mode: CSVHeader) throws(DataFileError) -> Bool {
        switch mode {
        case .present: return true
        case .absent: return false
        case .detect: break
        }
        var position = start
        var column = 1
        var firstText: (cell: CellScan, column: Int)?
        var firstNumber: Int?
        while true {
            let cell = scanCell(position)
            switch cell.status {
            case .notNumber, .quote: firstText = firstText ?? (cell, column)
            case .number, .outOfRange: firstNumber = firstNumber ?? column
            case .empty, .notFinite: break
            }
            position = cell.next
            // A malformed cell stops where the cell ends; skip to its separator.
            while position < end, text[position] != Byte.comma, text[position] != Byte.newline { position += 1 }
            guard text[position] == Byte.comma else { break }
            position += 1
            column += 1
        }
        guard let firstText else { return false }
        guard let firstNumber else { return true }
        throw error(line, firstText.column, "'\(cellText(firstText.cell))' is not a number, but column \(firstNumber) of this "
                        + "first row is: neither a header (no numbers) nor data (only numbers); fix the cell, or say "
                        + "which it is with --header or --no-header")
    }

    /// The header's cells, trimmed and unquoted, for error messages.
    func headerNames(_ start: Int) -> [String] {
        var stop = lineEnd(start)
        if stop > start, text[stop - 1] == Byte.newline { stop -= 1 }
        let line = UnsafeBufferPointer(start: text + start, count: stop - start)
        return line.split(separator: Byte.comma, omittingEmptySubsequences: false).map { cell in
            let blank: (UInt8) -> Bool = { $0 == Byte.space || $0 == Byte.tab || $0 == Byte.carriageReturn }
            let first = cell.firstIndex { !blank($0) } ?? cell.endIndex
            let last = cell.lastIndex { !blank($0) }.map { $0 + 1 } ?? first
            var name = escapedForMessage(cell[first..<max(first, last)])
            if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = String(name.dropFirst().dropLast()) }
            return name
        }
    }

    // MARK: Cells

    func cellError(_ cell: CellScan, line: Int, column: Int) -> DataFileError {
        let shown = cellText(cell)
        let reason =
            switch cell.status {
            case .empty: "empty cell, expected a number"
            case .notNumber: "'\(shown)' is not a number"
            case .notFinite: "'\(shown)' is not a finite number (NaN and infinities are not allowed)"
            case .outOfRange: "'\(shown)' is out of the float32 range"
            case .quote: "quoted cells are not supported (found '\"'); write plain numbers"
            case .number: "unexpected cell"
            }
        return error(line, column, reason)
    }

    /// A cell's text for a message, at most 40 characters.
    func cellText(_ cell: CellScan) -> String {
        let bytes = UnsafeBufferPointer(start: text + cell.textStart, count: max(0, cell.textEnd - cell.textStart))
        let shown = escapedForMessage(bytes.prefix(40))
        return bytes.count > 40 ? shown + "…" : shown
    }

    /// Steps over an optional `+` or `-` at `i`; true for `-`.
    @inline(__always)
    func skipSign(_ i: inout Int) -> Bool {
        if text[i] == Byte.minus {
            i += 1
            return true
        }
        if text[i] == Byte.plus { i += 1 }
        return false
    }

    /// Scans the cell starting at `start`: blanks, an optional sign, digits with an optional point, an optional
    /// exponent, blanks, then a separator. Anything else is classified for the error message.
    @inline(__always)
    func scanCell(_ start: Int) -> CellScan {
        let p = text
        var i = start
        while p[i] == Byte.space || p[i] == Byte.tab { i += 1 }
        let textStart = i
        let negative = skipSign(&i)
        // The first 19 significant digits, exactly (below 10^18 another digit still fits a UInt64); later ones
        // change the value by under 10^-18 relatively and only scale it (see nearestFloat). Leading zeros keep the
        // mantissa at 0, so they never count.
        var mantissa: UInt64 = 0
        var exponent = 0
        var sawDigit = false
        while case let digit = p[i] &- Byte.zero, digit <= 9 {
            sawDigit = true
            if mantissa < 1_000_000_000_000_000_000 {
                mantissa = mantissa &* 10 &+ UInt64(digit)
            } else {
                exponent += 1
            }
            i += 1
        }
        if p[i] == Byte.dot {
            i += 1
            // Long fractions (17 digits from Python's repr, 18 from "%.18e") eight digits at a time, while the
            // mantissa has room for them (below 10^11, times 10^8 stays below 10^19).
            while mantissa < 100_000_000_000, let eight = Self.eightDigits(p + i) {
                sawDigit = true
                mantissa = mantissa &* 100_000_000 &+ eight
                exponent -= 8
                i += 8
            }
            while case let digit = p[i] &- Byte.zero, digit <= 9 {
                sawDigit = true
                if mantissa < 1_000_000_000_000_000_000 {
                    mantissa = mantissa &* 10 &+ UInt64(digit)
                    exponent -= 1
                }
                i += 1
            }
        }
        var valid = sawDigit
        if valid, p[i] | 0x20 == 0x65 {  // 'e' or 'E'
            i += 1
            let exponentNegative = skipSign(&i)
            var written = 0
            var sawExponentDigit = false
            while case let digit = p[i] &- Byte.zero, digit <= 9 {
                sawExponentDigit = true
                written = min(written * 10 + Int(digit), 100_000)  // saturate: 1e100000 is out of range anyway
                i += 1
            }
            valid = sawExponentDigit
            exponent += exponentNegative ? -written : written
        }
        let textEnd = i
        while p[i] == Byte.space || p[i] == Byte.tab { i += 1 }
        let separator = p[i]
        let atSeparator = separator == Byte.comma || separator == Byte.newline || (separator == Byte.nul && i == end)
            || (separator == Byte.carriageReturn && (p[i + 1] == Byte.newline || i + 1 == end))
        guard valid, atSeparator else { return classify(start: textStart, from: i) }

        var cell = CellScan(status: .number, value: 0, textStart: textStart, textEnd: textEnd, next: i)
        if mantissa == 0 {
            cell.value = negative ? -0.0 : 0
            return cell
        }
        if let value = Self.nearestFloat(mantissa: mantissa, exponent: exponent) {
            cell.value = negative ? -value : value
            return cell
        }
        // Extreme exponents, subnormals and decimals too close to a tie between two floats: the C library's
        // correctly rounded conversion. The text was validated above, so strtof consumes exactly it (the process
        // runs in the C locale, whose decimal point is '.').
        let value = strtof(UnsafeRawPointer(p + textStart).assumingMemoryBound(to: CChar.self), nil)
        if value.isInfinite { cell.status = .outOfRange }
        cell.value = value
        return cell
    }

    /// The value of eight ASCII digits at `pointer`, or nil if they are not all digits (simdjson's SWAR method).
    /// The buffer holds at least eight bytes past `end`, so the load never leaves it.
    @inline(__always)
    static func eightDigits(_ pointer: UnsafePointer<UInt8>) -> UInt64? {
        let chunk = UInt64(littleEndian: UnsafeRawPointer(pointer).loadUnaligned(as: UInt64.self))
        // Every byte is '0'...'9' when its high nibble is 3 and adding 6 leaves it 3.
        let highNibbles = (chunk & 0xF0F0_F0F0_F0F0_F0F0) | (((chunk &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4)
        guard highNibbles == 0x3333_3333_3333_3333 else { return nil }
        // Digit values, then pairs combined into 2-digit, 4-digit and finally one 8-digit number.
        var value = chunk &- 0x3030_3030_3030_3030
        value = (value &* 10) &+ (value >> 8)
        let low = (value & 0x0000_00FF_0000_00FF) &* (100 &+ (1_000_000 << 32))
        let high = ((value >> 16) & 0x0000_00FF_0000_00FF) &* (1 &+ (10_000 << 32))
        return (low &+ high) >> 32
    }

    /// The float nearest to `mantissa × 10^exponent`, or nil when this quick method cannot be sure of it.
    ///
    /// The decimal is computed in double precision with at most five roundings (the mantissa when over 2^53, at
    /// most two inexact powers of ten and the two products), each off by at most half a unit in the last place;
    /// a mantissa cut after 19 digits is short by less than 10^-18 relatively, a hundredth of a unit. So the double
    /// `d` is within about 5 units of the exact value. Floats keep 24 of double's 53 significand bits: the low 29
    /// bits of `d` say where it lies between two floats, and the tie between them is at exactly 2^28. Unless `d` is
    /// within 16 units of the tie, the exact value rounds to the same float as `d`. About one decimal in 16 million
    /// comes that close (exact ties included); those, and results outside the normal float range, go to strtof.
    @inline(__always)
    static func nearestFloat(mantissa: UInt64, exponent: Int) -> Float? {
        guard exponent >= -44, exponent <= 38 else { return nil }
        var double = Double(mantissa)
        if exponent < 0 {
            if exponent < -22 { double *= 1e-22 }
            double *= powerOfTen(-exponent - (exponent < -22 ? 22 : 0), negative: true)
        } else {
            if exponent > 22 { double *= 1e22 }
            double *= powerOfTen(exponent - (exponent > 22 ? 22 : 0), negative: false)
        }
        guard double >= Double(Float.leastNormalMagnitude), double <= Double(Float.greatestFiniteMagnitude) else {
            return nil
        }
        let position = Int(double.bitPattern & 0x1FFF_FFFF)
        guard abs(position - 0x1000_0000) > 16 else { return nil }
        return Float(double)
    }

    /// Why the cell at `start` is not a number (`from` is where the number scan stopped).
    func classify(start: Int, from stop: Int) -> CellScan {
        var i = stop
        var quoted = false
        while i < end, text[i] != Byte.comma, text[i] != Byte.newline {
            if text[i] == Byte.quote { quoted = true }
            i += 1
        }
        let next = i
        while i > start, [Byte.space, Byte.tab, Byte.carriageReturn].contains(text[i - 1]) { i -= 1 }
        var cell = CellScan(status: .notNumber, value: 0, textStart: start, textEnd: i, next: next)
        for j in start..<stop where text[j] == Byte.quote { quoted = true }
        if quoted {
            cell.status = .quote
        } else if i == start {
            cell.status = .empty
        } else if isNonFiniteWord(from: start, to: i) {
            cell.status = .notFinite
        }
        return cell
    }

    /// Whether `text[start..<stop]` (not empty) is `nan`, `inf` or `infinity` in any case, with an optional sign.
    /// Compared as bytes: header detection classifies every text cell of the first row, and a message string is not
    /// needed here.
    func isNonFiniteWord(from start: Int, to stop: Int) -> Bool {
        var i = start
        _ = skipSign(&i)
        let length = stop - i
        guard length == 3 || length == 8 else { return false }
        func matches(_ word: StaticString) -> Bool {
            guard word.utf8CodeUnitCount == length else { return false }
            // ASCII letters: setting bit 5 lowercases them, and no other byte becomes one by it.
            return (0..<length).allSatisfy { text[i + $0] | 0x20 == word.utf8Start[$0] }
        }
        return matches("nan") || matches("inf") || matches("infinity")
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and carriage returns.
    func trimmingBlanks() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
