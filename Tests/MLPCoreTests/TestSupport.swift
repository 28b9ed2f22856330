import TestSupport
import Foundation
@testable import MLPCore

/// Random dense data for a network, with targets shaped for `loss`.
func randomDataset(
    inputWidth: Int, outputWidth: Int, rows: Int, loss: Loss, random: inout RandomGenerator
) -> Dataset<Double> {
    let features = (0..<rows * inputWidth).map { _ in 2 * random.nextUnitDouble() - 1 }
    var targets: [Double] = []
    for _ in 0..<rows {
        switch loss.kind {
        case .sparseCategoricalCrossentropy:
            targets.append(Double(random.nextInt(below: outputWidth)))
        case .categoricalCrossentropy:
            let label = random.nextInt(below: outputWidth)
            targets += (0..<outputWidth).map { $0 == label ? 1 : 0 }
        case .binaryCrossentropy:
            targets += (0..<outputWidth).map { _ in 0.05 + 0.9 * random.nextUnitDouble() }
        default:
            targets += (0..<outputWidth).map { _ in 2 * random.nextUnitDouble() - 1 }
        }
    }
    // Widths are positive and counts consistent by construction.
    return try! Dataset(features: features, featureWidth: inputWidth, targets: targets,
                        targetWidth: loss.targetWidth(outputWidth: outputWidth))
}

/// The smallest distance of any pre-activation from a non-smooth point of its layer's activation, or of any
/// output error `y − t` from a non-smooth point of the loss (MAE at 0, Huber at ±δ).
func distanceToKinks<T: MLPScalar>(_ network: Network<T>, _ data: Dataset<T>, loss: Loss) -> Double {
    let ws = Workspace(network: network, capacity: data.count, targetWidth: data.targetWidth)
    ws.gather(data, order: nil, start: 0, rows: data.count)
    _ = network.forward(ws, rows: data.count)
    var distance = Double.infinity
    for (l, layer) in network.layers.enumerated() {
        for kink in layer.activation.nonSmoothPoints {
            for value in ws.z[l].prefix(data.count * layer.units) {
                distance = min(distance, abs(Double(value) - kink))
            }
        }
    }
    let lossKinks: [Double] = switch loss.kind {
    case .meanAbsoluteError: [0]
    case .huber: [-loss.delta, loss.delta]
    default: []
    }
    let output = ws.y[network.layers.count - 1]
    for kink in lossKinks {
        for i in 0..<data.count * network.outputWidth {
            distance = min(distance, abs(Double(output[i]) - Double(data.targets[i]) - kink))
        }
    }
    return distance
}

/// Bit patterns, so that comparisons distinguish −0 from +0 and see NaN payloads: "bit-identical" means this.
func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

func bits(_ network: Network<Float>) -> [[UInt32]] {
    network.parameters.map { bits(network[$0]) }
}

func bits(_ state: OptimizerState<Float>) -> [String: [[UInt32]]] {
    Dictionary(uniqueKeysWithValues: state.slots.map { ($0.name, $0.values.map(bits)) })
}

/// The repository's `fixtures/` folder, found from this source file's location.
let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures")

/// A reference fixture parsed as plain JSON (Foundation is fine in tests: the core itself reads no files).
func loadFixture(_ relativePath: String) throws -> [String: Any] {
    let data = try Data(contentsOf: fixturesDirectory.appendingPathComponent(relativePath))
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw FixtureError.malformed(relativePath)
    }
    return object
}

enum FixtureError: Error {
    case malformed(String)
}

extension Dictionary where Key == String, Value == Any {
    func doubles(_ key: String) throws -> [Double] {
        guard let values = self[key] as? [NSNumber] else { throw FixtureError.malformed(key) }
        return values.map(\.doubleValue)
    }

    func int(_ key: String) throws -> Int {
        guard let value = self[key] as? NSNumber else { throw FixtureError.malformed(key) }
        return value.intValue
    }

    func double(_ key: String) throws -> Double {
        guard let value = self[key] as? NSNumber else { throw FixtureError.malformed(key) }
        return value.doubleValue
    }

    func string(_ key: String) throws -> String {
        guard let value = self[key] as? String else { throw FixtureError.malformed(key) }
        return value
    }

    func objects(_ key: String) throws -> [[String: Any]] {
        guard let value = self[key] as? [[String: Any]] else { throw FixtureError.malformed(key) }
        return value
    }

    func object(_ key: String) throws -> [String: Any] {
        guard let value = self[key] as? [String: Any] else { throw FixtureError.malformed(key) }
        return value
    }
}
