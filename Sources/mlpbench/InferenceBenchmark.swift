import Foundation
import MLPCore
import MLPDataFiles
import MLPDocument
import MLPModelFiles

/// Latency of `mlpconv predict`'s in-process path, `Network.predict`, for single batches of B rows;
/// Benchmarks/inference_peers.py times onnxruntime and numpy on the same weights and rows in the same run.
struct InferenceBenchmark {
    /// The rows per forward pass `mlpconv predict` uses unless told otherwise (its `--batch-size` default), so a
    /// batch of up to this many rows is one forward pass, as in the CLI.
    static let predictBatchSize = 256

    let network: Network<Float>
    /// Rows `[rows, inputWidth]`; batch B uses the first B.
    let features: [Float]
    /// Expected outputs for the same rows, computed elsewhere (numpy in float64), or nil for no check.
    let reference: [Float]?
    let tolerance: Float
    let repeats: Int
    /// Wall time each repeat keeps calling `predict` for; short calls are therefore repeated many times.
    let minimumSeconds: Double

    /// A Dense stack `widths[0]-…-widths[last]`: ReLU hidden layers and a softmax output, like the MNIST MLP
    /// of the training benchmark. Biases are drawn too (not zeros) so the outputs check their addition.
    static func network(widths: [Int], seed: UInt64) throws -> Network<Float> {
        var random = RandomGenerator(seed: seed)
        let layers = widths.dropFirst().enumerated().map { index, units in
            LayerSpec(units, index == widths.count - 2 ? .softmax : .relu, biasInitializer: .glorotUniform)
        }
        return try Network(inputWidth: widths[0], layers: layers, random: &random)
    }

    /// Saves `network` as an mlpconv JSON document with base64 tensors: exact float32 bits that the peers'
    /// script reads with nothing but Python's json and numpy.
    static func save(_ network: Network<Float>, to path: String) throws {
        _ = try ModelFiles.save(ModelDocument(network: network), to: path, format: .json,
                                options: SaveOptions(jsonTensors: .base64))
    }

    static func load(_ path: String) throws -> Network<Float> {
        try ModelFiles.load(path).network(as: Float.self)
    }

    /// Uniform rows in [−1, 1) from a fixed seed, for runs without `--input`.
    static func syntheticRows(_ rows: Int, width: Int, seed: UInt64) -> [Float] {
        var random = RandomGenerator(seed: seed)
        return (0..<rows * width).map { _ in Float(2 * random.nextUnitDouble() - 1) }
    }

    /// Rows of a data file (any format `mlpconv predict` reads), at least `rows` of them.
    static func rows(from path: String, width: Int, outputWidth: Int, atLeast rows: Int) throws -> [Float] {
        let data = try DataFiles.loadFeatures(path, inputWidth: width, outputWidth: outputWidth)
        guard data.count >= rows else {
            throw BenchmarkError("\(path): has \(data.count) rows of \(width) values, the largest batch needs \(rows)")
        }
        return Array(data.features.prefix(rows * width))
    }

    /// The largest absolute difference between `predict`'s outputs for the first `batch` rows and the reference
    /// (nil without one); throws when it exceeds the tolerance or an output is not finite.
    func check(batch: Int) throws -> Float? {
        guard let reference else { return nil }
        let outputs = try network.predict(Array(features.prefix(batch * network.inputWidth)), batchSize: Self.predictBatchSize)
        var difference: Float = 0
        for (index, value) in outputs.enumerated() {
            difference = max(difference, abs(value - reference[index]))
        }
        // `max` ignores NaN on one side; a NaN output must fail the check, not vanish from it.
        guard difference <= tolerance, outputs.allSatisfy(\.isFinite) else {
            throw BenchmarkError("batch \(batch): mlpconv's outputs differ from the reference by \(difference) "
                                 + "(tolerance \(tolerance)); not timing it")
        }
        return difference
    }

    /// Per-call latency of `predict` on the first `batch` rows: untimed warm-up calls for `minimumSeconds` (at
    /// most a second; at least 10 calls), then `repeats` runs of at least `minimumSeconds` each, every call timed
    /// on its own. The run with the lowest median is reported.
    func measure(batch: Int, difference: Float?) throws -> Measurement {
        let rows = Array(features.prefix(batch * network.inputWidth))
        _ = try timedCalls(rows, seconds: min(1, minimumSeconds), minimumCalls: 10)
        var runs: [[Double]] = []
        for _ in 0..<repeats {
            runs.append(try timedCalls(rows, seconds: minimumSeconds, minimumCalls: 20).sorted())
        }
        let best = runs.min { percentile($0, 0.5) < percentile($1, 0.5) }!
        return Measurement(batch: batch, median: percentile(best, 0.5), p10: percentile(best, 0.1),
                           p90: percentile(best, 0.9), calls: best.count,
                           repeatMedians: runs.map { percentile($0, 0.5) }, maxAbsDifference: difference)
    }

    /// Microseconds per call, each call timed on its own, until `seconds` have passed and `minimumCalls` were made.
    private func timedCalls(_ rows: [Float], seconds: Double, minimumCalls: Int) throws -> [Double] {
        var latencies: [Double] = []
        let clock = ContinuousClock()
        let end = clock.now + .nanoseconds(Int64(seconds * 1e9))
        var sink: Float = 0
        while latencies.count < minimumCalls || clock.now < end {
            let start = clock.now
            let outputs = try network.predict(rows, batchSize: Self.predictBatchSize)
            let elapsed = clock.now - start
            sink += outputs[0]
            latencies.append(Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) * 1e-12)
        }
        // Keeps the outputs observable so the optimizer cannot drop the calls.
        if sink.isNaN { throw BenchmarkError("predict returned NaN") }
        return latencies
    }

    private func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        let position = fraction * Double(sorted.count - 1)
        let below = Int(position.rounded(.down)), above = Int(position.rounded(.up))
        return sorted[below] + (sorted[above] - sorted[below]) * (position - Double(below))
    }

    struct Measurement {
        let batch: Int
        let median: Double, p10: Double, p90: Double
        let calls: Int
        let repeatMedians: [Double]
        let maxAbsDifference: Float?

        func json(threads: Int) -> String {
            let medians = repeatMedians.map { String(format: "%.3f", $0) }.joined(separator: ", ")
            let difference = maxAbsDifference.map { "\($0)" } ?? "null"
            return #"{"implementation": "mlpconv", "batch": \#(batch), "threads": \#(threads), "median_us": \#(median), "p10_us": \#(p10), "p90_us": \#(p90), "calls": \#(calls), "repeat_medians_us": [\#(medians)], "max_abs_diff": \#(difference)}"#
        }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
