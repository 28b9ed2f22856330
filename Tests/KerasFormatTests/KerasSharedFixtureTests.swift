import TestSupport
import Foundation
import MLPCore
import Testing
import MLPDocument
@testable import MLPModelFiles

/// The shared interop fixtures (`fixtures/keras/`, written by `fixtures/generate/generate_keras.py`).
private let sharedKerasFixtures = kerasFixtureFolder("keras")

private func sharedModels() -> [[String: Any]] {
    guard let data = try? Data(contentsOf: sharedKerasFixtures.appendingPathComponent("expected.json")),
          let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let models = root["models"] as? [[String: Any]] else { return [] }
    return models
}

@Suite("Keras reader on the shared fixtures")
struct KerasSharedFixtureTests {
    @Test("every model loads from .h5 and .keras with Keras's weights, state and predictions",
          arguments: sharedModels().compactMap { $0["name"] as? String })
    func model(_ name: String) throws {
        let entry = try #require(sharedModels().first { $0["name"] as? String == name })
        let inputs = try #require(entry["inputs"] as? [Double]).map(Float.init)
        let outputs = try #require(entry["outputs"] as? [Double]).map(Float.init)
        let weights = try #require(entry["weights"] as? [[String: Any]])
        let saved = (entry["optimizer_variables_saved"] as? [[String: Any]]) ?? []
        var savedByPath: [String: [Double]] = [:]
        for variable in saved {
            savedByPath[try #require(variable["path"] as? String)] = try #require(variable["values"] as? [Double])
        }
        var documents: [ModelDocument] = []
        for key in ["h5", "keras"] {
            let file = try #require(entry[key] as? String)
            let document = try ModelFiles.load(sharedKerasFixtures.appendingPathComponent(file).path)
            documents.append(document)
            #expect(document.architecture.inputWidth == entry["input_width"] as? Int, "\(file)")
            // Dropout layers are kept as layers (without weights); the fixture lists the Dense ones.
            let denseIndices = document.architecture.layers.indices.filter { document.architecture.layers[$0].kind.dense != nil }
            #expect(denseIndices.map { document.architecture.layers[$0].name } == weights.compactMap { $0["layer"] as? String }, "\(file)")
            for (layerWeights, expected) in zip(denseIndices.map { document.weights[$0] }, weights) {
                let kernel = try #require(expected["kernel"] as? [Double]).map { Float($0).bitPattern }
                #expect(floats(layerWeights.kernel).map { Float($0).bitPattern } == kernel, "\(file) kernel")
                let bias = (expected["bias"] as? [Double])?.map { Float($0).bitPattern }
                #expect(layerWeights.bias.map { floats($0).map { Float($0).bitPattern } } == bias, "\(file) bias")
            }
            let network: Network<Float> = try document.network()
            let predicted = try network.predict(inputs)
            #expect(predicted.count == outputs.count)
            for (got, keras) in zip(predicted, outputs) { #expect(abs(got - keras) <= 1e-6, "\(file): \(got) vs \(keras)") }

            guard entry["compiled"] as? Bool == true else {
                #expect(document.training == nil, "\(file)")
                continue
            }
            let training = try #require(document.training, "\(file): no training state")
            #expect(training.loss.name == entry["loss"] as? String || Loss(name: entry["loss"] as? String ?? "") == training.loss)
            #expect(training.optimizer.iterations == entry["iterations"] as? Int, "\(file)")
            let prefix = try #require(saved.first.flatMap { ($0["path"] as? String)?.split(separator: "/").first })
            for slot in training.optimizer.slots {
                for (tensor, parameter) in zip(slot.tensors, document.parameterNames) {
                    let path = "\(prefix)/\(name)_" + parameter.replacingOccurrences(of: "/", with: "_") + "_\(slot.name)"
                    let expected = try #require(savedByPath[path], "\(file): no saved \(path)")
                    #expect(floats(tensor).map { Float($0).bitPattern } == expected.map { Float($0).bitPattern }, "\(file) \(path)")
                }
            }
        }
        if documents.count == 2 {
            #expect(documents[0].training == documents[1].training, "\(name): .h5 and .keras training state differ")
        }
    }

    @Test("malformed files are refused with clear messages")
    func bad() throws {
        let folder = sharedKerasFixtures.appendingPathComponent("bad")
        guard FileManager.default.fileExists(atPath: folder.path) else { return }
        func message(_ name: String) -> String { kerasLoadError(folder.appendingPathComponent(name).path) }
        let lambda = message("lambda_layer.keras")
        #expect(lambda.contains("Lambda") && lambda.contains("lambda_layer"), "\(lambda)")
        let conv = message("conv2d_layer.keras")
        #expect(conv.contains("Conv2D") && conv.contains("\"conv\""), "\(conv)")
        let shape = message("kernel_shape_mismatch.h5")
        #expect(shape.contains("[4, 9]") && shape.contains("[4, 8]") && shape.contains("hidden"), "\(shape)")
        for bomb in ["zip_bomb.keras", "zip_bomb_declared.keras"] {
            let text = message(bomb)
            #expect(text.contains("model.weights.h5") && text.contains("limit"), "\(text)")
        }
        // A `../evil` member: refused, and never written anywhere.
        let slip = message("zip_slip.keras")
        #expect(slip.contains("zip member \"../evil\"") && slip.contains("zip slip"), "\(slip)")
        #expect(!FileManager.default.fileExists(atPath: sharedKerasFixtures.appendingPathComponent("evil").path))
        #expect(!FileManager.default.fileExists(atPath: sharedKerasFixtures.deletingLastPathComponent().appendingPathComponent("evil").path))
    }
}
