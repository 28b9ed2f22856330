import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing

/// fixtures/onnx-mlpconv: files mlpconv exported (fixtures/generate/generate_onnx_mlpconv.py), with onnxruntime's
/// outputs on fixed rows. Reading one back predicts what onnxruntime computed, and exporting what was read gives the
/// same bytes again: a change to the exporter shows up here as a fixture to regenerate on purpose.
struct ONNXMlpconvFixtureTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/onnx-mlpconv")

    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let dtype: String
        let rows: [[Double]]
        let onnxruntimeOutputs: [[Double]]
        let convertOptions: [String]
        let externalData: [String]
        var testDescription: String { file }
    }

    static let cases: [Case] = {
        struct Root: Decodable { let cases: [Case] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("expected.json")),
              let root = try? decoder.decode(Root.self, from: data) else { return [] }
        return root.cases
    }()

    @Test func fixturesArePresent() {
        #expect(Self.cases.count == 7)
    }

    @Test(arguments: cases)
    func readsBackAsOnnxruntimeRunsIt(entry: Case) throws {
        let file = entry.file
        let path = Self.folder.appendingPathComponent(file).path
        let document = try ModelFiles.load(path)
        let rows = entry.rows.flatMap { $0 }
        let expected = entry.onnxruntimeOutputs.flatMap { $0 }
        let isFloat64 = entry.dtype == "float64"
        let predicted: [Double] = isFloat64 ? try document.network(as: Double.self).predict(rows)
            : try document.network(as: Float.self).predict(rows.map(Float.init)).map(Double.init)
        #expect(predicted.count == expected.count)
        let gap = zip(predicted, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(gap <= (isFloat64 ? 1e-12 : 1e-6), "\(file): \(gap)")

        // Export again with the options the generator used: the same bytes, external data included.
        let options = entry.convertOptions
        let opset = options.firstIndex(of: "--opset").flatMap { Int(options[$0 + 1]) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-again-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let again = folder.appendingPathComponent(file).path
        try ModelFiles.save(document, to: again, format: .onnx,
                            options: SaveOptions(onnxOpset: opset, onnxExternalData: options.contains("--external-data")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: again)) == Data(contentsOf: URL(fileURLWithPath: path)), "\(file)")
        for data in entry.externalData {
            #expect(try Data(contentsOf: folder.appendingPathComponent(data)) == Data(contentsOf: Self.folder.appendingPathComponent(data)),
                    "\(data)")
        }
    }
}
