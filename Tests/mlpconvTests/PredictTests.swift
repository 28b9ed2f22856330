import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
@testable import MLPDataFiles

// End-to-end tests of `predict`, run through the built binary.

struct PredictCommandTests {
    @Test func npyOutputIsNetworkPredictBitForBit() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch, rows: 300)
        let npy = scratch.path("pred.npy")
        let result = try mlpconv(["predict", h5, "--data", data, "--output", npy])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "wrote \(npy) (npy, 300 rows × 3 columns) from \(h5) on \(data)\n")

        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: false)
        let expected = try document.network().predict(dataset.features)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: npy)))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '<f4'") && header.contains("'shape': (300, 3)"))
        let body = Array(bytes[(10 + headerLength)...])
        #expect(body.count == expected.count * 4)
        let values = (0..<body.count / 4).map { i in
            Float(bitPattern: UInt32(body[4 * i]) | UInt32(body[4 * i + 1]) << 8 | UInt32(body[4 * i + 2]) << 16 | UInt32(body[4 * i + 3]) << 24)
        }
        #expect(values.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func csvOnStdoutMatchesTheOutputFile() throws {
        let scratch = try Scratch()
        let (json, document) = try sampleModelFile(scratch, name: "model.json", format: .json)
        let data = try sampleDataFile(scratch)
        let printed = try mlpconv(["predict", json, "--data", data])
        #expect(printed.status == 0)
        let csv = scratch.path("pred.csv")
        #expect(try mlpconv(["predict", json, "--data", data, "--output", csv]).status == 0)
        #expect(printed.stdout == (try String(contentsOfFile: csv, encoding: .utf8)))

        let rows = lines(printed.stdout)
        #expect(rows[0] == "output_0,output_1,output_2")
        #expect(rows.count == 22 && rows[21] == "")
        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: false)
        let expected = try document.network().predict(dataset.features)
        let parsed = rows[1...20].flatMap { $0.split(separator: ",").compactMap { Float(String($0)) } }
        #expect(parsed.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func jsonOutputHasStableKeys() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch, rows: 4)
        let inline = try mlpconv(["predict", h5, "--data", data, "--json"])
        #expect(inline.status == 0)
        let object = try jsonObject(inline.stdout)
        #expect(Set(object.keys) == ["rows", "columns", "predictions"])
        #expect(object["rows"] as? Int == 4 && object["columns"] as? Int == 3)
        let predictions = try #require(object["predictions"] as? [[Double]])
        let dataset = try DataFiles.load(data, inputWidth: 4, outputWidth: 3, loss: .categoricalCrossentropy, requireTargets: false)
        let expected = try document.network().predict(dataset.features)
        #expect(predictions.flatMap { $0 }.map(Float.init) == expected)

        let npy = scratch.path("p.npy")
        let written = try mlpconv(["predict", h5, "--data", data, "--json", "--output", npy])
        let summary = try jsonObject(written.stdout)
        #expect(Set(summary.keys) == ["rows", "columns", "output", "format"])
        #expect(summary["rows"] as? Int == 4 && summary["columns"] as? Int == 3)
        #expect(summary["output"] as? String == npy && summary["format"] as? String == "npy")
    }

    @Test func readsFeatureOnlyFiles() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let features = scratch.path("x.csv")
        try "0.5,-1,2,0\n1,1,1,1\n".write(toFile: features, atomically: false, encoding: .utf8)
        let result = try mlpconv(["predict", h5, "--data", features, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let predictions = try #require(try jsonObject(result.stdout)["predictions"] as? [[Double]])
        #expect(predictions.flatMap { $0 }.map(Float.init) == (try document.network().predict([0.5, -1, 2, 0, 1, 1, 1, 1])))
    }

    /// The targets of a data file play no part in prediction, even when they fit no loss of the model: here a
    /// class label out of range for a 3-class model, which `evaluate` refuses.
    @Test func ignoresTargetsThatDoNotFitTheModel() throws {
        let scratch = try Scratch()
        let (h5, document) = try sampleModelFile(scratch)
        let labelled = scratch.path("labels.csv")
        try "0.5,-1,2,0,7\n1,1,1,1,-2\n".write(toFile: labelled, atomically: false, encoding: .utf8)
        let result = try mlpconv(["predict", h5, "--data", labelled, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let predictions = try #require(try jsonObject(result.stdout)["predictions"] as? [[Double]])
        #expect(predictions.flatMap { $0 }.map(Float.init) == (try document.network().predict([0.5, -1, 2, 0, 1, 1, 1, 1])))
        let evaluated = try mlpconv(["evaluate", h5, "--data", labelled])
        #expect(evaluated.status == 2)
    }

    @Test func refusesToOverwriteWithoutForce() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch)
        let csv = scratch.path("pred.csv")
        try "keep me".write(toFile: csv, atomically: false, encoding: .utf8)
        let refused = try mlpconv(["predict", h5, "--data", data, "--output", csv])
        #expect(refused.status == 2)
        #expect(refused.stderr == "mlpconv: \(csv): already exists; use --force to replace it\n")
        #expect(try String(contentsOfFile: csv, encoding: .utf8) == "keep me")
        #expect(try mlpconv(["predict", h5, "--data", data, "--output", csv, "--force"]).status == 0)
        #expect(try String(contentsOfFile: csv, encoding: .utf8).hasPrefix("output_0,output_1,output_2\n"))
    }

    @Test func badInputsExitWithCodeTwo() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let data = try sampleDataFile(scratch)
        let missing = try mlpconv(["predict", scratch.path("nope.json"), "--data", data])
        #expect(missing.status == 2)
        #expect(missing.stderr == "mlpconv: \(scratch.path("nope.json")): no such file\n")
        let missingData = try mlpconv(["predict", h5, "--data", scratch.path("nope.csv")])
        #expect(missingData.status == 2)
        #expect(missingData.stderr == "mlpconv: \(scratch.path("nope.csv")): no such file\n")
        let notAModel = scratch.path("model.txt")
        try "hello".write(toFile: notAModel, atomically: false, encoding: .utf8)
        let wrongFormat = try mlpconv(["predict", notAModel, "--data", data])
        #expect(wrongFormat.status == 2)
        #expect(wrongFormat.stderr.hasPrefix("mlpconv: \(notAModel): not a model file"))
        let wide = scratch.path("wide.csv")
        try "1,2,3,4,5,6,7,8,9\n".write(toFile: wide, atomically: false, encoding: .utf8)
        let wrongColumns = try mlpconv(["predict", h5, "--data", wide])
        #expect(wrongColumns.status == 2)
        #expect(wrongColumns.stderr.hasPrefix("mlpconv: \(wide): line 1"))
        #expect(wrongColumns.stderr.contains("9 columns"))
        #expect(wrongColumns.stderr.split(separator: "\n").count == 1)
        let ragged = scratch.path("ragged.csv")
        try "1,2,3,4\n1,2,3\n".write(toFile: ragged, atomically: false, encoding: .utf8)
        let raggedRows = try mlpconv(["predict", h5, "--data", ragged])
        #expect(raggedRows.status == 2)
        #expect(raggedRows.stderr.hasPrefix("mlpconv: \(ragged): line 2"))
        let unknown = try mlpconv(["predict", h5, "--data", data, "--output", scratch.path("p.txt")])
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "mlpconv: \(scratch.path("p.txt")): cannot tell the format from the extension; use .csv or .npy\n")
    }
}
