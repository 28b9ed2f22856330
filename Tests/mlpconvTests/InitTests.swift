import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import mlpconv
@testable import MLPModelFiles
import TestSupport

struct InitTests {
    @Test func createsAReadyToTrainModel() throws {
        let scratch = try Scratch()
        let path = scratch.path("new.json")
        let result = try mlpconv(["init", path, "--inputs", "4", "--layer", "8:relu", "--layer", "3:sigmoid",
                                  "--initializer", "he_normal", "--seed", "5", "--no-bias", "--learning-rate", "0.01", "--optimizer", "sgd"])
        #expect(result.status == 0)
        #expect(result.stdout == "wrote \(path): 4 → 8 (relu) → 3 (sigmoid), 56 parameters; loss binary_crossentropy, optimizer sgd (learning_rate 0.01), seed 5\n")
        let document = try ModelFiles.load(path)
        #expect(document.architecture.layers.map(\.useBias) == [false, false])
        #expect(document.architecture.layers.map(\.kernelInitializer) == [.heNormal, .heNormal])
        #expect(document.training?.loss == .binaryCrossentropy)
        #expect(document.metadata["created_by"] == "mlpconv \(MLPConvVersion.string)")
        // The same seed gives the same weights; another seed does not.
        let again = scratch.path("again.h5"), other = scratch.path("other.h5")
        #expect(try mlpconv(["init", again, "--inputs", "4", "--layer", "8:relu", "--layer", "3:sigmoid", "--initializer", "he_normal", "--seed", "5", "--no-bias"]).status == 0)
        #expect(try mlpconv(["init", other, "--inputs", "4", "--layer", "8:relu", "--layer", "3:sigmoid", "--initializer", "he_normal", "--seed", "6", "--no-bias"]).status == 0)
        #expect(try ModelFiles.load(again).weights == document.weights)
        #expect(try ModelFiles.load(other).weights != document.weights)
    }

    @Test func badArguments() throws {
        let scratch = try Scratch()
        let unknown = try mlpconv(["init", scratch.path("m.h5"), "--inputs", "4", "--layer", "8:relux"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.hasPrefix("mlpconv: The value '8:relux' is invalid for '--layer <layer>'"))
        let noLayers = try mlpconv(["init", scratch.path("m.h5"), "--inputs", "4"])
        #expect(noLayers.status == 2)
        let exists = scratch.path("m.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: exists))
        let refused = try mlpconv(["init", exists, "--inputs", "4", "--layer", "2:linear"])
        #expect(refused.stderr == "mlpconv: \(exists): already exists; use --force to replace it\n")
        #expect(try String(contentsOfFile: exists, encoding: .utf8) == "{}")
    }
}
