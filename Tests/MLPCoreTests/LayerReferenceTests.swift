import Foundation
import Testing
@testable import MLPCore

/// The layer kinds beyond Dense against fixtures/reference/layers.json, written by
/// fixtures/generate/generate_layer_reference.py with Keras 3 (JAX backend, float64): inference and training
/// outputs, the training loss with its regularization terms, every trainable gradient, batch normalization's
/// moving statistics and the weights after one SGD step (constraints applied).
struct LayerReferenceTests {
    struct Case: @unchecked Sendable, CustomTestStringConvertible {
        let object: [String: Any]
        var name: String { object["name"] as? String ?? "?" }
        var testDescription: String { name }

        func numbers(_ key: String) -> [Double] { (object[key] as? [NSNumber])?.map(\.doubleValue) ?? [] }
        func tensors(_ key: String) -> [String: [String: [Double]]] {
            (object[key] as? [String: [String: [NSNumber]]])?.mapValues { $0.mapValues { $0.map(\.doubleValue) } } ?? [:]
        }
        var loss: Loss { Loss(name: object["loss"] as? String ?? "") ?? .meanSquaredError }
        var rows: Int { object["rows"] as? Int ?? 0 }
        /// float64 throughout on both sides (the generator keeps Keras from narrowing to float32), so only the order
        /// of summation differs.
        var tolerance: Double { 1e-10 }

        func network() throws -> Network<Double> {
            let specs = object["layers"] as? [[String: Any]] ?? []
            let weights = tensors("weights")
            var layers: [Layer<Double>] = []
            var width = object["input_width"] as? Int ?? 0
            for spec in specs {
                let kind = try layerKind(spec)
                let name = spec["name"] as? String ?? ""
                let variables = kind.variables(inputWidth: width)
                layers.append(try Layer(name: name, kind: kind, inputWidth: width,
                                        weights: variables.map { weights[name]?[$0.name] ?? [] }))
                width = kind.outputWidth(inputWidth: width)
            }
            return try Network(inputWidth: object["input_width"] as? Int ?? 0, layers: layers)
        }

        var dataset: Dataset<Double> {
            get throws {
                try Dataset(features: numbers("x"), featureWidth: object["input_width"] as? Int ?? 0,
                            targets: numbers("targets"), targetWidth: object["target_width"] as? Int ?? 0)
            }
        }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/reference/layers.json")
        guard let data = try? Data(contentsOf: url),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = root["cases"] as? [[String: Any]] else { return [] }
        return cases.map(Case.init)
    }()

    @Test func fixtureIsPresent() {
        #expect(Self.cases.count == 11)
    }

    @Test("inference outputs match Keras", arguments: cases)
    func inference(_ fixture: Case) throws {
        let network = try fixture.network()
        let outputs = try network.predict(try fixture.dataset.features)
        expectClose(outputs, fixture.numbers("inference_outputs"), rtol: fixture.tolerance, "\(fixture.name) outputs")
    }

    @Test("training outputs, loss with penalties, gradients and moving statistics match Keras",
          arguments: cases.filter { $0.object["training_loss"] != nil })
    func training(_ fixture: Case) throws {
        var network = try fixture.network()
        let data = try fixture.dataset
        let ws = Workspace(network: network, capacity: fixture.rows, targetWidth: data.targetWidth)
        ws.gather(data, order: nil, start: 0, rows: fixture.rows)
        let loss = network.lossAndGradients(ws, rows: fixture.rows, loss: fixture.loss)
        let expectedLoss = try #require(fixture.object["training_loss"] as? Double)
        #expect(abs(loss - expectedLoss) <= fixture.tolerance * abs(expectedLoss), "\(fixture.name): loss \(loss) vs \(expectedLoss)")
        expectClose(Array(ws.y[network.layers.count - 1].prefix(fixture.rows * network.outputWidth)),
                    fixture.numbers("training_outputs"), rtol: fixture.tolerance, "\(fixture.name) training outputs")
        let gradients = (fixture.object["gradients"] as? [String: [NSNumber]])?.mapValues { $0.map(\.doubleValue) } ?? [:]
        #expect(Set(gradients.keys) == Set(network.parameters.map(network.name(of:))), "\(fixture.name): parameters")
        for (index, parameter) in network.parameters.enumerated() {
            let name = network.name(of: parameter)
            let expected = gradients[name] ?? []
            if expected.map(abs).max() ?? 0 < 1e-12 {
                // A Dense bias right before a batch normalization: the batch mean cancels it, so both gradients
                // are rounding noise around zero.
                #expect(ws.gradients[index].map(abs).max() ?? 0 < 1e-12, "\(fixture.name) ∇\(name) should vanish")
            } else {
                expectClose(Array(ws.gradients[index]), expected, rtol: fixture.tolerance, "\(fixture.name) ∇\(name)")
            }
        }
        network.updateMovingStatistics(from: ws, rows: fixture.rows)
        for (layerName, variables) in fixture.tensors("moving_after") {
            let layer = try #require(network.layers.first { $0.name == layerName })
            for (variable, expected) in variables {
                expectClose(layer[variable: variable] ?? [], expected, rtol: fixture.tolerance, "\(fixture.name) \(layerName)/\(variable)")
            }
        }
    }

    @Test("one SGD step of fit lands on Keras's weights, constraints and moving statistics included",
          arguments: cases.filter { $0.object["after_step"] != nil })
    func oneStep(_ fixture: Case) throws {
        let network = try fixture.network()
        let rate = try #require(fixture.object["learning_rate"] as? Double)
        var model = try Model(network: network, training: TrainingState(
            loss: fixture.loss, optimizer: try Optimizer(config: OptimizerConfig(.sgd, learningRate: rate), network: network),
            random: RandomGenerator(seed: 1).state))
        try model.fit(try fixture.dataset, options: FitOptions(epochs: 1, batchSize: fixture.rows, shuffle: false))
        for (layerName, variables) in fixture.tensors("after_step") {
            let layer = try #require(model.network.layers.first { $0.name == layerName })
            for (variable, expected) in variables {
                expectClose(layer[variable: variable] ?? [], expected, rtol: fixture.tolerance, "\(fixture.name) \(layerName)/\(variable)")
            }
        }
    }

    @Test("backprop matches finite differences for every layer kind, dropout (a fixed mask) included",
          arguments: cases)
    func gradientCheck(_ fixture: Case) throws {
        var network = try fixture.network()
        // Give the fixture's dropout layers a real rate: the check holds the mask fixed.
        var layers = network.layers
        for index in layers.indices {
            if case .dropout = layers[index].kind {
                layers[index] = try Layer(name: layers[index].name, kind: .dropout(DropoutSettings(rate: 0.5)),
                                          inputWidth: layers[index].inputWidth, weights: [])
            }
        }
        network = try Network(inputWidth: network.inputWidth, layers: layers)
        var random = RandomGenerator(seed: 7)
        let report = try network.gradientCheck(loss: fixture.loss, data: try fixture.dataset, epsilon: 1e-3,
                                               scheme: .fourPoint, random: &random)
        for tensor in report.tensors {
            #expect(tensor.maxRelativeError < 1e-6 || tensor.maxAbsoluteError < 1e-9,
                    "\(fixture.name) \(tensor.name): relative \(tensor.maxRelativeError), absolute \(tensor.maxAbsoluteError)")
        }
    }
}

extension LayerReferenceTests.Case {
    /// The generator writes layers in the native schema's form.
    func layerKind(_ spec: [String: Any]) throws -> LayerKind {
        func regularizer(_ key: String) -> Regularizer? {
            guard let object = spec[key] as? [String: Double] else { return nil }
            switch (object["l1"], object["l2"]) {
            case (let l1?, let l2?): return .l1l2(l1: l1, l2: l2)
            case (let l1?, nil): return .l1(l1)
            case (nil, let l2?): return .l2(l2)
            default: return nil
            }
        }
        func constraint(_ key: String) -> Constraint? {
            guard let object = spec[key] as? [String: Any] else { return nil }
            let axis = object["axis"] as? Int ?? 0
            switch object["name"] as? String {
            case "non_neg": return .nonNeg
            case "max_norm": return .maxNorm(maxValue: object["max_value"] as? Double ?? 0, axis: axis)
            case "unit_norm": return .unitNorm(axis: axis)
            default:
                return .minMaxNorm(minValue: object["min_value"] as? Double ?? 0, maxValue: object["max_value"] as? Double ?? 0,
                                   rate: object["rate"] as? Double ?? 0, axis: axis)
            }
        }
        switch spec["type"] as? String ?? "dense" {
        case "dense":
            return .dense(DenseSettings(
                units: spec["units"] as? Int ?? 0, activation: Activation(name: spec["activation"] as? String ?? "") ?? .linear,
                useBias: spec["use_bias"] as? Bool ?? true, kernelRegularizer: regularizer("kernel_regularizer"),
                biasRegularizer: regularizer("bias_regularizer"), activityRegularizer: regularizer("activity_regularizer"),
                kernelConstraint: constraint("kernel_constraint"), biasConstraint: constraint("bias_constraint")))
        case "activation": return .activation(Activation(name: spec["activation"] as? String ?? "") ?? .linear)
        case "dropout": return .dropout(DropoutSettings(rate: spec["rate"] as? Double ?? 0))
        case "batch_normalization":
            return .batchNormalization(BatchNormalizationSettings(
                momentum: spec["momentum"] as? Double ?? 0, epsilon: spec["epsilon"] as? Double ?? 0,
                center: spec["center"] as? Bool ?? true, scale: spec["scale"] as? Bool ?? true))
        case "layer_normalization":
            return .layerNormalization(LayerNormalizationSettings(
                epsilon: spec["epsilon"] as? Double ?? 0, center: spec["center"] as? Bool ?? true,
                scale: spec["scale"] as? Bool ?? true))
        default: return .flatten
        }
    }
}

/// Dropout's own behaviour, which Keras cannot serve as a reference for (its masks come from its own generator).
struct DropoutTests {
    @Test func masksDropTheirRateAndScaleTheRest() throws {
        let network = try Network<Double>(inputWidth: 1, layers: [
            try Layer(name: "drop", kind: .dropout(DropoutSettings(rate: 0.3)), inputWidth: 1, weights: []),
        ])
        let rows = 20_000
        let data = try Dataset<Double>(features: [Double](repeating: 2, count: rows), featureWidth: 1)
        let ws = Workspace(network: network, capacity: rows, targetWidth: 0)
        ws.gather(data, order: nil, start: 0, rows: rows)
        var random = RandomGenerator(seed: 3)
        ws.drawDropoutMasks(for: network, rows: rows, random: &random)
        let output = Array(network.forward(ws, rows: rows, training: true))
        let dropped = output.filter { $0 == 0 }.count
        // Binomial(20000, 0.3): standard deviation ≈ 65, so ±400 is over six of them.
        #expect(abs(dropped - 6000) < 400, "\(dropped) dropped")
        #expect(output.allSatisfy { $0 == 0 || $0 == 2 / 0.7 }, "kept inputs are divided by the keep probability")
        #expect(Array(network.forward(ws, rows: rows)) == [Double](repeating: 2, count: rows), "inference is the identity")
    }

    /// The silent error of issue 11: a model with dropout must not train as if the rate were 0.
    @Test func trainingUsesTheRate() throws {
        func train(rate: Double) throws -> Network<Float> {
            var model = try Model<Float>(
                inputWidth: 3, layers: [LayerSpec(6, .tanh), LayerSpec(.dropout(DropoutSettings(rate: rate))), LayerSpec(2, .linear)],
                loss: .meanSquaredError, optimizer: OptimizerConfig(.sgd, learningRate: 0.1), seed: 9)
            let data = try Dataset<Float>(features: (0..<48).map { Float($0 % 7) / 7 }, featureWidth: 3,
                                          targets: (0..<32).map { Float($0 % 5) / 5 }, targetWidth: 2)
            try model.fit(data, options: FitOptions(epochs: 2, batchSize: 4))
            return model.network
        }
        #expect(try train(rate: 0.5) != train(rate: 0))
        #expect(try train(rate: 0.5) == train(rate: 0.5), "masks come from the model's seeded generator")
    }
}
