import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing

/// Bit flips and byte substitutions over checkpoints — one torch wrote, one mlpconv wrote with its record — read
/// through the façade: every mutant loads or fails with one error naming the file; none crashes or hangs. (The zip's
/// CRCs catch most flips in member data; the rest reach the pickle reader, the archive's bounds checks and the
/// optimizer-state reader.)
@Suite struct TorchMutationTests {
    @Test(arguments: ["torch/adam_gelu_ce.pt", "mlpconv"])
    func mutantsLoadOrFailNamingTheFile(_ source: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("torch-mutants-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let original: [UInt8]
        if source == "mlpconv" {
            var config = OptimizerConfig(.torchRMSprop, learningRate: 0.01)
            (config.momentum, config.centered) = (0.9, true)
            var model = try Model<Float>(inputWidth: 3, layers: [LayerSpec(4, .relu), LayerSpec(2, .softmax)],
                                         loss: .categoricalCrossentropy, optimizer: config, seed: 2)
            try model.fit(try Dataset(features: (0..<12).map { Float($0) / 12 }, featureWidth: 3,
                                      targets: [1, 0, 0, 1, 1, 0, 0, 1], targetWidth: 2),
                          options: FitOptions(epochs: 1, batchSize: 2, shuffle: false))
            let path = folder.appendingPathComponent("written.pt").path
            try ModelFiles.save(ModelDocument(model: model), to: path, format: .pt)
            original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } else {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("fixtures").appendingPathComponent(source)
            original = [UInt8](try Data(contentsOf: url))
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var loaded = 0, refused = 0
        let options = LoadOptions(activations: [.gelu, .gelu, .linear], loss: .meanSquaredError)
        for index in 0..<300 {
            var bytes = original
            let position = next() % bytes.count
            if index % 2 == 0 { bytes[position] ^= UInt8(1 << (next() % 8)) } else { bytes[position] = UInt8(next() % 256) }
            let path = folder.appendingPathComponent("mutant-\(index).pt").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                _ = try ModelFiles.load(path, options: options)
                loaded += 1
            } catch {
                refused += 1
                #expect(error.file == path && !error.reason.isEmpty, "mutant \(index): \(error)")
                #expect(!error.description.contains("\n"), "mutant \(index): \(error)")
            }
        }
        #expect(loaded + refused == 300)
        #expect(refused > 0)
    }
}
