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

    @Test func createsModelsWithEveryLayerKind() throws {
        let scratch = try Scratch()
        let path = scratch.path("layered.h5")
        let result = try mlpconv(["init", path, "--inputs", "4", "--layer", "8:linear", "--layer", "batch_normalization",
                                  "--layer", "activation:relu", "--layer", "dropout:0.3", "--layer", "layer_normalization",
                                  "--layer", "3:linear", "--layer", "activation:softmax"])
        #expect(result.status == 0, "\(result.stderr)")
        let document = try ModelFiles.load(path)
        #expect(document.architecture.layers.map(\.kind.typeName)
                == ["dense", "batch_normalization", "activation", "dropout", "layer_normalization", "dense", "activation"])
        #expect(document.architecture.layers.map(\.name)
                == ["dense", "batch_normalization", "activation", "dropout", "layer_normalization", "dense_1", "activation_1"])
        // The loss follows the activation the outputs leave through, here a standalone softmax.
        #expect(document.training?.loss == .categoricalCrossentropy)
        #expect(document.weights[1]["moving_variance"]?.values(as: Float.self) == [Float](repeating: 1, count: 8))
        #expect(document.parameterCount == 40 + 16 + 16 + 27 && document.weightCount == document.parameterCount + 16)
        for bad in ["dropout:1", "dropout:x", "activation:nope", "batch_normalization:3", "0:relu"] {
            #expect(try mlpconv(["init", scratch.path("bad.h5"), "--inputs", "4", "--layer", bad, "--layer", "2:linear"]).status != 0, "\(bad)")
        }
        #expect(try mlpconv(["init", scratch.path("bad.h5"), "--inputs", "4", "--layer", "dropout:0.1"]).status != 0)
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
