import Foundation
import MLPDocument
import MLPModelFiles
import MLPCore

/// Save and load times of the model codecs on fixed models; Benchmarks/codec_peers.py runs the same files
/// through orjson and h5py in the same run.
enum CodecBenchmark {
    /// The codecs' own time, without the isolated reader's helper process: the files are the benchmark's own or
    /// the peers' fixtures, trusted.
    private static let trusted = LoadOptions(isolation: .inProcess)

    /// One JSON line per measurement, best of `repeats`.
    static func run(directory: String, repeats: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // 784-512-256-10 with Adam state: 535k parameters, 1.6M floats with the two slots.
        let mnist = try document(inputWidth: 784, widths: [512, 256, 10], seed: 1)
        for encoding in [JSONTensorEncoding.array, .base64] {
            let path = directory + "/mnist-\(encoding.rawValue).json"
            report("json-\(encoding.rawValue)-save", floats: 1_607_454, seconds: try best(repeats) {
                try ModelFiles.save(mnist, to: path, format: .json, options: SaveOptions(jsonTensors: encoding))
            })
            report("json-\(encoding.rawValue)-load", floats: 1_607_454, seconds: try best(repeats) {
                _ = try ModelFiles.load(path, options: trusted)
            })
        }
        // Six 4096×4096 layers: 100.7M float32 parameters, 403 MB, weights only.
        let big = try document(inputWidth: 4096, widths: Array(repeating: 4096, count: 6), seed: 2, training: false)
        let path = directory + "/big.h5"
        report("h5-save", floats: big.parameterCount, seconds: try best(repeats) {
            try ModelFiles.save(big, to: path, format: .h5)
        })
        report("h5-load", floats: big.parameterCount, seconds: try best(repeats) { _ = try ModelFiles.load(path, options: trusted) })
    }

    /// Load time of a Keras file (`.keras` or legacy `.h5`) and save time of the loaded model in the same format,
    /// best of `repeats`; Benchmarks/keras_peers.py times Keras itself on the same files in the same run.
    static func keras(_ path: String, repeats: Int) throws {
        let document = try ModelFiles.load(path, options: trusted)
        let floats = document.variableTensors.reduce(0) { $0 + $1.count }
            + (document.training?.optimizer.slots.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.count } } ?? 0)
        let isZip = path.hasSuffix(".keras")
        let kind = isZip ? "keras" : "keras-h5"
        report("\(kind)-load", floats: floats, seconds: try best(repeats) { _ = try ModelFiles.load(path, options: trusted) })
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("mlpbench-\(UUID().uuidString)"
                                                                                   + (isZip ? ".keras" : ".h5")).path
        defer { try? FileManager.default.removeItem(atPath: output) }
        report("\(kind)-save", floats: floats, seconds: try best(repeats) {
            try ModelFiles.save(document, to: output, format: isZip ? .keras : .kerasH5)
        })
    }

    /// Loads (and optionally re-saves) a file once and reports the process's peak resident memory.
    static func peakMemory(loading path: String, savingTo output: String?) throws {
        let document = try ModelFiles.load(path, options: trusted)
        if let output { try ModelFiles.save(document, to: output, format: .h5) }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let bytes = document.variableTensors.reduce(0) { $0 + $1.byteCount }
        print(#"{"implementation": "mlpconv", "task": "\#(output == nil ? "h5-load" : "h5-convert")-peak-rss", "peak_rss_bytes": \#(usage.ru_maxrss * 1024), "model_bytes": \#(bytes)}"#)
    }

    private static func document(inputWidth: Int, widths: [Int], seed: UInt64, training: Bool = true) throws -> ModelDocument {
        let model = try Model<Float>(
            inputWidth: inputWidth, layers: widths.map { LayerSpec($0, .relu) }, loss: .meanSquaredError,
            optimizer: OptimizerConfig(.adam), seed: seed)
        var document = ModelDocument(model: model)
        guard training else {
            document.training = nil
            return document
        }
        // Slots with realistic, non-zero values rather than the initial zeros.
        var random = RandomGenerator(seed: seed)
        if var record = document.training {
            record.optimizer.slots = try record.optimizer.slots.map { slot in
                .init(name: slot.name, tensors: try slot.tensors.map { tensor in
                    try Tensor(shape: tensor.shape, float32: (0..<tensor.count).map { _ in Float(random.nextStandardNormal() * 1e-3) })
                })
            }
            document.training = record
        }
        return document
    }

    private static func best(_ repeats: Int, _ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            try body()
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        return best
    }

    private static func report(_ task: String, floats: Int, seconds: Double) {
        print(#"{"implementation": "mlpconv", "task": "\#(task)", "seconds": \#(seconds), "floats": \#(floats)}"#)
    }
}
