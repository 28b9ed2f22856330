import CHDF5
import Foundation
import MLPCore
import Testing
import ZIPFoundation
import HDF5Support
@testable import MLPDataFiles
import TestSupport


// Data files for finetune / gradcheck / predict / evaluate (docs/robustness.md, data files): every format read
// correctly, every error naming file, place and reason, and prediction files that read back exactly.

// MARK: - Helpers

private func load(_ path: String, inputs: Int, outputs: Int, loss: Loss? = nil, requireTargets: Bool = false,
                  limits: DataLimits = .standard) throws(DataFileError) -> Dataset<Float> {
    try DataFiles.load(path, inputWidth: inputs, outputWidth: outputs, loss: loss, requireTargets: requireTargets,
                       limits: limits)
}

/// The error loading `path` gives, as its one-line description (nil if it loads).
private func loadError(_ path: String, inputs: Int, outputs: Int, loss: Loss? = nil, requireTargets: Bool = false,
                       limits: DataLimits = .standard) -> String? {
    do {
        _ = try load(path, inputs: inputs, outputs: outputs, loss: loss, requireTargets: requireTargets, limits: limits)
        return nil
    } catch {
        #expect(!error.description.contains("\n"), "error messages are one line")
        return error.description
    }
}

private func writeText(_ folder: TemporaryFolder, _ name: String, _ text: String) throws -> String {
    try folder.write(name, Array(text.utf8))
}

private func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

private func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// A `.npy` built byte by byte: magic, version, header length, the dict padded to 64 bytes, the data.
private func npy(descr: String, shape: String, fortran: Bool = false, version: UInt8 = 1, data: [UInt8]) -> [UInt8] {
    var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
    let prefix = version == 1 ? 10 : 12
    header += String(repeating: " ", count: (64 - (prefix + header.utf8.count + 1) % 64) % 64) + "\n"
    let length = header.utf8.count
    let lengthBytes: [UInt8] = version == 1 ? littleEndian(UInt16(length)) : littleEndian(UInt32(length))
    return DataFiles.npyMagic + [version, 0] + lengthBytes + Array(header.utf8) + data
}

private func float32Bytes(_ values: [Float]) -> [UInt8] { values.flatMap { littleEndian($0.bitPattern) } }
private func float64Bytes(_ values: [Double]) -> [UInt8] { values.flatMap { littleEndian($0.bitPattern) } }

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/data")

// MARK: - CSV

@Suite struct DataFileCSVTests {
    @Test func labelsBecomeOneHotForCategoricalAndStayIndicesForSparse() throws {
        let folder = try TemporaryFolder()
        let path = try writeText(folder, "data.csv", "a,b,label\n1,2,0\n3.5,-4e-1,2\n")
        let categorical = try load(path, inputs: 2, outputs: 3, loss: .categoricalCrossentropy, requireTargets: true)
        #expect(categorical.features == [1, 2, 3.5, -0.4])
        #expect(categorical.targetWidth == 3)
        #expect(categorical.targets == [1, 0, 0, 0, 0, 1])
        let sparse = try load(path, inputs: 2, outputs: 3, loss: .sparseCategoricalCrossentropy, requireTargets: true)
        #expect(sparse.targetWidth == 1)
        #expect(sparse.targets == [0, 2])
    }

    @Test func targetColumnsAreTakenAsGiven() throws {
        let folder = try TemporaryFolder()
        // No header, CRLF line ends, blanks around cells, a BOM, trailing blank lines.
        let path = try writeText(folder, "data.csv", "\u{FEFF}1, 2 ,0.25,-0.5\r\n3,4,1e3,+7\r\n\r\n\n")
        for loss: Loss? in [nil, .meanSquaredError, .categoricalCrossentropy] {
            let data = try load(path, inputs: 2, outputs: 2, loss: loss, requireTargets: true)
            #expect(data.count == 2)
            #expect(data.features == [1, 2, 3, 4])
            #expect(data.targets == [0.25, -0.5, 1000, 7])
        }
    }

    @Test func featuresOnlyForPrediction() throws {
        let folder = try TemporaryFolder()
        let path = try writeText(folder, "x.csv", "x0,x1,x2\n0.5,1,2\n3,4,5")
        let data = try load(path, inputs: 3, outputs: 4, loss: .categoricalCrossentropy)
        #expect(data.features == [0.5, 1, 2, 3, 4, 5])
        #expect(data.targetWidth == 0 && data.targets.isEmpty)
        #expect(loadError(path, inputs: 3, outputs: 4, loss: .categoricalCrossentropy, requireTargets: true)
            == "\(path): line 1: 3 columns (features only), but targets are needed: the model takes 3 inputs and "
            + "4 outputs, so expected 4 (features and a class label) or 7 (features and targets)")
    }

    @Test func digitsFixtureLoads() throws {
        let path = fixtures.appendingPathComponent("digits.csv").path
        let data = try load(path, inputs: 64, outputs: 10, loss: .categoricalCrossentropy, requireTargets: true)
        #expect(data.count == 1797)
        #expect(data.featureWidth == 64 && data.targetWidth == 10)
        #expect(Array(data.features.prefix(4)) == [0, 0, 0.3125, 0.8125])
        #expect(Array(data.targets.prefix(10)) == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0])  // the first digit is a 0
        #expect(data.targets.reduce(0, +) == 1797)
    }

    /// The byte parser (exact fast path plus strtof) must agree with Swift's own correctly rounded `Float(_:)`
    /// on every decimal — including those next to the halfway point between two floats.
    @Test func numbersParseToTheCorrectlyRoundedFloat() throws {
        var generator = SystemRandomNumberGenerator()
        var texts = ["0", "-0", "0.1", "1e-45", "1.4e-45", "7e-46", "3.4028235e38", "1.17549435e-38", "16777217",
                     "33554435", "0.000000000000000000000000000000000000000000001", ".5", "5.", "1E+2",
                     "123456789012345678901234567890", "0.30000000000000004", "9007199254740993",
                     "1.00000005960464477539", "1.000000059604644775390625", "1.0000000596046448"]
        for _ in 0..<3000 {
            // A random float's halfway point to its neighbour, written in a few precisions.
            let float = Float(bitPattern: UInt32.random(in: 0x0080_0000...0x7F00_0000, using: &generator))
            let midpoint = (Double(float) + Double(float.nextUp)) / 2
            texts.append(String(midpoint))
            texts.append(String(format: "%.9e", midpoint))
            texts.append(String(format: "%.17g", midpoint.nextUp))
            texts.append(String(format: "%.17g", midpoint.nextDown))
            texts.append(String(format: "%.18e", midpoint))  // numpy.savetxt's default: 19 digits
            texts.append(String(format: "%.24e", midpoint.nextUp))  // more digits than the fast path keeps
            texts.append(String(format: "%.9e", Double(float)))
            texts.append(String(format: "%.17f", Double(float) / 1e30))
            // And arbitrary decimals: 1-22 digits, a point anywhere, an exponent or not.
            let digits = String((0..<Int.random(in: 1...22, using: &generator)).map { _ in
                Character(String(Int.random(in: 0...9, using: &generator)))
            })
            let point = Int.random(in: 0...digits.count, using: &generator)
            var text = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
            if text == "." { text = "0" }
            if Bool.random(using: &generator) { text += "e\(Int.random(in: -40...30, using: &generator))" }
            if Bool.random(using: &generator) { text = "-" + text }
            texts.append(text)
        }
        texts = texts.filter { Float($0)?.isFinite == true }
        let folder = try TemporaryFolder()
        let path = try writeText(folder, "numbers.csv", texts.joined(separator: "\n") + "\n")
        let data = try load(path, inputs: 1, outputs: 1)
        #expect(data.count == texts.count)
        for (text, value) in zip(texts, data.features) {
            let expected = try #require(Float(text))
            #expect(value.bitPattern == expected.bitPattern, "\(text): got \(value), expected \(expected)")
        }
    }

    // Errors: file, line, column (with its header name) and reason.

    @Test func raggedRows() throws {
        let folder = try TemporaryFolder()
        let short = try writeText(folder, "short.csv", "a,b,y\n1,2,3\n4,5\n")
        #expect(loadError(short, inputs: 2, outputs: 1, requireTargets: true)
            == "\(short): line 3: 2 columns, expected 3 as on line 1")
        let long = try writeText(folder, "long.csv", "1,2,3\n4,5,6,7,8\n")
        #expect(loadError(long, inputs: 2, outputs: 1, requireTargets: true)
            == "\(long): line 2: 5 columns, expected 3 as on line 1")
    }

    @Test func badCells() throws {
        let folder = try TemporaryFolder()
        let cases: [(String, String)] = [
            ("x,y,label\n1,2,0\n1,abc,1\n", "line 3, column 2 (y): 'abc' is not a number"),
            ("x,y,label\n1,2,0\n1,NaN,1\n", "line 3, column 2 (y): 'NaN' is not a finite number (NaN and infinities are not allowed)"),
            ("1,2,0\n-inf,2,1\n", "line 2, column 1: '-inf' is not a finite number (NaN and infinities are not allowed)"),
            ("1,2,0\n+Infinity ,2,1\n", "line 2, column 1: '+Infinity' is not a finite number (NaN and infinities are not allowed)"),
            ("1,2,0\n1,nAn,1\n", "line 2, column 2: 'nAn' is not a finite number (NaN and infinities are not allowed)"),
            ("1,2,0\nINF,2,1\n", "line 2, column 1: 'INF' is not a finite number (NaN and infinities are not allowed)"),
            ("1,2,0\ninfinit,2,1\n", "line 2, column 1: 'infinit' is not a number"),
            ("1,2,0\n-+inf,2,1\n", "line 2, column 1: '-+inf' is not a number"),
            ("1,2,0\nnann,2,1\n", "line 2, column 1: 'nann' is not a number"),
            ("1,2,0\n1e39,2,1\n", "line 2, column 1: '1e39' is out of the float32 range"),
            ("1,2,0\n1,,1\n", "line 2, column 2: empty cell, expected a number"),
            ("1,2,0\n1,\"2\",1\n", "line 2, column 2: quoted cells are not supported (found '\"'); write plain numbers"),
            ("1,2,0\n1,2,0x1p3\n", "line 2, column 3: '0x1p3' is not a number"),
            ("x,y,label\n1,2,0\n1,2,3\n", "line 3, column 3 (label): class label 3 is out of range: the model has 3 outputs, so labels are 0...2"),
            ("x,y,label\n1,2,-1\n", "line 2, column 3 (label): class label -1 is out of range: the model has 3 outputs, so labels are 0...2"),
            ("x,y,label\n1,2,1.5\n", "line 2, column 3 (label): class label 1.5 is not an integer"),
            ("x,y,label\n1,2,1.0000001\n", "line 2, column 3 (label): class label 1.0000001 is not an integer"),
            ("1,2,0\n\n1,2,1\n", "line 2: blank line inside the data (data continues on line 3)"),
            ("", "no data: the file is empty"),
            ("\n \n", "no data: the file is empty"),
            ("x,y,label\n", "no data rows after the header"),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let path = try writeText(folder, "bad\(index).csv", text)
            #expect(loadError(path, inputs: 2, outputs: 3, loss: .categoricalCrossentropy, requireTargets: true)
                == "\(path): \(message)")
        }
        // Non-integer labels are fine as sparse labels only when they are integers too.
        let path = try writeText(folder, "sparse.csv", "1,2,2.0\n")
        #expect(try load(path, inputs: 2, outputs: 3, loss: .sparseCategoricalCrossentropy).targets == [2])
    }

    @Test func wrongColumnCountSaysWhatWasExpected() throws {
        let folder = try TemporaryFolder()
        let row = (0..<66).map { _ in "0" }.joined(separator: ",")
        let path = try writeText(folder, "data.csv", row + "\n" + row + "\n")
        #expect(loadError(path, inputs: 64, outputs: 10, loss: .categoricalCrossentropy)
            == "\(path): line 1: 66 columns; the model takes 64 inputs and 10 outputs, so expected 64 (features only), "
            + "65 (features and a class label) or 74 (features and targets)")
        #expect(loadError(path, inputs: 64, outputs: 10, loss: .sparseCategoricalCrossentropy, requireTargets: true)
            == "\(path): line 1: 66 columns; the model takes 64 inputs and 10 outputs, so expected 65 (features and a class label)")
        #expect(loadError(path, inputs: 64, outputs: 10, loss: .meanSquaredError)
            == "\(path): line 1: 66 columns; the model takes 64 inputs and 10 outputs, so expected 64 (features only) "
            + "or 74 (features and targets)")
        // A class label for a regression loss is a feature-count mismatch.
        let labelled = try writeText(folder, "labelled.csv", "1,2,3\n")
        #expect(loadError(labelled, inputs: 2, outputs: 4, loss: .meanSquaredError, requireTargets: true)
            == "\(labelled): line 1: 3 columns; the model takes 2 inputs and 4 outputs, so expected 6 (features and targets)")
    }

    @Test func fileProblems() throws {
        let folder = try TemporaryFolder()
        let missing = folder.path("missing.csv")
        #expect(loadError(missing, inputs: 1, outputs: 1) == "\(missing): no such file")
        #expect(loadError(folder.url.path, inputs: 1, outputs: 1) == "\(folder.url.path): is a directory, not a data file")
        let path = try writeText(folder, "big.csv", String(repeating: "1,2\n", count: 100))
        #expect(loadError(path, inputs: 1, outputs: 1, limits: DataLimits(maxBytes: 100, maxValues: 1000))
            == "\(path): file is 400 bytes, over the limit of 100 bytes")
        #expect(loadError(path, inputs: 1, outputs: 1, limits: DataLimits(maxBytes: 1000, maxValues: 100))
            == "\(path): about 101 rows of 2 numbers exceed the limit of 100 numbers")
    }

    @Test func formatComesFromContentNotExtension() throws {
        let folder = try TemporaryFolder()
        let csv = try writeText(folder, "really-csv.npy", "1,2\n")
        #expect(try DataFiles.format(of: csv) == .csv)
        #expect(try load(csv, inputs: 2, outputs: 1).features == [1, 2])
        let array = try folder.write("array.csv", npy(descr: "<f4", shape: "(1, 2)", data: float32Bytes([1, 2])))
        #expect(try DataFiles.format(of: array) == .npy)
        #expect(try DataFiles.format(of: fixtures.appendingPathComponent("iris-like.h5").path) == .hdf5)
        #expect(try DataFiles.format(of: fixtures.appendingPathComponent("iris-like.npz").path) == .npz)
    }
}

// MARK: - NumPy

@Suite struct DataFileNumPyTests {
    @Test func npyElementTypesAndLayouts() throws {
        let folder = try TemporaryFolder()
        let expected: [Float] = [1, -2, 3, 4, 5, 6]
        let files: [(String, [UInt8])] = [
            ("f4", npy(descr: "<f4", shape: "(2, 3)", data: float32Bytes(expected))),
            ("f8v2", npy(descr: "<f8", shape: "(2, 3)", version: 2, data: float64Bytes(expected.map(Double.init)))),
            ("f8v3", npy(descr: "<f8", shape: "(2, 3)", version: 3, data: float64Bytes(expected.map(Double.init)))),
            ("f4be", npy(descr: ">f4", shape: "(2, 3)", data: expected.flatMap { bigEndian($0.bitPattern) })),
            ("i4", npy(descr: "<i4", shape: "(2, 3)", data: expected.flatMap { littleEndian(Int32($0)) })),
            ("i8be", npy(descr: ">i8", shape: "(2, 3)", data: expected.flatMap { bigEndian(Int64($0)) })),
            ("i1", npy(descr: "|i1", shape: "(2, 3)", data: expected.map { UInt8(bitPattern: Int8($0)) })),
            ("f2", npy(descr: "<f2", shape: "(2, 3)", data: [0x3C00, 0xC000, 0x4200, 0x4400, 0x4500, 0x4600].flatMap {
                littleEndian(UInt16($0))
            })),
            // Fortran order: column-major storage of the same matrix.
            ("fortran", npy(descr: "<f4", shape: "(2, 3)", fortran: true, data: float32Bytes([1, 4, -2, 5, 3, 6]))),
        ]
        for (name, bytes) in files {
            let path = try folder.write("\(name).npy", bytes)
            let data = try load(path, inputs: 3, outputs: 1)
            #expect(data.features == expected, "\(name)")
            #expect(data.count == 2 && data.targetWidth == 0)
        }
        let unsigned = try folder.write("u1.npy", npy(descr: "|u1", shape: "(2, 1)", data: [0, 255]))
        #expect(try load(unsigned, inputs: 1, outputs: 1).features == [0, 255])
        let vector = try folder.write("vector.npy", npy(descr: "<f4", shape: "(3,)", data: float32Bytes([1, 2, 3])))
        #expect(try load(vector, inputs: 1, outputs: 1).features == [1, 2, 3])
    }

    @Test func npyErrors() throws {
        let folder = try TemporaryFolder()
        let cases: [(String, [UInt8], String)] = [
            ("lies", npy(descr: "<f4", shape: "(1000000, 3)", data: float32Bytes([1, 2, 3])),
             "the header declares shape (1000000, 3) of <f4, 12000000 bytes of data, but only 12 bytes follow it (truncated file?)"),
            ("extra", npy(descr: "<f4", shape: "(1, 3)", data: float32Bytes([1, 2, 3, 4])),
             "the header declares shape (1, 3) of <f4, 12 bytes of data, but 16 bytes follow it"),
            ("huge", npy(descr: "<f4", shape: "(4294967296, 4294967296)", data: []),
             "shape (4294967296, 4294967296) holds more than the limit of 536870912 numbers"),
            ("features", npy(descr: "<f4", shape: "(1, 2)", data: float32Bytes([1, 2])),
             "shape (1, 2); the model takes 3 inputs, so expected (rows, 3) (or (rows, d1, d2, …) with d1·d2·… = 3)"),
            ("rank3", npy(descr: "<f4", shape: "(1, 2, 2)", data: float32Bytes([1, 2, 3, 4])),
             "shape (1, 2, 2); the model takes 3 inputs, so expected (rows, 3) (or (rows, d1, d2, …) with d1·d2·… = 3)"),
            ("complex", npy(descr: "<c8", shape: "(1, 3)", data: []),
             "unsupported element type '<c8'; use float32, float64 or an integer type"),
            ("nan", npy(descr: "<f4", shape: "(2, 3)", data: float32Bytes([1, 2, 3, 4, .nan, 6])),
             "element [1, 1]: NaN is not allowed (only finite numbers are)"),
            ("overflow", npy(descr: "<f8", shape: "(1, 3)", data: float64Bytes([1, 1e300, 3])),
             "element [0, 1]: infinite value, or one beyond the float32 range, is not allowed (only finite numbers are)"),
            ("version", DataFiles.npyMagic + [4, 0, 0, 0, 0, 0], ".npy format version 4.0 is not supported (1.0, 2.0 and 3.0 are)"),
            ("truncated", Array(npy(descr: "<f4", shape: "(1, 3)", data: []).prefix(30)), "truncated .npy header"),
        ]
        for (name, bytes, reason) in cases {
            let path = try folder.write("\(name).npy", bytes)
            #expect(loadError(path, inputs: 3, outputs: 2) == "\(path): \(reason)", "\(name)")
        }
        // A record dtype: descr is a list of fields.
        var record = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"
        record += String(repeating: " ", count: 64 - (10 + record.utf8.count + 1) % 64) + "\n"
        let recordPath = try folder.write("record.npy", DataFiles.npyMagic + [1, 0] + littleEndian(UInt16(record.utf8.count))
                                              + Array(record.utf8) + float32Bytes([1]))
        #expect(loadError(recordPath, inputs: 1, outputs: 1)
            == "\(recordPath): structured arrays (record dtypes) are not supported; save a plain numeric array")
        let good = try folder.write("good.npy", npy(descr: "<f4", shape: "(1, 3)", data: float32Bytes([1, 2, 3])))
        #expect(loadError(good, inputs: 3, outputs: 2, requireTargets: true)
            == "\(good): a .npy file holds features only, but targets are needed: use an .npz with arrays x and y, "
            + "an HDF5 file, or a CSV file")
    }

    @Test func npzWithLabelsAndTargets() throws {
        let folder = try TemporaryFolder()
        let x = npy(descr: "<f4", shape: "(3, 2)", data: float32Bytes([1, 2, 3, 4, 5, 6]))
        let labels = npy(descr: "<i8", shape: "(3,)", data: [2, 0, 1].flatMap { littleEndian(Int64($0)) })
        for compression in [CompressionMethod.none, .deflate] {
            let path = try folder.write("labels.npz", try zipArchive([("x.npy", x), ("y.npy", labels)], compression: compression))
            let data = try load(path, inputs: 2, outputs: 3, loss: .categoricalCrossentropy, requireTargets: true)
            #expect(data.features == [1, 2, 3, 4, 5, 6])
            #expect(data.targets == [0, 0, 1, 1, 0, 0, 0, 1, 0])
            let sparse = try load(path, inputs: 2, outputs: 3, loss: .sparseCategoricalCrossentropy, requireTargets: true)
            #expect(sparse.targets == [2, 0, 1] && sparse.targetWidth == 1)
        }
        let values = npy(descr: "<f8", shape: "(3, 2)", data: float64Bytes([0.5, 1, 1.5, 2, 2.5, 3]))
        let path = try folder.write("values.npz", try zipArchive([("x.npy", x), ("y.npy", values), ("notes.npy", x)]))
        let data = try load(path, inputs: 2, outputs: 2, loss: .meanSquaredError, requireTargets: true)
        #expect(data.targets == [0.5, 1, 1.5, 2, 2.5, 3] && data.targetWidth == 2)
        // Without y: features only, fine for prediction.
        let featuresOnly = try folder.write("x-only.npz", try zipArchive([("x.npy", x)]))
        #expect(try load(featuresOnly, inputs: 2, outputs: 2).targetWidth == 0)
        #expect(loadError(featuresOnly, inputs: 2, outputs: 2, requireTargets: true)
            == "\(featuresOnly): no array 'y', but targets are needed; it holds 'x'")
    }

    @Test func npzErrors() throws {
        let folder = try TemporaryFolder()
        let x = npy(descr: "<f4", shape: "(3, 2)", data: float32Bytes([1, 2, 3, 4, 5, 6]))
        let cases: [(String, [(String, [UInt8])], String)] = [
            ("missing-x", [("features.npy", x), ("y.npy", x)], "no array 'x' (the features); it holds 'features', 'y'"),
            ("rows", [("x.npy", x), ("y.npy", npy(descr: "<i8", shape: "(2,)", data: [0, 1].flatMap { littleEndian(Int64($0)) }))],
             "array y: 2 rows, but x has 3"),
            ("label", [("x.npy", x), ("y.npy", npy(descr: "<i4", shape: "(3, 1)", data: [0, 1, 3].flatMap { littleEndian(Int32($0)) }))],
             "y[2, 0]: class label 3 is out of range: the model has 3 outputs, so labels are 0...2"),
            ("fraction", [("x.npy", x), ("y.npy", npy(descr: "<f4", shape: "(3,)", data: float32Bytes([0, 0.5, 1])))],
             "y[1]: class label 0.5 is not an integer"),
            ("width", [("x.npy", x), ("y.npy", npy(descr: "<f4", shape: "(3, 2)", data: float32Bytes([0, 1, 0, 1, 0, 1])))],
             "array y: shape (3, 2); the model has 3 outputs, so expected [rows, 3] or class labels shaped [rows] or [rows, 1]"),
            ("features", [("x.npy", x)], "array x: shape (3, 2); the model takes 4 inputs, so expected (rows, 4) (or (rows, d1, d2, …) with d1·d2·… = 4)"),
            ("x-nan", [("x.npy", npy(descr: "<f4", shape: "(3, 2)", data: float32Bytes([1, 2, 3, .nan, 5, 6])))],
             "x[1, 1]: NaN is not allowed (only finite numbers are)"),
        ]
        for (name, entries, reason) in cases {
            let path = try folder.write("\(name).npz", try zipArchive(entries))
            let inputs = name == "features" ? 4 : 2
            #expect(loadError(path, inputs: inputs, outputs: 3, loss: .categoricalCrossentropy) == "\(path): \(reason)", "\(name)")
        }
        let notZip = try folder.write("broken.npz", [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 40))
        #expect(loadError(notZip, inputs: 2, outputs: 3)?.hasPrefix("\(notZip): not a readable zip archive (.npz)") == true)
    }

    @Test func zipBombsAreStopped() throws {
        let folder = try TemporaryFolder()
        let limits = DataLimits(maxBytes: 1 << 20, maxValues: 1 << 24, maxArchiveEntries: 8)
        // 8 MB of zeros deflate to about 8 KB: the declared size is refused before anything is inflated.
        let zeros = npy(descr: "<f4", shape: "(2000000, 1)", data: [UInt8](repeating: 0, count: 8_000_000))
        let honest = try folder.write("honest.npz", try zipArchive([("x.npy", zeros)]))
        #expect(loadError(honest, inputs: 1, outputs: 1, limits: limits)
            == "\(honest): array x: the entry declares 8000128 bytes uncompressed, over the limit of 1048576 bytes")

        // The same entry with its zip sizes rewritten to 64 bytes: the .npy header's own shape stops it.
        var lying = try zipArchive([("x.npy", zeros)])
        patchUncompressedSizes(&lying, to: 64)
        let lyingPath = try folder.write("lying.npz", lying)
        #expect(loadError(lyingPath, inputs: 1, outputs: 1, limits: limits)
            == "\(lyingPath): array x: shape (2000000, 1) of <f4 needs 8000000 bytes, over the limit of 1048576 bytes")

        // A header that declares two rows in front of 8 MB: inflating stops right after the declared bytes.
        let tail = npy(descr: "<f4", shape: "(2, 1)", data: [UInt8](repeating: 0, count: 8_000_000))
        var lyingHeader = try zipArchive([("x.npy", tail)])
        patchUncompressedSizes(&lyingHeader, to: 72)
        let tailPath = try folder.write("tail.npz", lyingHeader)
        #expect(loadError(tailPath, inputs: 1, outputs: 1, limits: limits)
            == "\(tailPath): array x: decompresses to more than its header declares (shape (2, 1) of <f4: 8 bytes of data)")

        // Too many entries: refused while counting, before any is read.
        let x = npy(descr: "<f4", shape: "(1, 1)", data: float32Bytes([1]))
        let many = try folder.write("many.npz", try zipArchive((0..<20).map { ("a\($0).npy", x) } + [("x.npy", x)]))
        #expect(loadError(many, inputs: 1, outputs: 1, limits: limits)
            == "\(many): the archive has 21 entries, over the limit of 8; refused (an .npz holds one entry per array)")
    }

    /// Rewrites the uncompressed-size fields of every local header and central directory record.
    private func patchUncompressedSizes(_ bytes: inout [UInt8], to size: UInt32) {
        let value = littleEndian(size)
        var i = 0
        while i + 30 < bytes.count {
            if bytes[i] == 0x50, bytes[i + 1] == 0x4B, bytes[i + 2] == 0x03, bytes[i + 3] == 0x04 {
                bytes.replaceSubrange((i + 22)..<(i + 26), with: value)
            } else if bytes[i] == 0x50, bytes[i + 1] == 0x4B, bytes[i + 2] == 0x01, bytes[i + 3] == 0x02 {
                bytes.replaceSubrange((i + 24)..<(i + 28), with: value)
            }
            i += 1
        }
    }
}

// MARK: - HDF5

@Suite struct DataFileHDF5Tests {
    private func writeFile(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let file = try HDF5File.create(at: path)
        try body(file)
        try file.close()
    }

    @Test func datasetsOfAnyNumberType() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("data.h5")
        try writeFile(path) { file in
            _ = try file.createDataset("x", shape: [3, 2], values: [Double](arrayLiteral: 1, 2, 3, 4, 5, 6))
            _ = try file.createDataset("y", shape: [3], values: [Int64](arrayLiteral: 2, 0, 1))
        }
        let data = try load(path, inputs: 2, outputs: 3, loss: .categoricalCrossentropy, requireTargets: true)
        #expect(data.features == [1, 2, 3, 4, 5, 6])
        #expect(data.targets == [0, 0, 1, 1, 0, 0, 0, 1, 0])
        #expect(try load(path, inputs: 2, outputs: 3, loss: .sparseCategoricalCrossentropy).targets == [2, 0, 1])

        let regression = folder.path("regression.h5")
        try writeFile(regression) { file in
            _ = try file.createDataset("x", shape: [2, 2], values: [UInt32](arrayLiteral: 1, 2, 3, 4))
            _ = try file.createDataset("y", shape: [2, 2], values: [Float](arrayLiteral: 0.5, -1, 2, 8),
                                       compression: HDF5Compression())
        }
        let values = try load(regression, inputs: 2, outputs: 2, loss: .meanSquaredError, requireTargets: true)
        #expect(values.features == [1, 2, 3, 4] && values.targets == [0.5, -1, 2, 8])
    }

    @Test func hdf5Errors() throws {
        let folder = try TemporaryFolder()
        func check(_ name: String, inputs: Int = 2, _ body: (HDF5File) throws -> Void, _ reason: String) throws {
            let path = folder.path(name)
            try writeFile(path, body)
            #expect(loadError(path, inputs: inputs, outputs: 3, loss: .categoricalCrossentropy, requireTargets: true)
                == "\(path): \(reason)", "\(name)")
        }
        let x: [Float] = [1, 2, 3, 4, 5, 6]
        try check("missing.h5", { file in
            _ = try file.createDataset("features", shape: [3, 2], values: x)
        }, "no dataset 'x' (the features); it holds 'features'")
        try check("no-y.h5", { file in
            _ = try file.createDataset("x", shape: [3, 2], values: x)
        }, "no dataset 'y', but targets are needed; it holds 'x'")
        try check("width.h5", inputs: 3, { file in
            _ = try file.createDataset("x", shape: [3, 2], values: x)
            _ = try file.createDataset("y", shape: [3], values: [Int64](arrayLiteral: 0, 1, 2))
        }, "/x: shape (3, 2); the model takes 3 inputs, so expected (rows, 3) (or (rows, d1, d2, …) with d1·d2·… = 3)")
        try check("rows.h5", { file in
            _ = try file.createDataset("x", shape: [3, 2], values: x)
            _ = try file.createDataset("y", shape: [2, 1], values: [Int64](arrayLiteral: 0, 1))
        }, "/y: 2 rows, but x has 3")
        try check("label.h5", { file in
            _ = try file.createDataset("x", shape: [3, 2], values: x)
            _ = try file.createDataset("y", shape: [3, 1], values: [Int64](arrayLiteral: 0, 7, 1))
        }, "/y[1, 0]: class label 7 is out of range: the model has 3 outputs, so labels are 0...2")
        try check("inf.h5", { file in
            _ = try file.createDataset("x", shape: [3, 2], values: [Double](arrayLiteral: 1, 2, 3, 4, .infinity, 6))
            _ = try file.createDataset("y", shape: [3], values: [Int64](arrayLiteral: 0, 1, 2))
        }, "/x[2, 0]: infinite value, or one beyond the float32 range, is not allowed (only finite numbers are)")
        try check("text.h5", { file in
            _ = try file.createStringDataset("x", text: "hello")
        }, "/x: is a scalar, expected an array")
        try check("group.h5", { file in
            _ = try file.createGroup("x")
        }, "/x: is a group, expected a dataset")
    }

    @Test func externalLinksAreRefused() throws {
        let folder = try TemporaryFolder()
        let other = folder.path("other.h5")
        try writeFile(other) { file in _ = try file.createDataset("x", shape: [1, 2], values: [Float](arrayLiteral: 1, 2)) }
        let path = folder.path("linked.h5")
        try writeFile(path) { file in
            try HDF5Library.withHDF5 {
                try #require(H5Lcreate_external(other, "/x", file.id, "x", mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
            }
        }
        let message = try #require(loadError(path, inputs: 2, outputs: 1))
        #expect(message.hasPrefix("\(path): /x: cannot open dataset: "))
        #expect(message.contains("external links are refused"))
    }
}

// MARK: - Files written by numpy and h5py

@Suite struct DataFileFixtureTests {
    /// fixtures/data/iris-like.* hold the same 30 samples (written by fixtures/generate/generate_data_files.py):
    /// every reader must give the same dataset.
    @Test func numpyAndH5pyFilesMatchTheCSV() throws {
        func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }
        let loss = Loss.categoricalCrossentropy
        let csv = try load(fixture("iris-like.csv"), inputs: 4, outputs: 3, loss: loss, requireTargets: true)
        #expect(csv.count == 30 && csv.featureWidth == 4 && csv.targetWidth == 3)
        #expect(Array(csv.features.prefix(4)) == [4.94, 3.24, 1.54, -0.34])
        #expect(Array(csv.targets.prefix(9)) == [1, 0, 0, 0, 1, 0, 0, 0, 1])
        for name in ["iris-like.npz", "iris-like-onehot.npz", "iris-like.h5"] {
            let data = try load(fixture(name), inputs: 4, outputs: 3, loss: loss, requireTargets: true)
            #expect(data == csv, "\(name)")
        }
        let sparse = try load(fixture("iris-like.h5"), inputs: 4, outputs: 3, loss: .sparseCategoricalCrossentropy)
        #expect(Array(sparse.targets.prefix(4)) == [0, 1, 2, 0])
        let features = try load(fixture("iris-like-features.npy"), inputs: 4, outputs: 3, loss: loss)
        #expect(features.features == csv.features && features.targetWidth == 0)
    }
}

// MARK: - Predictions

@Suite struct DataFilePredictionTests {
    let values: [Float] = [0.1, -2.5, 1e-30, 3.4028235e38, 0, -0.0, 1.0 / 3, 123456.79, Float.leastNonzeroMagnitude]

    @Test func csvRoundTrips() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("predictions.csv")
        try DataFiles.writePredictions(values, rows: 3, columns: 3, to: path, format: .csv)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("output_0,output_1,output_2\n0.1,-2.5,1e-30\n"))
        // Read back as a features-only file of a 3-input model: the same bits.
        let back = try load(path, inputs: 3, outputs: 1)
        #expect(back.features.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func npyRoundTrips() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("predictions.npy")
        try DataFiles.writePredictions(values, rows: 3, columns: 3, to: path, format: .npy)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count == 128 + 36)  // numpy aligns the data to 64 bytes
        #expect(String(decoding: bytes[10..<128], as: UTF8.self).hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }"))
        let back = try load(path, inputs: 3, outputs: 1)
        #expect(back.features.map(\.bitPattern) == values.map(\.bitPattern))
        // Overwriting replaces the file whole.
        try DataFiles.writePredictions([1, 2], rows: 2, columns: 1, to: path, format: .npy)
        #expect(try load(path, inputs: 1, outputs: 1).features == [1, 2])
    }

    @Test func writerErrorsAndFormats() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("p.csv")
        #expect(throws: DataFileError(file: path, reason: "cannot write predictions: 3 values do not make 2 rows of 2 columns")) {
            try DataFiles.writePredictions([1, 2, 3], rows: 2, columns: 2, to: path, format: .csv)
        }
        let nowhere = folder.path("no-such-folder/p.csv")
        do {
            try DataFiles.writePredictions([1], rows: 1, columns: 1, to: nowhere, format: .csv)
            Issue.record("wrote into a missing folder")
        } catch {
            #expect(error.description.hasPrefix("\(nowhere): cannot write: the folder"))
        }
        #expect(PredictionFormat(path: "out/PRED.CSV") == .csv)
        #expect(PredictionFormat(path: "pred.npy") == .npy)
        #expect(PredictionFormat(path: "pred.txt") == nil)
        #expect(PredictionFormat(path: "dir.npy/pred") == nil)
    }
}

struct MultiAxisFeatureTests {
    /// A model that flattens its input reads samples of any shape whose size is its input width, row-major as
    /// Keras's Flatten takes them, from C- and Fortran-ordered arrays alike.
    @Test func samplesWithSeveralAxesAreFlattenedRowMajor() throws {
        let folder = try TemporaryFolder()
        let values: [Float] = (0..<12).map(Float.init)  // x[r, i, j] = 6r + 3i + j for shape (2, 2, 3)
        // The same array in column-major order: element (r, i, j) at r + 2i + 4j.
        var fortran = [Float](repeating: 0, count: 12)
        for r in 0..<2 { for i in 0..<2 { for j in 0..<3 { fortran[r + 2 * i + 4 * j] = Float(6 * r + 3 * i + j) } } }
        for (name, bytes) in [("c", npy(descr: "<f4", shape: "(2, 2, 3)", data: float32Bytes(values))),
                              ("f", npy(descr: "<f4", shape: "(2, 2, 3)", fortran: true, data: float32Bytes(fortran)))] {
            let path = folder.path("\(name).npy")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let data = try DataFiles.load(path, inputWidth: 6, outputWidth: 1, loss: nil, requireTargets: false)
            #expect(data.featureWidth == 6 && data.count == 2, "\(name)")
            #expect(data.features == values, "\(name)")
        }
        let path = folder.path("c.npy")
        #expect(throws: DataFileError.self) {
            try DataFiles.load(path, inputWidth: 4, outputWidth: 1, loss: nil, requireTargets: false)
        }
    }

    /// Prediction reads only the features: targets that fit no loss, or no model, are not looked at.
    @Test func loadFeaturesIgnoresTargetsOfAnyShape() throws {
        let folder = try TemporaryFolder()
        let csv = folder.path("labels.csv")
        try "0.5,1,7\n1,2,-3.5\n".write(toFile: csv, atomically: false, encoding: .utf8)
        let fromCSV = try DataFiles.loadFeatures(csv, inputWidth: 2, outputWidth: 3)
        #expect(fromCSV.features == [0.5, 1, 1, 2] && fromCSV.targetWidth == 0)
        #expect(throws: DataFileError.self) {
            try DataFiles.load(csv, inputWidth: 2, outputWidth: 3, loss: .sparseCategoricalCrossentropy, requireTargets: false)
        }
        let justFeatures = try DataFiles.loadFeatures(csv, inputWidth: 3, outputWidth: 2)
        #expect(justFeatures.features == [0.5, 1, 7, 1, 2, -3.5])
        // A column count that fits no layout means the features are not the model's: refused, not cut.
        #expect(throws: DataFileError.self) { try DataFiles.loadFeatures(csv, inputWidth: 1, outputWidth: 3) }
    }
}
