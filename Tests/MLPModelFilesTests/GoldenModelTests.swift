import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles
import TestSupport

/// Regression tests on the golden models in `fixtures/models/`, written by `fixtures/generate/generate_models.py`
/// with Python's json/base64 and h5py — an implementation that shares no code with mlpconv — from the published
/// layouts. Each model exists as `<name>.json` and `<name>.h5`; `expected.json` holds its training state as plain
/// values and the network's outputs on fixed inputs, computed by numpy in float64 from the stored weights.
///
/// Float32 networks are compared with the expected outputs normwise: ‖actual − expected‖₂ ≤ rtol · ‖expected‖₂ over
/// all rows and outputs together, rtol 1e-6 (the generator checks that its own float32 replica of the forward pass
/// stays within a quarter of that); float64 networks with rtol 1e-12.
@Suite("Golden model files")
struct GoldenModelTests {
    /// The models the generator writes; `expectedListsTheseModels` keeps this list and expected.json in step.
    static let names = [
        "adam_relu_softmax", "sgd_nesterov_tanh_sigmoid", "rmsprop_gelu_elu_float64", "adamw_amsgrad_selu_mish",
        "adagrad_unicode", "network_only_mixed_dtypes",
    ]

    @Test func expectedListsTheseModels() throws {
        let expected = try GoldenExpectations.load()
        #expect(expected.models.map(\.name) == Self.names)
        #expect(expected.tolerance["float32"]?.rtol == 1e-6)
        #expect(expected.tolerance["float64"]?.rtol == 1e-12)
    }

    @Test("the JSON and the HDF5 file hold the same document, bit for bit", arguments: names)
    func bothFormatsGiveTheSameDocument(name: String) throws {
        let (json, h5) = try loadBoth(name)
        let same = json == h5
        // Equality is bitwise; on a failure, name the parts that differ rather than print two whole documents.
        #expect(same, "\(name): .json and .h5 differ in \(differences(json, h5))")
    }

    /// The parts of two documents that differ, by name (`weights/dense/kernel`, `optimizer/momentum/dense/bias`, …).
    private func differences(_ a: ModelDocument, _ b: ModelDocument) -> [String] {
        var found: [String] = []
        if a.architecture != b.architecture { found.append("architecture") }
        for (name, (x, y)) in zip(a.parameterNames, zip(a.parameterTensors, b.parameterTensors)) where x != y {
            found.append("weights/\(name)")
        }
        if a.weights.count != b.weights.count { found.append("weights (count)") }
        switch (a.training, b.training) {
        case (nil, nil): break
        case (let x?, let y?):
            if x.loss != y.loss { found.append("loss") }
            if x.optimizer.config != y.optimizer.config { found.append("optimizer configuration") }
            if x.optimizer.iterations != y.optimizer.iterations { found.append("iterations") }
            if x.optimizer.slots.map(\.name) != y.optimizer.slots.map(\.name) { found.append("slot names") }
            for (slotA, slotB) in zip(x.optimizer.slots, y.optimizer.slots) {
                for (name, (s, t)) in zip(a.parameterNames, zip(slotA.tensors, slotB.tensors)) where s != t {
                    found.append("optimizer/\(slotA.name)/\(name)")
                }
            }
            if x.epochsCompleted != y.epochsCompleted { found.append("epochs_completed") }
            if x.randomState != y.randomState { found.append("random_state") }
            var withOtherHistory = x
            withOtherHistory.history = y.history
            if withOtherHistory != x { found.append("history") }  // bitwise, NaN included
        default: found.append("training record (present in one only)")
        }
        if a.metadata != b.metadata { found.append("metadata") }
        return found
    }

    @Test("architecture, training state and metadata are what the generator wrote", arguments: names)
    func documentsHoldTheExpectedState(name: String) throws {
        let expected = try GoldenExpectations.load().model(name)
        let (json, h5) = try loadBoth(name)
        for (format, document) in [("json", json), ("h5", h5)] {
            let label = "\(name).\(format)"
            #expect(document.architecture.inputWidth == expected.inputWidth, "\(label)")
            try #require(document.architecture.layers.count == expected.layers.count, "\(label)")
            for (index, (layer, wanted)) in zip(document.architecture.layers, expected.layers).enumerated() {
                #expect(layer.name == wanted.name, "\(label): layer \(index) name")
                #expect(layer.units == wanted.units, "\(label): layer \(index) units")
                #expect(layer.activation == Activation(name: wanted.activation), "\(label): layer \(index) activation")
                #expect(layer.useBias == wanted.useBias, "\(label): layer \(index) use_bias")
                #expect(document.weights[index].kernel.dtype.rawValue == wanted.kernelDtype, "\(label): layer \(index) dtype")
                #expect((document.weights[index].bias != nil) == wanted.useBias, "\(label): layer \(index) bias")
            }
            #expect(document.metadata == expected.metadata, "\(label): metadata")

            guard let wanted = expected.training else {
                #expect(document.training == nil, "\(label): a network-only file has no training record")
                continue
            }
            let training = try #require(document.training, "\(label): training record missing")
            #expect(training.loss.name == wanted.loss, "\(label): loss")
            #expect(training.optimizer.config.kind.name == wanted.optimizer, "\(label): optimizer")
            #expect(training.optimizer.iterations == wanted.iterations, "\(label): iterations")
            #expect(training.optimizer.slots.map(\.name) == wanted.slots, "\(label): slot names")
            #expect(training.optimizer.slots.allSatisfy { $0.tensors.count == document.parameterNames.count },
                    "\(label): one slot tensor per parameter")
            #expect(training.epochsCompleted == wanted.epochsCompleted, "\(label): epochs_completed")
            #expect(training.randomState?.wordArray.map(hex16) == wanted.randomState, "\(label): random_state")

            // Every hyperparameter that applies, with Keras's defaults filled in where the file lists none.
            let hyperparameters = training.optimizer.config.hyperparameters
            #expect(Set(hyperparameters.map(\.key)) == Set(wanted.hyperparameters.keys), "\(label): hyperparameter keys")
            for (key, value) in hyperparameters {
                #expect(wanted.hyperparameters[key]?.matches(value) == true,
                        "\(label): hyperparameter \(key) is \(value), expected \(String(describing: wanted.hyperparameters[key]))")
            }

            try #require(training.history.count == wanted.history.count, "\(label): history length")
            for (record, wantedRecord) in zip(training.history, wanted.history) {
                #expect(record.epoch == wantedRecord.epoch, "\(label): history epoch")
                #expect(Set(record.metrics.keys) == Set(wantedRecord.metrics.keys), "\(label): epoch \(record.epoch) metrics")
                for (key, value) in wantedRecord.metrics {
                    let found = record.metrics[key] ?? 0
                    #expect(found.bitPattern == value.bitPattern || (found.isNaN && value.isNaN),
                            "\(label): epoch \(record.epoch) \(key) is \(found), expected \(value)")
                }
            }
        }
    }

    @Test("predictions match the independent float64 forward pass", arguments: names)
    func predictionsMatchTheReference(name: String) throws {
        let expectations = try GoldenExpectations.load()
        let expected = try expectations.model(name)
        let float32Tolerance = try #require(expectations.tolerance["float32"]).rtol
        let float64Tolerance = try #require(expectations.tolerance["float64"]).rtol
        let inputs = expected.inputs.flatMap { $0 }
        let outputs = expected.outputs.flatMap { $0 }
        #expect(expected.inputs.allSatisfy { $0.count == expected.inputWidth })
        #expect(outputs.count == expected.inputs.count * expected.outputWidth)

        let (json, h5) = try loadBoth(name)
        for (format, document) in [("json", json), ("h5", h5)] {
            let label = "\(name).\(format)"
            let single: Network<Float> = try document.network()
            // The inputs are multiples of 1/64: exact in float32.
            let singleOutputs = try single.predict(inputs.map { Float($0) }).map { Double($0) }
            let singleError = normwiseError(singleOutputs, outputs)
            #expect(singleError <= float32Tolerance, "\(label): float32 predictions off by \(singleError) (normwise)")

            let double: Network<Double> = try document.network(as: Double.self)
            let doubleError = normwiseError(try double.predict(inputs), outputs)
            #expect(doubleError <= float64Tolerance, "\(label): float64 predictions off by \(doubleError) (normwise)")
        }
    }

    @Test("re-saving through mlpconv and reloading gives the same document", arguments: names)
    func resavingKeepsTheDocument(name: String) throws {
        let (original, _) = try loadBoth(name)
        let folder = try TemporaryFolder()
        let targets: [(String, ModelFormat, SaveOptions)] = [
            ("auto.json", .json, SaveOptions(jsonTensors: .auto)),
            ("array.json", .json, SaveOptions(jsonTensors: .array)),
            ("base64.json", .json, SaveOptions(jsonTensors: .base64)),
            ("plain.h5", .h5, SaveOptions()),
            ("compressed.h5", .h5, SaveOptions(compress: true)),
        ]
        for (file, format, options) in targets {
            let path = folder.path(file)
            try ModelFiles.save(original, to: path, format: format, options: options)
            let reloaded = try ModelFiles.load(path)
            #expect(reloaded == original, "\(name) → \(file) → reload")
            // A second generation: mlpconv's own output, re-read and re-written, stays the same document.
            let second = folder.path("again-" + file)
            try ModelFiles.save(reloaded, to: second, format: format, options: options)
            #expect(try ModelFiles.load(second) == original, "\(name) → \(file) → reload → \(file) → reload")
        }
    }

    private func loadBoth(_ name: String) throws -> (json: ModelDocument, h5: ModelDocument) {
        let json = try ModelFiles.load(goldenModelsFolder.appendingPathComponent(name + ".json").path)
        let h5 = try ModelFiles.load(goldenModelsFolder.appendingPathComponent(name + ".h5").path)
        return (json, h5)
    }
}

private let goldenModelsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/models")

/// ‖actual − expected‖₂ / ‖expected‖₂ (infinite when the counts differ).
private func normwiseError(_ actual: [Double], _ expected: [Double]) -> Double {
    guard actual.count == expected.count else { return .infinity }
    let difference = zip(actual, expected).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    let norm = expected.reduce(0.0) { $0 + $1 * $1 }
    return (difference / norm).squareRoot()
}

private func hex16(_ word: UInt64) -> String {
    let digits = String(word, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

// MARK: - expected.json

/// `fixtures/models/expected.json`, as the generator writes it.
private struct GoldenExpectations: Decodable {
    struct Tolerance: Decodable {
        let rtol: Double
    }

    struct Layer: Decodable {
        let name: String
        let units: Int
        let activation: String
        let useBias: Bool
        let kernelDtype: String

        enum CodingKeys: String, CodingKey {
            case name, units, activation
            case useBias = "use_bias"
            case kernelDtype = "kernel_dtype"
        }
    }

    /// A hyperparameter as expected.json writes it: a number, a boolean or null.
    enum Value: Decodable, CustomStringConvertible {
        case number(Double)
        case flag(Bool)
        case null

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let flag = try? container.decode(Bool.self) {
                self = .flag(flag)
            } else {
                self = .number(try container.decode(Double.self))
            }
        }

        func matches(_ value: Hyperparameter) -> Bool {
            switch (self, value) {
            case (.number(let a), .number(let b)), (.number(let a), .optionalNumber(let b?)): a.bitPattern == b.bitPattern
            case (.flag(let a), .flag(let b)): a == b
            case (.null, .optionalNumber(nil)): true
            default: false
            }
        }

        var description: String {
            switch self {
            case .number(let x): "\(x)"
            case .flag(let flag): "\(flag)"
            case .null: "null"
            }
        }
    }

    /// A history metric: a number, or "NaN" / "Infinity" / "-Infinity".
    struct Metric: Decodable {
        let value: Double

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                switch text {
                case "NaN": value = .nan
                case "Infinity": value = .infinity
                case "-Infinity": value = -.infinity
                default:
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown metric \(text)")
                }
            } else {
                value = try container.decode(Double.self)
            }
        }
    }

    struct Epoch: Decodable {
        let epoch: Int
        let metrics: [String: Double]

        enum CodingKeys: String, CodingKey { case epoch, metrics }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            epoch = try container.decode(Int.self, forKey: .epoch)
            metrics = try container.decode([String: Metric].self, forKey: .metrics).mapValues(\.value)
        }
    }

    struct Training: Decodable {
        let loss: String
        let optimizer: String
        let hyperparameters: [String: Value]
        let iterations: Int
        let slots: [String]
        let epochsCompleted: Int
        let randomState: [String]?
        let history: [Epoch]

        enum CodingKeys: String, CodingKey {
            case loss, optimizer, hyperparameters, iterations, slots, history
            case epochsCompleted = "epochs_completed"
            case randomState = "random_state"
        }
    }

    struct Model: Decodable {
        let name: String
        let inputWidth: Int
        let outputWidth: Int
        let layers: [Layer]
        let inputs: [[Double]]
        let outputs: [[Double]]
        let metadata: [String: String]
        let training: Training?

        enum CodingKeys: String, CodingKey {
            case name, layers, inputs, outputs, metadata, training
            case inputWidth = "input_width"
            case outputWidth = "output_width"
        }
    }

    let tolerance: [String: Tolerance]
    let models: [Model]

    func model(_ name: String) throws -> Model {
        try #require(models.first { $0.name == name }, "expected.json has no model \(name)")
    }

    static func load() throws -> GoldenExpectations {
        let data = try Data(contentsOf: goldenModelsFolder.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(GoldenExpectations.self, from: data)
    }
}
