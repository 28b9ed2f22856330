import Foundation
import MLPCore
import Testing
import HDF5Support
import JSONSupport
@testable import KerasFormat
@testable import MLPModelFiles
import MLPDocument
import TestSupport

/// fixtures/keras-metrics/expected.json, written by fixtures/generate/generate_keras_metrics.py with Keras 3.15.1
/// (JAX): models compiled with metric names and objects, trained one epoch and saved by Keras; Keras's evaluate on
/// the saved state and its history for one more epoch.
private struct KerasMetricsExpectations: Decodable {
    struct Model: Decodable, Sendable, CustomTestStringConvertible {
        struct Evaluate: Decodable, Sendable { let results: [String: Double] }
        struct Continuation: Decodable, Sendable {
            let validationSplit: Double
            let history: [String: [Double]]
            let weights: [KerasFixtureWeights]
        }
        let name: String
        let h5: String
        let keras: String
        let train: KerasFixtureTraining
        let evaluate: Evaluate
        let continuation: Continuation
        var testDescription: String { name }
    }
    let models: [Model]
}

private let metricsFolder = kerasFixtureFolder("keras-metrics")
private let expectedURL = metricsFolder.appendingPathComponent("expected.json")
private let metricModels: [KerasMetricsExpectations.Model] =
    decodeKerasFixture(KerasMetricsExpectations.self, at: expectedURL)?.models ?? []

/// The raw `compile_config_metrics` / `training_config_metrics` lists of a model, as Foundation values.
private func storedLists(_ name: String) throws -> (keras: [Any], h5: [Any]) {
    let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: expectedURL)) as? [String: Any])
    let models = try #require(root["models"] as? [[String: Any]])
    let model = try #require(models.first { $0["name"] as? String == name })
    return (try #require(model["compile_config_metrics"] as? [Any]), try #require(model["training_config_metrics"] as? [Any]))
}

private func jsonList(_ text: String) throws -> [Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any])
}

/// Keras's `.keras` list with metric functions (`{"class_name": "function", "config": name}`) as their names: what
/// Keras's `.h5` holds for them.
private func functionsAsNames(_ list: [Any]) -> [Any] {
    list.map { entry in
        if let object = entry as? [String: Any], object["class_name"] as? String == "function" { return object["config"] ?? entry }
        return entry
    }
}

/// |actual − expected| ≤ 1e-6·|expected| (+1e-7 for values near 0): float32 within a few roundings.
private func close(_ actual: Double?, _ expected: Double, relative: Double = 1e-6) -> Bool {
    guard let actual else { return false }
    return abs(actual - expected) <= relative * abs(expected) + 1e-7
}

private let notComputedByModel: [String: Set<String>] = [
    "classifier": ["auc", "precision"], "sparse_logits": [], "binary": ["precision", "recall"], "regression": ["r2_score"],
]

struct KerasMetricsFixtureTests {
    @Test func fixturesArePresent() {
        #expect(metricModels.map(\.name) == ["classifier", "sparse_logits", "binary", "regression"])
    }

    /// Keras's `.keras` list is read as it is; Keras's `.h5` as the same text, but for metric functions, which
    /// Keras's `.h5` only names.
    @Test("the compiled metrics are read from both formats as Keras's list", arguments: metricModels)
    fileprivate func readsTheList(model: KerasMetricsExpectations.Model) throws {
        let lists = try storedLists(model.name)
        for (file, expected) in [(model.keras, lists.keras), (model.h5, functionsAsNames(lists.keras))] {
            let document = try ModelFiles.load(metricsFolder.appendingPathComponent(file).path)
            let text = try #require(document.metadata["keras_metrics"], "\(file)")
            #expect((try jsonList(text) as NSArray).isEqual(to: expected), "\(file): \(text)")
        }
    }

    /// Keras's evaluate on the saved state: every metric mlpconv computes within 1e-6, the others named.
    @Test("evaluate reports Keras's metrics under Keras's names", arguments: metricModels)
    fileprivate func evaluatesAsKeras(model: KerasMetricsExpectations.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(metricsFolder.appendingPathComponent(file).path)
            let compiled = try #require(try ModelFiles.compiledMetrics(of: document, file: file))
            #expect(Set(compiled.notComputed.map(\.name)) == notComputedByModel[model.name], "\(file)")
            let names = Set(compiled.computed.map(\.name)).union(compiled.notComputed.map(\.name)).union(["loss"])
            #expect(names == Set(model.evaluate.results.keys), "\(file)")
            let trained: MLPCore.Model<Float> = try document.model()
            let results = try trained.evaluate(try model.train.dataset, batchSize: model.train.batchSize,
                                               metrics: compiled.computed)
            for metric in compiled.computed {
                let expected = try #require(model.evaluate.results[metric.name])
                #expect(close(results[metric.name], expected), "\(file): \(metric.name) \(results[metric.name] ?? .nan) vs \(expected)")
            }
            #expect(close(results["loss"], try #require(model.evaluate.results["loss"])), "\(file): loss")
        }
    }

    /// One more epoch: the history holds Keras's keys (validation ones included) with Keras's values.
    @Test("the history holds Keras's metrics after one more epoch", arguments: metricModels)
    fileprivate func continuesAsKeras(model: KerasMetricsExpectations.Model) throws {
        for file in [model.h5, model.keras] {
            let document = try ModelFiles.load(metricsFolder.appendingPathComponent(file).path)
            let compiled = try #require(try ModelFiles.compiledMetrics(of: document, file: file))
            var trained: MLPCore.Model<Float> = try document.model()
            try trained.fit(try model.train.dataset, options: FitOptions(
                epochs: 1, batchSize: model.train.batchSize, shuffle: false,
                validationSplit: model.continuation.validationSplit, metrics: compiled.computed))
            expectWeights(of: trained.network, equal: model.continuation.weights, within: 1e-6, file)
            let record = try #require(trained.training.history.last)
            let skipped = Set(compiled.notComputed.flatMap { [$0.name, "val_" + $0.name] })
            #expect(Set(record.metrics.keys) == Set(model.continuation.history.keys).subtracting(skipped), "\(file)")
            for (key, values) in model.continuation.history where !skipped.contains(key) {
                let expected = try #require(values.first)
                #expect(close(record.metrics[key], expected), "\(file): \(key) \(record.metrics[key] ?? .nan) vs \(expected)")
            }
        }
    }

    /// mlpconv → .keras / .h5 → mlpconv keeps the text bit for bit, and the files hold Keras's own lists.
    @Test("Keras file → keras and keras-h5 → the same metrics", arguments: metricModels)
    fileprivate func roundTrip(model: KerasMetricsExpectations.Model) throws {
        let folder = try TemporaryFolder()
        let lists = try storedLists(model.name)
        let document = try ModelFiles.load(metricsFolder.appendingPathComponent(model.keras).path)
        let text = try #require(document.metadata["keras_metrics"])
        for (format, file) in [(ModelFormat.keras, "m.keras"), (.kerasH5, "m.h5"), (.json, "m.json"), (.h5, "native.h5")] {
            try ModelFiles.save(document, to: folder.path(file), format: format)
            let back = try ModelFiles.load(folder.path(file))
            #expect(back.metadata["keras_metrics"] == text, "\(file)")
            if format == .keras || format == .kerasH5 {
                // With MLPCONV_INTEROP_DIR set, scripts/keras_interop_check.py compares Keras's history with mlpconv's.
                let exported = "rt_metrics_\(model.name)" + (format == .keras ? ".keras" : ".keras.h5")
                try exportForKerasInterop(folder.path(file), name: exported)
                try exportExpectations(of: back, name: exported)
            }
        }
        let h5Config = try HDF5File.openReadOnly(at: folder.path("m.h5")).stringAttribute("training_config")
        let h5Root = try #require(try JSONSerialization.jsonObject(with: Data(h5Config.utf8)) as? [String: Any])
        #expect((try #require(h5Root["metrics"] as? [Any]) as NSArray).isEqual(to: lists.h5), "training_config")
    }

    /// Keras 2's `[[MeanMetricWrapper(fn)]]` becomes the class of the function, with the wrapper's name.
    @Test func keras2FormsAreBroughtToKeras3() throws {
        let document = try ModelFiles.load(kerasFixtureFolder("keras2").appendingPathComponent("adam_gelu_softmax_sparse.h5").path)
        #expect(document.metadata["keras_metrics"] == #"[{"module":"keras.metrics","class_name":"SparseCategoricalAccuracy","config":{"name":"accuracy","dtype":"float32"},"registered_name":null}]"#)
        let compiled = try #require(try ModelFiles.compiledMetrics(of: document, file: "f"))
        #expect(compiled.computed == [try Metric(.sparseCategoricalAccuracy, name: "accuracy")])
    }

    private func read(_ metrics: String) -> String {
        do {
            let root = try JSONDocument.parse(Array("{\"metrics\": \(metrics)}".utf8), file: "m.keras").root
            return try KerasMetrics.read(root)
        } catch {
            return "\(error.path): \(error.reason)"
        }
    }

    @Test func formsAndRefusals() {
        #expect(read("null") == "")
        #expect(read("[]") == "")
        #expect(read(#"[["acc"], [{"class_name": "function", "config": "mae", "module": "builtins", "registered_name": "function"}]]"#)
                == #"["acc",{"module":"builtins","class_name":"function","config":"mae","registered_name":"function"}]"#)
        #expect(read(#"[{"class_name": "AUC", "config": {"name": "auc", "num_thresholds": 7}}]"#)
                == #"[{"module":"keras.metrics","class_name":"AUC","config":{"name":"auc","num_thresholds":7},"registered_name":null}]"#)
        #expect(read(#"[{"module": "my_pkg.metrics", "class_name": "F2", "config": {}}]"#)
                == #"$.metrics[0].module: a metric from module "my_pkg.metrics" is refused: only Keras's own keras.metrics are read, nothing is imported"#)
        #expect(read(#"[{"module": "keras.metrics", "class_name": "AUC", "config": {}, "registered_name": "MyAUC"}]"#)
                == #"$.metrics[0].registered_name: custom object "MyAUC" is refused: mlpconv never loads custom code"#)
        #expect(read(#"[{"module": "my_pkg", "class_name": "function", "config": "f1", "registered_name": "function"}]"#)
                == #"$.metrics[0]: metric function f1 from module "my_pkg" is refused: only Keras's own metric functions are read, mlpconv never loads custom code"#)
        #expect(read(#"[{"module": "builtins", "class_name": "function", "config": "my_f1", "registered_name": "function"}]"#)
                == #"$.metrics[0]: metric function my_f1 from module "builtins" is refused: only Keras's own metric functions are read, mlpconv never loads custom code"#)
        #expect(read(#"[3]"#) == "$.metrics[0]: a metric must be a name or a serialized metric object, got an integer")
        #expect(read(#""accuracy""#) == "$.metrics: metrics must be a list, got a string")
    }

    /// A file compiled with a custom metric loads without its training state, which names the metric.
    @Test func customMetricKeepsTheTrainingStateOut() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("custom.h5")
        try FileManager.default.copyItem(atPath: metricsFolder.appendingPathComponent("binary.h5").path, toPath: path)
        let config = try HDF5File.openReadOnly(at: path).stringAttribute("training_config")
        let edited = config.replacingOccurrences(of: #"{"class_name": "Recall""#,
                                                 with: #"{"module": "my_metrics", "class_name": "Recall""#)
        #expect(edited != config)
        try HDF5File.openReadWrite(at: path).setAttribute("training_config", .string(edited))
        let document = try ModelFiles.load(path)
        #expect(document.training == nil)
        #expect(document.metadata["keras_training_state"]?.contains(#"a metric from module "my_metrics" is refused"#) == true)
        #expect(document.metadata["keras_metrics"] == nil)
    }

    /// Metadata that is not a metrics list is refused when a Keras file is written, naming the key.
    @Test func badMetadataIsRefusedOnWrite() throws {
        var document = try ModelFiles.load(metricsFolder.appendingPathComponent("binary.keras").path)
        document.metadata["keras_metrics"] = #"[{"module": "evil", "class_name": "X", "config": {}}]"#
        let folder = try TemporaryFolder()
        let error = expectError(ModelFileError.self) { try ModelFiles.save(document, to: folder.path("x.keras"), format: .keras) }
        #expect(error?.description.contains("metadata keras_metrics $[0].module: a metric from module \"evil\" is refused") == true,
                "\(error.map(String.init(describing:)) ?? "")")
        #expect(throws: ModelFileError.self) { try ModelFiles.compiledMetrics(of: document, file: "x.json") }
    }
}
