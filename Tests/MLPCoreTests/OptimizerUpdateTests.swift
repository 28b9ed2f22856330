import Foundation
import Testing
@testable import MLPCore

/// Keras's optimizer update rules in isolation, bit for bit. fixtures/reference/optimizer_updates.json (written by
/// fixtures/generate/generate_reference.py) holds, for every configuration of optimizers.json, three steps of
/// made-up float32 gradients and the float32 weights that Keras's own eager `optimizer.apply` made of them, plus its
/// slots after the last step. With no forward/backward pass in between, nothing blurs the last bits, so the Swift
/// rules must reproduce Keras's operation order exactly: same operations, same order, same rounded constants.
///
/// That includes clipnorm and global_clipnorm. Their ‖g‖ is a sum of squares, which XLA adds up in an order of its
/// own for a 2-D tensor (not the sequential order used here), so in general it can differ by an ulp, and Adam's slots
/// turn that ulp into several (4 in adam_clipnorm with ordinary gradients). The generator therefore puts these
/// cases' gradients on a grid k·2⁻ᵉ with Σk² < 2²⁴, where every partial sum is exact and any order gives the same
/// norm; no tolerance is needed anywhere.

struct OptimizerUpdateCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let optimizer: [String: FixtureValue]
    /// Parameter shapes in `Network.parameters` order: kernel [inputs, units], then that layer's bias [units].
    let shapes: [[Int]]
    /// Flat float32 values per parameter (JSON numbers that are exact float32 values).
    let initial: [[Float]]
    /// Per step, the (unclipped) gradient of each parameter.
    let gradients: [[[Float]]]
    /// Per step, every parameter after Keras applied that step.
    let after: [[[Float]]]
    let finalIterations: Int
    let finalSlots: [String: [[Float]]]
    var testDescription: String { name }
}

let optimizerUpdateCases = decodeFixture("reference/optimizer_updates.json", as: OptimizerUpdateCase.self)

/// Distance in units in the last place: the number of floats from `a` to `b` (+0 and −0 count as equal).
func ulpDistance(_ a: Float, _ b: Float) -> UInt32 {
    func ordered(_ x: Float) -> Int64 {
        let magnitude = Int64(x.bitPattern & 0x7FFF_FFFF)
        return x.sign == .minus ? -magnitude : magnitude
    }
    return UInt32(clamping: abs(ordered(a) - ordered(b)))
}

/// `actual == expected` bit for bit (which also tells −0 from +0); a failure says by how many ulps they differ.
func expectBitIdentical(
    _ actual: [Float], _ expected: [Float], _ what: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "\(what()): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let bad = actual.indices.filter { actual[$0].bitPattern != expected[$0].bitPattern }
    guard let first = bad.first else { return }
    let worst = bad.map { ulpDistance(actual[$0], expected[$0]) }.max() ?? 0
    let (a, e) = (actual[first], expected[first])
    Issue.record(
        """
        \(what()): \(bad.count) of \(actual.count) values differ (by up to \(worst) ulps); first at \(first): \
        \(a) (0x\(String(a.bitPattern, radix: 16))) vs Keras's \(e) (0x\(String(e.bitPattern, radix: 16)))
        """, sourceLocation: sourceLocation)
}

/// Linear Dense layers with the fixture's parameter shapes and values; a kernel [inputs, units] takes the next
/// parameter as its bias when that one is shaped [units].
func linearNetwork(shapes: [[Int]], values: [[Float]]) throws -> Network<Float> {
    try #require(shapes.count == values.count && !shapes.isEmpty)
    var layers: [Layer<Float>] = []
    var index = 0
    while index < shapes.count {
        let kernel = shapes[index]
        try #require(kernel.count == 2, "parameter \(index) should be a kernel, has shape \(kernel)")
        let hasBias = index + 1 < shapes.count && shapes[index + 1] == [kernel[1]]
        layers.append(try Layer.dense(
            name: "dense\(layers.count)", inputWidth: kernel[0], units: kernel[1], activation: .linear, useBias: hasBias,
            kernel: values[index], bias: hasBias ? values[index + 1] : nil))
        index += hasBias ? 2 : 1
    }
    let network = try Network(inputWidth: shapes[0][0], layers: layers)
    try #require(network.parameters.map { network.shape(of: $0) } == shapes)
    return network
}

struct OptimizerUpdateTests {
    @Test func everyOptimizerConfigurationHasAnUpdateCase() {
        #expect(optimizerUpdateCases.count >= 15)
        // Every configuration of optimizers.json, plus a few that only a bit-exact comparison can tell apart.
        #expect(Array(optimizerUpdateCases.map(\.name).prefix(optimizerCases.count)) == optimizerCases.map(\.name))
        // Together with optimizer_updates_more.json (OptimizerKindsTests), every Keras optimizer has update cases
        // (torch's have theirs in TorchOptimizerTests).
        let optimizers = (optimizerUpdateCases.map(\.optimizer) + moreOptimizerUpdateCases.map(\.optimizer))
            .compactMap { $0["name"]?.string }
        #expect(Set(optimizers) == Set(OptimizerKind.allCases.filter { !$0.isTorch }.map(\.rawValue)))
    }

    @Test("weights after each step and the final slots are Keras's, bit for bit", arguments: optimizerUpdateCases)
    func updatesMatchKerasBitForBit(testCase: OptimizerUpdateCase) throws {
        let name = testCase.name
        let config = try optimizerConfig(testCase.optimizer)
        var network = try linearNetwork(shapes: testCase.shapes, values: testCase.initial)
        var optimizer = try Optimizer(config: config, network: network)
        let parameters = network.parameters
        try #require(testCase.gradients.count == testCase.after.count)

        for (step, (gradients, expected)) in zip(testCase.gradients, testCase.after).enumerated() {
            try #require(gradients.count == parameters.count && expected.count == parameters.count)
            // apply clips the gradients in place: give it copies.
            let buffers = gradients.map { values in
                let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
                _ = buffer.initialize(from: values)
                return buffer
            }
            defer { buffers.forEach { $0.deallocate() } }
            optimizer.apply(gradients: buffers, of: parameters, to: &network)
            for (p, parameter) in parameters.enumerated() {
                expectBitIdentical(network[parameter], expected[p], "\(name) step \(step + 1) \(network.name(of: parameter))")
            }
        }
        #expect(optimizer.state.iterations == testCase.finalIterations)
        #expect(Set(testCase.finalSlots.keys) == Set(config.slotNames), "\(name): slot names")
        for slot in optimizer.state.slots {
            let expected = try #require(testCase.finalSlots[slot.name], "\(name): Keras has no slot \(slot.name)")
            try #require(expected.count == slot.values.count)
            for (p, values) in slot.values.enumerated() {
                expectBitIdentical(values, expected[p], "\(name) slot \(slot.name)[\(p)]")
            }
        }
    }

    /// The same Keras cases with the first kernel (whose input width nothing else depends on) repeated down its rows until it is large enough to be updated in
    /// parallel chunks (ElementKernels.parallelThreshold) on two threads, with a length that is no multiple of the
    /// vector width: every copy must still end bit for bit where Keras's one did. Clipping by norm is left out,
    /// since repeating a tensor changes its norm.
    @Test("large tensors: updated in parallel vector chunks, each element as Keras updates it",
          arguments: optimizerUpdateCases.filter { testCase in
              ["clipnorm", "global_clipnorm"].allSatisfy { if case .number = testCase.optimizer[$0] { false } else { true } }
          })
    func largeTensorsUpdateLikeKeras(testCase: OptimizerUpdateCase) throws {
        let config = try optimizerConfig(testCase.optimizer)
        let kernels = [0]
        // Enough copies for 4 chunks, and an odd count so the last chunk ends in a partial vector.
        func copies(of p: Int) -> Int { (4 * ElementKernels.parallelThreshold / testCase.initial[p].count) | 1 }
        let tile = { (p: Int, values: [Float]) -> [Float] in
            kernels.contains(p) ? Array([[Float]](repeating: values, count: copies(of: p)).joined()) : values
        }
        let shapes = testCase.shapes.indices.map { p in
            kernels.contains(p) ? [testCase.shapes[p][0] * copies(of: p), testCase.shapes[p][1]] : testCase.shapes[p]
        }
        let savedThreads = BLAS.threads
        BLAS.threads = 2
        defer { BLAS.threads = savedThreads }
        var network = try linearNetwork(shapes: shapes, values: testCase.initial.indices.map { tile($0, testCase.initial[$0]) })
        var optimizer = try Optimizer(config: config, network: network)
        for (step, (gradients, expected)) in zip(testCase.gradients, testCase.after).enumerated() {
            let buffers = gradients.indices.map { p in
                let values = tile(p, gradients[p])
                let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
                _ = buffer.initialize(from: values)
                return buffer
            }
            defer { buffers.forEach { $0.deallocate() } }
            optimizer.apply(gradients: buffers, of: network.parameters, to: &network)
            for (p, parameter) in network.parameters.enumerated() {
                expectBitIdentical(network[parameter], tile(p, expected[p]),
                                   "\(testCase.name) step \(step + 1) \(network.name(of: parameter)), \(shapes[p])")
            }
        }
    }
}
