import ArgumentParser
import Foundation
import MLPCore

/// Trains a small network on a bundled CSV dataset (scikit-learn's digits by default) and prints the history:
/// the end-to-end check that the core trains, until the `mlpconv` command exists.
@main
struct MLPDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlpdemo",
        abstract: "Train an MLP on a CSV dataset (features, then an integer class label) and print its history.")

    @Option(help: "CSV file with a header row: feature columns, then an integer class label.")
    var data = "fixtures/data/digits.csv"

    @Option(help: "Hidden layer widths, e.g. --hidden 64 --hidden 32.")
    var hidden: [Int] = [32]

    @Option(help: "Activation of the hidden layers (\(Activation.acceptedNames.joined(separator: ", "))).")
    var activation = "relu"

    @Option(help: "Optimizer (\(OptimizerKind.acceptedNames.joined(separator: ", "))).")
    var optimizer = "adam"

    @Option(help: "Learning rate.")
    var learningRate = 0.005

    @Option(help: "Epochs.")
    var epochs = 15

    @Option(help: "Mini-batch size.")
    var batchSize = 32

    @Option(help: "Fraction of rows (the last ones) held out for validation.")
    var validationSplit = 0.2

    @Option(help: "Seed for initialization and shuffling.")
    var seed: UInt64 = 1

    func validate() throws {
        guard Activation(name: activation) != nil else {
            throw ValidationError("unknown activation \(activation); supported: \(Activation.acceptedNames.joined(separator: ", "))")
        }
        guard OptimizerKind(name: optimizer) != nil else {
            throw ValidationError("unknown optimizer \(optimizer); supported: \(OptimizerKind.acceptedNames.joined(separator: ", "))")
        }
        guard hidden.allSatisfy({ $0 > 0 }) else { throw ValidationError("hidden widths must be positive") }
    }

    func run() throws {
        let (dataset, classes) = try LabelledCSV.read(path: data)
        guard let activation = Activation(name: activation), let kind = OptimizerKind(name: optimizer) else { return }
        var model = try Model<Float>(
            inputWidth: dataset.featureWidth,
            layers: hidden.map { LayerSpec($0, activation) } + [LayerSpec(classes, .softmax)],
            loss: .sparseCategoricalCrossentropy,
            optimizer: OptimizerConfig(kind, learningRate: learningRate), seed: seed)
        let layers = ([dataset.featureWidth] + model.network.layers.map(\.units)).map(String.init).joined(separator: "-")
        print("\(data): \(dataset.count) rows, \(dataset.featureWidth) features, \(classes) classes")
        print("network \(layers) (\(model.network.parameterCount) parameters), \(kind.name) lr \(learningRate), batch \(batchSize), seed \(seed)")
        print("epoch      loss  accuracy  val_loss  val_accuracy")
        let start = ContinuousClock.now
        try model.fit(dataset, options: FitOptions(epochs: epochs, batchSize: batchSize, validationSplit: validationSplit)) { event in
            guard case .epochEnd(let record) = event else { return }
            let m = record.metrics
            func cell(_ key: String, _ width: Int) -> String {
                m[key].map { String(format: "%\(width).4f", $0) } ?? String(repeating: " ", count: width - 1) + "-"
            }
            print(String(format: "%5d", record.epoch) + cell("loss", 10) + cell("accuracy", 10) + cell("val_loss", 10) + cell("val_accuracy", 14))
        }
        let elapsed = ContinuousClock.now - start
        let trained = Double(epochs) * (Double(dataset.count) * (1 - validationSplit)).rounded(.down)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print(String(format: "trained %d epochs in %.2f s (%.0f samples/s)", epochs, seconds, trained / seconds))
    }
}

/// A CSV of numbers with a header row; the last column is an integer class label.
enum LabelledCSV {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func read(path: String) throws -> (Dataset<Float>, classes: Int) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "\(path): cannot read the file as UTF-8 text")
        }
        var lines = text.split(whereSeparator: \.isNewline)
        guard !lines.isEmpty else { throw Failure(description: "\(path): empty file") }
        let width = lines.removeFirst().split(separator: ",").count
        guard width >= 2 else { throw Failure(description: "\(path): need at least one feature column and a label column") }
        var features: [Float] = [], labels: [Float] = []
        features.reserveCapacity(lines.count * (width - 1))
        for (index, line) in lines.enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            let row = index + 2
            guard cells.count == width else {
                throw Failure(description: "\(path): line \(row): \(cells.count) columns, the header has \(width)")
            }
            for (column, cell) in cells.enumerated() {
                guard let value = Float(cell.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                    throw Failure(description: "\(path): line \(row), column \(column + 1): \"\(cell)\" is not a finite number")
                }
                if column == width - 1 {
                    guard value >= 0, value == value.rounded(), value < 1_000_000 else {
                        throw Failure(description: "\(path): line \(row): label \(cell) is not a class index")
                    }
                    labels.append(value)
                } else {
                    features.append(value)
                }
            }
        }
        guard !labels.isEmpty else { throw Failure(description: "\(path): no data rows") }
        let classes = Int(labels.max() ?? 0) + 1
        return (try Dataset(features: features, featureWidth: width - 1, targets: labels, targetWidth: 1), classes)
    }
}
