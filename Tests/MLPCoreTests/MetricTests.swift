import MLPCore
import Testing

// The metric type's refusals and how fit and evaluate use a metrics list. Values against Keras are checked on
// fixtures/keras-metrics (KerasMetricsFixtureTests).

struct MetricTests {
    private func refusal(_ make: () throws(MetricError) -> Metric) -> String {
        do { _ = try make(); return "(no error)" } catch { return error.description }
    }

    @Test func settingsAMetricDoesNotHaveAreRefused() {
        #expect(refusal { () throws(MetricError) in try Metric(.meanSquaredError, threshold: 0.3) }
                == "metric mean_squared_error has no threshold (only binary_accuracy has one)")
        #expect(refusal { () throws(MetricError) in try Metric(.categoricalAccuracy, name: "acc", k: 2) }
                == "metric acc has no k (only the top-k accuracies have one)")
        #expect(refusal { () throws(MetricError) in try Metric(.topKCategoricalAccuracy, k: 0) }
                == "metric top_k_categorical_accuracy k must be positive, got 0")
        #expect(refusal { () throws(MetricError) in try Metric(.meanAbsoluteError, fromLogits: true) }
                == "metric mean_absolute_error has no from_logits or label_smoothing setting (only the cross-entropies have them)")
        #expect(refusal { () throws(MetricError) in try Metric(.sparseCategoricalCrossentropy, labelSmoothing: 0.1) }.hasPrefix(
            "metric sparse_categorical_crossentropy has no label smoothing"))
        #expect(refusal { () throws(MetricError) in try Metric(.accuracy, name: "") } == "metric accuracy needs a non-empty name")
        #expect(MetricKind(name: "acc") == .accuracy && MetricKind(name: "mse") == .meanSquaredError)
    }

    private func model() throws -> Model<Float> {
        try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .softmax)], loss: .sparseCategoricalCrossentropy,
                         optimizer: OptimizerConfig(.sgd, learningRate: 0.1), seed: 3)
    }

    private let labels = try? Dataset<Float>(features: [0.5, -1, 1, 0.25, -0.5, 0.75, 0, 1], featureWidth: 2,
                                             targets: [0, 2, 1, 2], targetWidth: 1)

    @Test func metricsReplaceTheDefaultAccuracyAndGetValidationKeys() throws {
        var trained = try model()
        let data = try #require(labels)
        let metrics = [try Metric(.accuracy, name: "acc"), try Metric(.sparseTopKCategoricalAccuracy, name: "top2", k: 2),
                       try Metric(.sparseCategoricalCrossentropy, name: "xent")]
        let records = try trained.fit(data, options: FitOptions(epochs: 1, batchSize: 2, shuffle: false,
                                                                validationSplit: 0.5, metrics: metrics))
        #expect(Set(records[0].metrics.keys) == ["loss", "acc", "top2", "xent", "val_loss", "val_acc", "val_top2", "val_xent"])
        // Without regularization the cross-entropy metric is the loss, averaged the same way.
        let record = records[0].metrics
        #expect(abs((record["xent"] ?? 0) - (record["loss"] ?? 1)) <= 1e-7)
        #expect(try Set(trained.evaluate(data).keys) == ["loss", "accuracy"])
        #expect(try Set(trained.evaluate(data, metrics: []).keys) == ["loss"])
    }

    @Test func metricsTheTargetsCannotFeedAreRefused() throws {
        var trained = try model()
        let data = try #require(labels)
        #expect(throws: TrainingError.invalidOption(
            "metric mse (mean_squared_error) needs a target per output (3), the sparse_categorical_crossentropy targets have 1 column(s)")) {
            try trained.fit(data, options: FitOptions(metrics: [try Metric(.meanSquaredError, name: "mse")]))
        }
        #expect(throws: TrainingError.invalidOption("metric acc is listed twice (history keys must be unique)")) {
            try trained.evaluate(data, metrics: [try Metric(.accuracy, name: "acc"), try Metric(.categoricalAccuracy, name: "acc")])
        }
        let regression = try Model<Float>(inputWidth: 2, layers: [LayerSpec(3, .softmax)], loss: .categoricalCrossentropy,
                                          optimizer: OptimizerConfig(.sgd), seed: 3)
        let oneHot = try Dataset<Float>(features: [0, 1], featureWidth: 2, targets: [0, 1, 0], targetWidth: 3)
        #expect(throws: TrainingError.invalidOption("metric sparse_categorical_accuracy (sparse_categorical_accuracy) needs class "
                                                   + "labels as targets, which only sparse_categorical_crossentropy, "
                                                   + "nll_loss and cross_entropy on a label column take; "
                                                   + "the loss is categorical_crossentropy")) {
            try regression.evaluate(oneHot, metrics: [try Metric(.sparseCategoricalAccuracy)])
        }
    }
}
