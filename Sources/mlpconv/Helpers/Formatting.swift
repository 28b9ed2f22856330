import Foundation

// How the commands write numbers, durations and tables. `plural` and `formatNumber` come from TextSupport, `formatBytes`
// from FileSupport.

/// A loss or metric: four decimals, or three significant digits in exponent form when tiny or huge.
func formatMetric(_ value: Double) -> String {
    guard value.isFinite else { return nonFiniteText(value) }
    if value != 0 && (abs(value) < 1e-3 || abs(value) >= 1e5) { return String(format: "%.3e", value) }
    return String(format: "%.4f", value)
}

/// An error or difference, always in exponent form: `1.23e-07`.
func scientific(_ value: Double) -> String {
    guard value.isFinite else { return nonFiniteText(value) }
    return String(format: "%.2e", value)
}

private func nonFiniteText(_ value: Double) -> String { value.isNaN ? "NaN" : value > 0 ? "inf" : "-inf" }

/// One character per value, eight levels between the smallest and largest finite value.
func sparkline(_ values: [Double]) -> String {
    let bars = Array("▁▂▃▄▅▆▇█")
    let finite = values.filter(\.isFinite)
    guard let low = finite.min(), let high = finite.max() else { return String(repeating: "?", count: values.count) }
    return String(values.map { value in
        guard value.isFinite else { return "!" }
        let level = high > low ? Int(((value - low) / (high - low) * 7).rounded()) : 3
        return bars[level]
    })
}

/// A plain text table: columns padded to their widest cell, a rule under the header.
func renderTable(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let widths = header.indices.map { column in
        ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { column, cell in
            let pad = String(repeating: " ", count: widths[column] - cell.count)
            return rightAligned.contains(column) ? pad + cell : cell + pad
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
    }
    return line(header) + line(widths.map { String(repeating: "─", count: $0) }) + rows.map(line).joined()
}

/// `0.042 s`, `1.25 s`, `73.1 s`: three significant digits or so.
func formatSeconds(_ seconds: Double) -> String {
    seconds < 1 ? String(format: "%.3f s", seconds) : seconds < 10 ? String(format: "%.2f s", seconds) : String(format: "%.1f s", seconds)
}

/// `m:ss`, or `h:mm:ss` from an hour on; `?` when unknown.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
        : String(format: "%d:%02d", total / 60, total % 60)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
