import Testing
@testable import MLPCore

/// Values that reach the core from a file or a flag: hyperparameters must fit float32, in which files store them,
/// and no count near Int.max may overflow the training loop's arithmetic.
struct InputRangeTests {
    /// The smallest double that rounds to float32 infinity is just above Float.greatestFiniteMagnitude; 1e39 is
    /// well past it.
    static let beyondFloat32 = 1e39

    @Test func aLearningRateBeyondFloat32IsRefusedByName() {
        #expect(throws: OptimizerError.invalidHyperparameter(
            key: "learning_rate", reason: "1e+39 is beyond float32's range (±3.4028235e+38), in which model files store it")) {
            try OptimizerConfig(.adam, hyperparameters: ["learning_rate": .number(Self.beyondFloat32)])
        }
        #expect(throws: OptimizerError.self) { try OptimizerConfig.validate(learningRate: Self.beyondFloat32) }
        // The largest float32 itself is representable and accepted.
        #expect(throws: Never.self) { try OptimizerConfig.validate(learningRate: Double(Float.greatestFiniteMagnitude)) }
        var config = OptimizerConfig(.sgd)
        config.learningRate = Self.beyondFloat32
        #expect(throws: OptimizerError.self) { try config.validate() }
    }

    /// Every real hyperparameter of every optimizer: set alone to 1e39, each is refused naming its key (either by
    /// the float32 rule or by its own range, which is narrower).
    @Test func everyRealHyperparameterBeyondFloat32IsRefused() throws {
        for kind in OptimizerKind.allCases {
            for (key, value) in OptimizerConfig(kind).hyperparameters {
                switch value {
                case .number, .optionalNumber: break
                case .flag: continue
                }
                do {
                    _ = try OptimizerConfig(kind, hyperparameters: [key: .number(Self.beyondFloat32)])
                    Issue.record("\(kind.name).\(key) = 1e39 was accepted")
                } catch {
                    guard case .invalidHyperparameter(let named, _) = error else {
                        Issue.record("\(kind.name).\(key): \(error)"); continue
                    }
                    #expect(named == key, "\(kind.name).\(key) refused as \(named)")
                }
            }
        }
    }

    @Test func aScheduleParameterBeyondFloat32IsRefused() throws {
        var config = OptimizerConfig(.adam)
        config.schedule = try LearningRateSchedule(.exponentialDecay, parameters: [
            "initial_learning_rate": .number(0.1), "decay_steps": .number(Self.beyondFloat32), "decay_rate": .number(0.5)])
        #expect(throws: OptimizerError.invalidHyperparameter(
            key: "learning_rate (exponential_decay decay_steps)",
            reason: "1e+39 is beyond float32's range (±3.4028235e+38), in which model files store it")) {
            try config.validate()
        }
    }

    /// A batch size of Int.max used to overflow `trainCount + batchSize - 1` (a trap); it is one batch of all rows.
    @Test func aBatchSizeOfIntMaxTrainsOneBatch() throws {
        var random = RandomGenerator(seed: 1)
        let data = randomDataset(inputWidth: 3, outputWidth: 2, rows: 10, loss: .meanSquaredError, random: &random)
        var model = try Model<Double>(inputWidth: 3, layers: [LayerSpec(2, .linear)], loss: .meanSquaredError,
                                      optimizer: OptimizerConfig(.sgd), seed: 2)
        var batches: [Int] = []
        try model.fit(data, options: FitOptions(epochs: 1, batchSize: .max)) { event in
            if case .batchEnd(_, _, let count, _, _) = event { batches.append(count) }
        }
        #expect(batches == [1])
        #expect(model.training.optimizer.state.iterations == 1)
    }

    /// Counters a file brought near Int.max: training that cannot count its steps is refused before any step.
    @Test func stepCountersThatWouldOverflowAreRefused() throws {
        var random = RandomGenerator(seed: 1)
        let data = randomDataset(inputWidth: 3, outputWidth: 2, rows: 10, loss: .meanSquaredError, random: &random)
        var model = try Model<Double>(inputWidth: 3, layers: [LayerSpec(2, .linear)], loss: .meanSquaredError,
                                      optimizer: OptimizerConfig(.sgd), seed: 2)
        #expect(throws: TrainingError.self) { try model.fit(data, options: FitOptions(epochs: .max, batchSize: 1)) }
        #expect(model.training.optimizer.state.iterations == 0)
    }

    /// Layer settings are rounded to the weights' type when used and stored as float32 attributes by the ONNX
    /// export: beyond float32 each is refused, naming the setting, instead of becoming ±inf.
    @Test func layerSettingsBeyondFloat32AreRefused() {
        let huge = Self.beyondFloat32
        let kinds: [(LayerKind, String)] = [
            (.batchNormalization(BatchNormalizationSettings(epsilon: huge)), "epsilon"),
            (.layerNormalization(LayerNormalizationSettings(epsilon: huge)), "epsilon"),
            (.dense(DenseSettings(units: 2, kernelRegularizer: .l2(huge))), "kernel_regularizer"),
            (.dense(DenseSettings(units: 2, activityRegularizer: .l1l2(l1: 0, l2: huge))), "activity_regularizer"),
            (.dense(DenseSettings(units: 2, kernelConstraint: .maxNorm(maxValue: huge, axis: 0))), "kernel_constraint"),
            (.dense(DenseSettings(units: 2, biasConstraint: .minMaxNorm(minValue: 0, maxValue: huge, rate: 1, axis: 0))),
             "bias_constraint"),
        ]
        for (kind, setting) in kinds {
            do {
                try kind.validate(layer: "l")
                Issue.record("\(setting) = 1e39 was accepted")
            } catch {
                guard case .invalidSetting(_, let named, let reason) = error else { Issue.record("\(error)"); continue }
                #expect(named == setting && reason.contains("float32"), "\(named): \(reason)")
            }
        }
        // The largest float32 itself is accepted.
        #expect(throws: Never.self) {
            try LayerKind.layerNormalization(LayerNormalizationSettings(epsilon: Double(Float.greatestFiniteMagnitude))).validate(layer: "l")
        }
    }

}
