import Testing
@testable import MLPCore

/// Products large enough to be split across threads (GEMM.splitWorkLimit) and tensors large enough for the parallel
/// optimizer update: resuming stays exact on two threads, and two threads compute what one does.
struct ThreadedTrainingTests {
    private func model() throws -> (Model<Float>, Dataset<Float>) {
        var random = RandomGenerator(seed: 5)
        let network = try Network<Float>(
            inputWidth: 300, layers: [LayerSpec(256, .relu), LayerSpec(128, .relu), LayerSpec(10, .softmax)], random: &random)
        let model = try Model(network: network, training: TrainingState(
            loss: .categoricalCrossentropy, optimizer: try Optimizer(config: OptimizerConfig(.adam), network: network),
            random: RandomGenerator(seed: 1).state))
        let rows = 512
        let features = (0..<(rows * 300)).map { _ in Float(random.nextUnitDouble() * 2 - 1) }
        var targets = [Float](repeating: 0, count: rows * 10)
        for r in 0..<rows { targets[r * 10 + (r * 7) % 10] = 1 }
        return (model, try Dataset(features: features, featureWidth: 300, targets: targets, targetWidth: 10))
    }

    private func weights(_ model: Model<Float>) -> [Float] { model.network.layers.flatMap { $0.weights.flatMap { $0 } } }

    @Test func twoThreadsResumeExactlyAndAgreeWithOne() throws {
        let savedThreads = BLAS.threads
        defer { BLAS.threads = savedThreads }
        #expect(128 * 300 * 256 >= GEMM.splitWorkLimit && 300 * 256 >= ElementKernels.parallelThreshold)
        BLAS.threads = 2
        var (once, data) = try model()
        try once.fit(data, options: FitOptions(epochs: 2, batchSize: 128))
        var (twice, _) = try model()
        try twice.fit(data, options: FitOptions(epochs: 1, batchSize: 128))
        try twice.fit(data, options: FitOptions(epochs: 1, batchSize: 128))
        #expect(weights(once).map(\.bitPattern) == weights(twice).map(\.bitPattern))
        #expect(once.training.optimizer.state == twice.training.optimizer.state)

        BLAS.threads = 1
        var (single, _) = try model()
        try single.fit(data, options: FitOptions(epochs: 2, batchSize: 128))
        // A product split by rows may round differently from the whole one, in principle; not by more than this.
        let largest = zip(weights(single), weights(once)).map { abs($0 - $1) }.max() ?? 0
        #expect(largest <= 1e-5)
    }
}
