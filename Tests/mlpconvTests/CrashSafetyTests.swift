import Foundation
import MLPCore
import Testing

#if canImport(Glibc)
import Glibc
#endif
import MLPDocument
@testable import MLPModelFiles
import TestSupport

struct CrashSafetyTests {
    /// docs/robustness.md, atomic writes: killing a writer that writes in place loses the old file. `mlpconv convert
    /// --force` onto an existing model is SIGKILLed at points spread over its whole run; the old model must always
    /// load unchanged (or, when the kill came after the rename, the new one must load complete).
    @Test(arguments: [ModelFormat.h5, .json])
    func killingAWriterNeverDamagesTheExistingModel(format: ModelFormat) throws {
        let scratch = try Scratch()
        // Big enough (≈ 12 MB of float32 weights) that writing takes a while.
        let network = try Network<Float>(
            inputWidth: 1000, layers: [LayerSpec(1000, .relu), LayerSpec(1000, .relu), LayerSpec(1000, .linear)],
            random: &RandomGeneratorBox.random)
        let big = ModelDocument(network: network, metadata: ["which": "new"])
        let source = scratch.path("source.h5")
        try ModelFiles.save(big, to: source, format: .h5)

        let small = try Network<Float>(inputWidth: 3, layers: [LayerSpec(2, .linear)], random: &RandomGeneratorBox.random)
        let old = ModelDocument(network: small, metadata: ["which": "old"])
        let target = scratch.path("target." + format.rawValue)

        // How long an uninterrupted conversion takes, to spread the kills over it.
        try ModelFiles.save(old, to: target, format: format)
        let start = ContinuousClock.now
        #expect(try mlpconv(["convert", source, target, "--force", "--to", format.rawValue]).status == 0)
        let duration = ContinuousClock.now - start
        print("an uninterrupted \(format) conversion took \(duration)")
        #expect(try ModelFiles.load(target).metadata["which"] == "new")

        var killedBeforeRename = 0
        for attempt in 0..<10 {
            try ModelFiles.save(old, to: target, format: format)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: mlpconvPath)
            process.arguments = ["convert", source, target, "--force", "--to", format.rawValue]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let delay = duration * (Double(attempt) + 0.5) / 10
            Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) * 1e-18)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            let loaded = try ModelFiles.load(target)
            if loaded.metadata["which"] == "old" {
                killedBeforeRename += 1
                #expect(loaded == old, "attempt \(attempt): the old model changed")
            } else {
                #expect(loaded.metadata["which"] == "new")
                #expect(loaded.weights == big.weights, "attempt \(attempt): a half-written new model")
            }
        }
        // The kills must actually have interrupted writers, or the test proved nothing.
        #expect(killedBeforeRename >= 5)
    }
}

/// One generator for the suite's random weights (their values do not matter here).
enum RandomGeneratorBox {
    nonisolated(unsafe) static var random = RandomGenerator(seed: 1)
}
