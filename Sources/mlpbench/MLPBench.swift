import ArgumentParser
import Foundation
import MLPCore

/// Training throughput of the core on fixed synthetic workloads. Build with `-c release`; see Benchmarks/README.md
/// for the run that also measures numpy, PyTorch and JAX on the same workloads.
@main
struct MLPBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlpbench", abstract: "Measure MLP training throughput (samples/s) on fixed synthetic workloads, or predict latency with --inference.")

    @Option(help: "Workloads to run (\(Workload.all.map(\.name).joined(separator: ", "))).")
    var workload: [String] = Workload.all.map(\.name)

    @Option(help: "Threads (each product split into this many one-thread OpenBLAS calls).")
    var threads: Int = 1

    @Option(help: "Repetitions of each timed run; the best is reported.")
    var repeats: Int = 3

    @Flag(help: "One JSON object per workload on stdout instead of a table.")
    var json = false

    @Option(help: "Instead of training, time saving and loading model files in this folder (JSON lines).")
    var codecs: String?

    @Option(help: "Instead of training, time loading this Keras file and saving it again in its format (JSON lines).")
    var keras: String?

    @Flag(help: "Instead of training, time `mlpconv predict`'s path (Network.predict) on batches of --batch rows.")
    var inference = false

    @Option(parsing: .upToNextOption, help: "With --inference: the batch sizes (rows per predict call).")
    var batch: [Int] = [1, 32, 128]

    @Option(help: "With --inference: the layer widths of a Dense network built in-process (ReLU hidden layers, softmax output).")
    var model = "784-512-256-10"

    @Option(help: "With --inference: the seed of that network's weights.")
    var seed: UInt64 = 42

    @Option(name: .customLong("save-model"), help: "With --inference: write the network of --model and --seed to this file (mlpconv JSON, base64 tensors) and exit.")
    var saveModel: String?

    @Option(name: .customLong("model-file"), help: "With --inference: time this model file's network instead of building one.")
    var modelFile: String?

    @Option(help: "With --inference: read the rows from this data file (.npy, .npz, CSV, HDF5) instead of drawing them.")
    var input: String?

    @Option(help: "With --inference: expected outputs for the same rows (a data file); each batch is checked against it before it is timed.")
    var reference: String?

    @Option(help: "With --reference: the largest absolute difference allowed.")
    var tolerance: Float = 1e-5

    @Option(name: .customLong("min-time"), help: "With --inference: seconds each repeat keeps calling predict (every call is timed).")
    var minTime: Double = 0.5

    @Option(name: .customLong("peak-rss-load"), help: "Load this model file once and print the peak resident memory.")
    var peakRSSLoad: String?

    @Option(name: .customLong("convert-to"), help: "With --peak-rss-load: also save the loaded model here (HDF5).")
    var convertTo: String?

    func validate() throws {
        let known = Set(Workload.all.map(\.name))
        if let unknown = workload.first(where: { !known.contains($0) }) {
            throw ValidationError("unknown workload \(unknown); choose from \(known.sorted().joined(separator: ", "))")
        }
        guard threads > 0, repeats > 0 else { throw ValidationError("threads and repeats must be positive") }
        guard !batch.isEmpty, batch.allSatisfy({ $0 > 0 }) else { throw ValidationError("batch sizes must be positive") }
        guard minTime > 0, minTime.isFinite else { throw ValidationError("--min-time must be a positive number of seconds") }
        guard tolerance >= 0 else { throw ValidationError("--tolerance must not be negative") }
        guard modelWidths.count >= 2 else {
            throw ValidationError("--model must be layer widths like 784-512-256-10, got \(model)")
        }
    }

    func run() throws {
        if let codecs { return try CodecBenchmark.run(directory: codecs, repeats: repeats) }
        if let keras { return try CodecBenchmark.keras(keras, repeats: repeats) }
        if let peakRSSLoad { return try CodecBenchmark.peakMemory(loading: peakRSSLoad, savingTo: convertTo) }
        BLAS.threads = threads
        // A benchmark reports the kernels it got; mlpconv itself would switch (BLASKernelChoice).
        if let mismatch = BLAS.kernelMismatch() {
            FileHandle.standardError.write(Data("mlpbench: warning: \(mismatch); set OPENBLAS_CORETYPE=\(mismatch.better)\n".utf8))
        }
        if inference { return try runInference() }
        if !json {
            print("OpenBLAS core \(BLAS.coreName), \(BLAS.threads) thread(s); OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
            print("workload   layers                  batch   samples/s")
        }
        for spec in Workload.all where workload.contains(spec.name) {
            let rate = try spec.measure(repeats: repeats)
            if json {
                print(#"{"implementation": "mlpconv", "workload": "\#(spec.name)", "threads": \#(threads), "samples_per_second": \#(rate)}"#)
            } else {
                let layers = ([spec.inputWidth] + spec.layers.compactMap { $0.kind.dense?.units }).map(String.init).joined(separator: "-")
                print(spec.name.padding(toLength: 11, withPad: " ", startingAt: 0)
                      + layers.padding(toLength: 24, withPad: " ", startingAt: 0)
                      + String(spec.batchSize).padding(toLength: 8, withPad: " ", startingAt: 0)
                      + String(format: "%.0f", rate))
            }
        }
    }
}

extension MLPBench {
    /// `--model`'s widths; empty when it is not a dash-separated list of positive integers.
    var modelWidths: [Int] {
        let widths = model.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard widths.allSatisfy({ ($0 ?? 0) > 0 }) else { return [] }
        return widths.compactMap(\.self)
    }

    func runInference() throws {
        if let saveModel {
            return try InferenceBenchmark.save(InferenceBenchmark.network(widths: modelWidths, seed: seed), to: saveModel)
        }
        let network = try modelFile.map(InferenceBenchmark.load) ?? InferenceBenchmark.network(widths: modelWidths, seed: seed)
        let largest = batch.max()!
        let features = try input.map {
            try InferenceBenchmark.rows(from: $0, width: network.inputWidth, outputWidth: network.outputWidth, atLeast: largest)
        } ?? InferenceBenchmark.syntheticRows(largest, width: network.inputWidth, seed: seed + 1)
        let expected = try reference.map {
            try InferenceBenchmark.rows(from: $0, width: network.outputWidth, outputWidth: 1, atLeast: largest)
        }
        let benchmark = InferenceBenchmark(network: network, features: features, reference: expected, tolerance: tolerance,
                                           repeats: repeats, minimumSeconds: minTime)
        // Every batch size is checked before any is timed.
        let differences = try batch.map(benchmark.check)
        let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)"
        if json {
            print(#"{"implementation": "mlpconv", "info": true, "openblas_core": "\#(BLAS.coreName)", "threads": \#(BLAS.threads), "openblas_coretype": "\#(coretype)"}"#)
        } else {
            print("OpenBLAS core \(BLAS.coreName), \(BLAS.threads) thread(s); OPENBLAS_CORETYPE=\(coretype)")
            print("batch   median µs   p10 µs   p90 µs   calls")
        }
        for (rows, difference) in zip(batch, differences) {
            let result = try benchmark.measure(batch: rows, difference: difference)
            if json {
                print(result.json(threads: threads))
            } else {
                print(String(rows).padding(toLength: 8, withPad: " ", startingAt: 0)
                      + String(format: "%9.1f   %6.1f   %6.1f   %d", result.median, result.p10, result.p90, result.calls))
            }
        }
    }
}

/// One benchmark: a network, a batch size and how many optimizer steps one timed run takes.
struct Workload {
    let name: String
    let inputWidth: Int
    let layers: [LayerSpec]
    let loss: Loss
    let batchSize: Int
    let steps: Int

    // The same definitions live in Benchmarks/peers.py; keep them in step.
    static let all = [
        Workload(name: "mnist-mlp", inputWidth: 784, layers: [LayerSpec(512, .relu), LayerSpec(256, .relu), LayerSpec(10, .softmax)],
                 loss: .categoricalCrossentropy, batchSize: 128, steps: 60),
        Workload(name: "tiny-b1", inputWidth: 4, layers: [LayerSpec(8, .relu), LayerSpec(3, .softmax)],
                 loss: .categoricalCrossentropy, batchSize: 1, steps: 20_000),
        Workload(name: "tiny-b32", inputWidth: 4, layers: [LayerSpec(8, .relu), LayerSpec(3, .softmax)],
                 loss: .categoricalCrossentropy, batchSize: 32, steps: 5_000),
        Workload(name: "wide", inputWidth: 1024, layers: [LayerSpec(4096, .relu), LayerSpec(4096, .relu), LayerSpec(1024, .linear)],
                 loss: .meanSquaredError, batchSize: 256, steps: 4),
    ]

    /// Best samples/s over `repeats` timed epochs of `steps` Adam steps each, after one untimed warm-up epoch.
    func measure(repeats: Int) throws -> Double {
        let data = try syntheticData()
        var model = try Model<Float>(inputWidth: inputWidth, layers: layers, loss: loss,
                                     optimizer: OptimizerConfig(.adam), seed: 42)
        let options = FitOptions(epochs: 1, batchSize: batchSize, shuffle: true)
        try model.fit(data, options: options)
        var best = 0.0
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            try model.fit(data, options: options)
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            best = max(best, Double(data.count) / seconds)
        }
        return best
    }

    /// Uniform features in [−1, 1); one-hot classes or uniform regression targets, from a fixed seed.
    func syntheticData() throws -> Dataset<Float> {
        var random = RandomGenerator(seed: 2024)
        let rows = batchSize * steps
        let outputs = layers.compactMap { $0.kind.dense?.units }.last ?? 1
        let features = (0..<rows * inputWidth).map { _ in Float(2 * random.nextUnitDouble() - 1) }
        var targets = [Float](repeating: 0, count: rows * outputs)
        for row in 0..<rows {
            if loss.kind == .categoricalCrossentropy {
                targets[row * outputs + random.nextInt(below: outputs)] = 1
            } else {
                for j in 0..<outputs { targets[row * outputs + j] = Float(2 * random.nextUnitDouble() - 1) }
            }
        }
        return try Dataset(features: features, featureWidth: inputWidth, targets: targets, targetWidth: outputs)
    }
}
