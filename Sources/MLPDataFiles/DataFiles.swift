#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MLPCore
import MLPDocument
internal import HDF5Support
internal import TextSupport
internal import ZipSupport

/// Training and prediction data (`--data`): CSV text, NumPy `.npy` / `.npz`, and HDF5 files with datasets `x`
/// and `y`, turned into a `Dataset<Float>` shaped for a model.
///
/// Every file is untrusted: sizes are checked against `DataLimits` before anything large is allocated, and every
/// error names the file, the place inside it (CSV line and column, array element, HDF5 dataset) and what was
/// expected (docs/robustness.md, catalogue case 27).
public enum DataFiles {
    /// Reads `path` and shapes it for a model with `inputWidth` inputs and `outputWidth` outputs trained with
    /// `loss` (nil: unknown, targets are taken as given).
    ///
    /// Targets come out as the loss consumes them (`Loss.targetWidth(outputWidth:)`): class labels become
    /// one-hot rows for `categorical_crossentropy` and stay a single index column for
    /// `sparse_categorical_crossentropy`. Files without targets give a dataset with `targetWidth == 0`, which is
    /// an error when `requireTargets` is set (training, evaluation).
    ///
    /// The format is taken from the content, never the extension: the HDF5 signature, a zip archive (`.npz`),
    /// the `\x93NUMPY` magic (`.npy`), and CSV text otherwise. `header` says whether a CSV file's first row is a
    /// header (binary formats have none). An HDF5 file is read by a helper process first unless `isolation` is
    /// `.inProcess` (only for trusted files: libhdf5 can crash on crafted ones; see `ReadIsolation`).
    public static func load(
        _ path: String, inputWidth: Int, outputWidth: Int, loss: Loss?, requireTargets: Bool,
        limits: DataLimits = .standard, header: CSVHeader = .detect, isolation: ReadIsolation = .helperProcess
    ) throws(DataFileError) -> Dataset<Float> {
        guard inputWidth > 0, outputWidth > 0 else {
            throw DataFileError(file: path, reason: "the model must have at least one input and one output "
                                    + "(got \(inputWidth) inputs and \(outputWidth) outputs)")
        }
        let shape = ModelShape(inputs: inputWidth, outputs: outputWidth, loss: loss, requireTargets: requireTargets)
        switch try format(of: path) {
        case .hdf5:
            try isolate(path, shape: shape, limits: limits, isolation: isolation)
            return try loadHDF5(path, shape: shape, limits: limits)
        case .npz: return try loadNPZ(path, shape: shape, limits: limits)
        case .npy: return try loadNPY(path, shape: shape, limits: limits)
        case .csv: return try loadCSV(path, shape: shape, limits: limits, header: header)
        }
    }

    /// Reads only the features of `path` for a model with `inputWidth` inputs, for prediction: targets in the
    /// file (a `y` array or dataset; in CSV, one label column or `outputWidth` target columns after the features)
    /// are not checked against any loss and not returned, whatever their values. `isolation` as for `load`.
    public static func loadFeatures(
        _ path: String, inputWidth: Int, outputWidth: Int, limits: DataLimits = .standard, header: CSVHeader = .detect,
        isolation: ReadIsolation = .helperProcess
    ) throws(DataFileError) -> Dataset<Float> {
        guard inputWidth > 0, outputWidth > 0 else {
            throw DataFileError(file: path, reason: "the model must have at least one input and one output "
                                    + "(got \(inputWidth) inputs and \(outputWidth) outputs)")
        }
        var shape = ModelShape(inputs: inputWidth, outputs: outputWidth, loss: nil, requireTargets: false)
        shape.ignoresTargets = true
        let loaded: Dataset<Float>
        switch try format(of: path) {
        case .hdf5:
            try isolate(path, shape: shape, limits: limits, isolation: isolation)
            loaded = try loadHDF5(path, shape: shape, limits: limits)
        case .npz: loaded = try loadNPZ(path, shape: shape, limits: limits)
        case .npy: loaded = try loadNPY(path, shape: shape, limits: limits)
        case .csv: loaded = try loadCSV(path, shape: shape, limits: limits, header: header)
        }
        guard loaded.targetWidth > 0 else { return loaded }
        return try dataset(path, features: loaded.features, featureWidth: inputWidth, targets: [], targetWidth: 0)
    }

    /// The format of a data file, from its first bytes.
    public static func format(of path: String) throws(DataFileError) -> DataFileFormat {
        let file = try InputFile(path: path)
        var head = [UInt8](repeating: 0, count: 8)
        let count = try file.readBytes(into: &head, at: 0)
        let prefix = head.prefix(count)
        if prefix.elementsEqual(HDF5Signature.bytes) { return .hdf5 }
        if ZipSignature.starts(prefix) { return .npz }
        if prefix.starts(with: npyMagic) { return .npy }
        for offset in HDF5Signature.userBlockOffsets(upTo: min(file.size - 8, 1 << 24)) {
            if try file.readBytes(into: &head, at: offset) == 8, head == HDF5Signature.bytes { return .hdf5 }
        }
        return .csv
    }

    static let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
}

/// Whether a CSV file's first non-blank row is a header of column names.
public enum CSVHeader: Sendable, Equatable {
    /// From its cells: a header when it has text and no number; data when only numbers; a row mixing both is an
    /// error (a typo in the first data row must not silently drop it).
    case detect
    /// The first row is a header, whatever it holds.
    case present
    /// The first row is data: a cell that is not a number is an error.
    case absent
}

/// What `DataFiles.format(of:)` found.
public enum DataFileFormat: String, Sendable, CaseIterable {
    case csv, npy, npz, hdf5
}

/// Caps on what a data file may make us allocate: a hostile or mistaken file (a 2^40-row header, a zip bomb)
/// is refused before memory is committed, with a message naming the cap.
public struct DataLimits: Sendable, Equatable {
    /// The largest file read into memory, and the most bytes one `.npz` entry may decompress to.
    public var maxBytes: Int
    /// The most numbers (rows × columns, features and targets together) a dataset may hold.
    public var maxValues: Int
    /// The most entries an `.npz` archive may list (numpy writes one per array).
    public var maxArchiveEntries: Int

    public init(maxBytes: Int, maxValues: Int, maxArchiveEntries: Int = 1_000) {
        self.maxBytes = maxBytes
        self.maxValues = maxValues
        self.maxArchiveEntries = maxArchiveEntries
    }

    /// 4 GiB of file and 2^29 numbers (2 GiB as Float32): far beyond what an MLP fine-tune on one machine
    /// uses, well below what would take the machine down.
    public static let standard = DataLimits(maxBytes: 1 << 32, maxValues: 1 << 29)
}

/// Why a data file could not be read: the file, where inside it, and the reason — on one line.
public struct DataFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Location: Sendable, Equatable, CustomStringConvertible {
        /// A CSV line (1-based) and optionally a column (1-based) with its header name.
        case line(Int, column: Int? = nil, name: String? = nil)
        /// A NumPy array (`x`, `y`; empty for a lone `.npy`), optionally one element by its 0-based index.
        case array(String, index: [Int]? = nil)
        /// An HDF5 dataset path, optionally one element by its 0-based index.
        case dataset(String, index: [Int]? = nil)

        public var description: String {
            switch self {
            case .line(let line, let column, let name):
                guard let column else { return "line \(line)" }
                return "line \(line), column \(column)" + (name.map { " (\($0))" } ?? "")
            case .array(let name, let index):
                guard let index else { return "array \(name.isEmpty ? "data" : name)" }
                return (name.isEmpty ? "element " : name) + "[" + index.map(String.init).joined(separator: ", ") + "]"
            case .dataset(let path, let index):
                guard let index else { return path }
                return path + "[" + index.map(String.init).joined(separator: ", ") + "]"
            }
        }
    }

    public var file: String
    /// Nil when the problem is the file as a whole (missing, too large, wrong layout).
    public var location: Location?
    public var reason: String

    public init(file: String, location: Location? = nil, reason: String) {
        self.file = file
        self.location = location
        // One line, whatever a library or the file put in the reason.
        self.reason = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String {
        if let location { return "\(file): \(location): \(reason)" }
        return "\(file): \(reason)"
    }
}

// MARK: - How a file's columns map onto the model

/// What the model expects of a data file.
struct ModelShape {
    var inputs: Int
    var outputs: Int
    var loss: Loss?
    var requireTargets: Bool
    /// Prediction: targets are read (or skipped) without being checked against the model.
    var ignoresTargets = false

    /// Losses whose targets are classes: a single integer label per row is accepted for them.
    var takesLabels: Bool { loss?.takesLabels ?? false }
    /// Sparse cross-entropy and NLL consume labels only (the one-column layout).
    var labelsOnly: Bool { loss?.takesOnlyLabels ?? false }
    /// A label column stays one column of indices (the sparse losses and torch's cross_entropy) rather than
    /// becoming one-hot rows.
    var keepsLabelIndices: Bool { loss?.keepsLabelIndices ?? false }
    /// A categorical cross-entropy (Keras's or torch's) with one output: its one target column is taken as given
    /// (a label there can only be 0, whose one-hot row is the same 1).
    var singleClassTarget: Bool {
        outputs == 1 && (loss?.kind == .categoricalCrossentropy || loss?.kind == .crossEntropy)
    }

    /// How the targets of a file are laid out.
    enum Targets: Equatable {
        case none
        /// One integer label column, 0..<classes; `oneHot` expands it to `classes` columns.
        case labels(oneHot: Bool)
        /// `outputs` real columns, taken as given.
        case values
    }

    /// The layout for a CSV row of `columns` cells, or nil if that count fits no layout.
    ///
    /// For `categorical_crossentropy` with one output, `n + 1` columns are the target as given (a label of
    /// that model can only be 0, whose one-hot row is the same 1).
    func layout(columns: Int) -> Targets? {
        if columns == inputs { return requireTargets ? nil : Targets.none }
        if labelsOnly { return columns == inputs + 1 ? .labels(oneHot: false) : nil }
        if columns == inputs + outputs { return .values }
        if takesLabels, columns == inputs + 1 { return .labels(oneHot: !keepsLabelIndices) }
        return nil
    }

    /// "the model takes 64 inputs and 10 outputs, so expected 64 (features only), 65 (...) or 74 (...)"
    var expectedColumns: String {
        var options: [String] = []
        if !requireTargets { options.append("\(inputs) (features only)") }
        if (takesLabels || ignoresTargets) && !singleClassTarget {
            options.append("\(inputs + 1) (features and a class label)")
        }
        if !labelsOnly { options.append("\(inputs + outputs) (features and targets)") }
        let list = options.count <= 1 ? options.joined()
            : options.dropLast().joined(separator: ", ") + " or " + (options.last ?? "")
        return "the model takes \(plural(inputs, "input")) and \(plural(outputs, "output")), so expected \(list)"
    }

    /// "one label per row (`[rows]` or `[rows, 1]`)"-style description of the `y` shapes accepted.
    var expectedTargetShapes: String {
        if labelsOnly { return "class labels shaped [rows] or [rows, 1] (\(loss?.name ?? "the loss") takes labels)" }
        var shapes = ["[rows, \(outputs)]"]
        if outputs == 1 { shapes.append("[rows]") }
        if takesLabels && outputs > 1 { shapes.append("class labels shaped [rows] or [rows, 1]") }
        return shapes.joined(separator: " or ")
    }
}


// MARK: - Targets from labels

extension DataFiles {
    /// Checks that `value` is a class label of a model with `classes` outputs and returns it, or the reason not.
    @inline(__always)
    static func classLabel(_ value: Double, classes: Int) -> Result<Int, LabelProblem> {
        guard value.isFinite, value == value.rounded(.towardZero) else { return .failure(.notInteger) }
        guard value >= 0, value < Double(classes) else { return .failure(.outOfRange) }
        return .success(Int(value))
    }

    enum LabelProblem: Error {
        case notInteger, outOfRange

        func reason(_ value: Double, classes: Int) -> String {
            let text = formatNumber(value)
            switch self {
            case .notInteger: return "class label \(text) is not an integer"
            case .outOfRange:
                return "class label \(text) is out of range: the model has \(plural(classes, "output")), "
                    + "so labels are 0...\(classes - 1)"
            }
        }
    }

    /// Turns validated labels into the targets the loss takes: one-hot rows, or the index column as is.
    static func targets(fromLabels labels: [Float], classes: Int, oneHot: Bool) -> [Float] {
        guard oneHot else { return labels }
        var targets = [Float](repeating: 0, count: labels.count * classes)
        for (row, label) in labels.enumerated() { targets[row * classes + Int(label)] = 1 }
        return targets
    }

    /// Wraps `Dataset`'s own checks (which cannot fail for the shapes built here) as a data-file error.
    static func dataset(_ path: String, features: [Float], featureWidth: Int, targets: [Float],
                        targetWidth: Int) throws(DataFileError) -> Dataset<Float> {
        do {
            return try Dataset(features: features, featureWidth: featureWidth, targets: targets,
                               targetWidth: targetWidth)
        } catch {
            throw DataFileError(file: path, reason: error.description)
        }
    }
}


// MARK: - Reading files

/// An open input file (closed in `deinit`), with its size and kind checked up front.
final class InputFile {
    let path: String
    let descriptor: Int32
    /// Size of a regular file; -1 for pipes and other streams.
    let size: Int

    init(path: String) throws(DataFileError) {
        self.path = path
        guard !path.isEmpty else { throw DataFileError(file: path, reason: "no file name given") }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = errno == ENOENT ? "no such file" : "cannot open: \(String(cString: strerror(errno)))"
            throw DataFileError(file: path, reason: reason)
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = "cannot read: \(String(cString: strerror(errno)))"
            close(descriptor)
            throw DataFileError(file: path, reason: reason)
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw DataFileError(file: path, reason: "is a directory, not a data file")
        }
        self.descriptor = descriptor
        self.size = (status.st_mode & S_IFMT) == S_IFREG ? Int(status.st_size) : -1
    }

    deinit { close(descriptor) }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer only at the end).
    func readBytes(into buffer: inout [UInt8], at offset: Int) throws(DataFileError) -> Int {
        var total = 0
        while total < buffer.count {
            let count = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(descriptor, base + total, raw.count - total, off_t(offset + total))
            }
            if count < 0 {
                if errno == EINTR { continue }
                // A pipe cannot be read at an offset: such input is plain text, never HDF5 or NumPy.
                if errno == ESPIPE { return total }
                throw DataFileError(file: path, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    /// The whole file, followed by `padding` NUL bytes (so C number parsers always stop inside the buffer), after
    /// checking its size against `maxBytes`.
    func readAll(maxBytes: Int, padding: Int = 1) throws(DataFileError) -> [UInt8] {
        if size > maxBytes {
            throw DataFileError(file: path, reason: "file is \(size) bytes, over the limit of \(maxBytes) bytes")
        }
        // A regular file is read to the size fstat gave (a file growing meanwhile is read as it was); a stream
        // grows its buffer geometrically, within the cap.
        var bytes = [UInt8](repeating: 0, count: (size >= 0 ? size : 1 << 16) + padding)
        var used = 0
        while true {
            if used == bytes.count - padding {
                if size >= 0 { break }
                if used >= maxBytes {
                    throw DataFileError(file: path, reason: "input is over the limit of \(maxBytes) bytes")
                }
                bytes += [UInt8](repeating: 0, count: min(bytes.count, maxBytes - used))
            }
            let count = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return read(descriptor, base + used, raw.count - padding - used)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw DataFileError(file: path, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            used += count
        }
        // The data and its padding (never written, so still zeros).
        bytes.removeSubrange((used + padding)...)
        return bytes
    }
}
