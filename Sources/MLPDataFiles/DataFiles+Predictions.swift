internal import FileSupport
// Writing a model's predictions (`mlpconv predict --output`): CSV text or a NumPy `.npy`, replaced atomically.

/// The format of a predictions file.
public enum PredictionFormat: String, Sendable, CaseIterable {
    /// A header `output_0,output_1,…`, then one row per sample, each number in its shortest round-trip form.
    case csv
    /// A version 1.0 `.npy` of `<f4`, shape `(rows, columns)`, C order — `numpy.load` reads it as is.
    case npy

    /// The format a path's extension names (`.csv`, `.npy`, case-insensitive), or nil.
    public init?(path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        self.init(rawValue: name[name.index(after: dot)...].lowercased())
    }
}

extension DataFiles {
    /// Writes `values` (`rows × columns`, row-major) to `path` as `format`, atomically: the file is either the old
    /// one or the complete new one.
    public static func writePredictions(_ values: [Float], rows: Int, columns: Int, to path: String,
                                        format: PredictionFormat) throws(DataFileError) {
        guard rows >= 0, columns > 0, values.count == rows * columns else {
            throw DataFileError(file: path, reason: "cannot write predictions: \(values.count) values do not make "
                                    + "\(rows) rows of \(columns) columns")
        }
        let bytes = switch format {
        case .csv: predictionsCSV(values, rows: rows, columns: columns)
        case .npy: NPY.encode(values, shape: [rows, columns])
        }
        let failure = { (failure: FileFailure) in DataFileError(file: path, reason: failure.reason) }
        try AtomicFile.replace(path, failure: failure) { temporary throws(DataFileError) in
            try AtomicFile.write(bytes, to: temporary, failure: failure)
        }
    }

    /// CSV text of predictions. Swift's `description` of a Float is the shortest text that reads back to the same
    /// float, so the file round-trips exactly; NaN and infinities (a diverged model) come out as `nan`, `inf`.
    public static func predictionsCSV(_ values: [Float], rows: Int, columns: Int) -> [UInt8] {
        var text = (0..<columns).map { "output_\($0)" }.joined(separator: ",") + "\n"
        text.reserveCapacity(text.utf8.count + values.count * 12)
        for row in 0..<rows {
            for column in 0..<columns {
                if column > 0 { text += "," }
                text += values[row * columns + column].description
            }
            text += "\n"
        }
        return Array(text.utf8)
    }
}
